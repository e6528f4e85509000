//! The store's behaviour, run against SQLite (a temporary file) and against PostgreSQL (a fresh
//! database on the server named by RETAIN_TEST_POSTGRES, which `.ci/run` starts; without it the
//! PostgreSQL run is skipped locally and fails under CI).

use retain_store::{
    AnalysisCustomer, CustomerQuery, CustomerSort, NewAnalysis, NewDrift, NewRun, RunFacts,
    RunOutcome, Scope, Store, StoreError, StoredCustomer, StoredPrediction, VersionInfo,
};

fn info(kind: &str) -> VersionInfo {
    VersionInfo {
        kind: kind.into(),
        data_fingerprint: Some("ab12".into()),
        metrics: serde_json::json!({"auc": [0.84, 0.01]}),
        parameters: serde_json::json!({"rounds": 400}),
        feature_schema: serde_json::json!([{"name": "tenure", "kind": "number"}]),
    }
}

async fn registry(store: &Store) {
    let first = store
        .register("churn", b"model one", &info("gbdt/churn"))
        .await
        .unwrap();
    assert_eq!((first.version, first.new), (1, true));
    assert_eq!(first.sha256, retain_store::sha256_hex(b"model one"));
    // The same bytes are the same version: registering is idempotent.
    let again = store
        .register("churn", b"model one", &info("gbdt/churn"))
        .await
        .unwrap();
    assert_eq!((again.version, again.new), (1, false));
    let second = store
        .register("churn", b"model two", &info("gbdt/churn"))
        .await
        .unwrap();
    assert_eq!((second.version, second.new), (2, true));
    // Names are separate series.
    let other = store
        .register("clv", b"model one", &info("btyd/bgnbd"))
        .await
        .unwrap();
    assert_eq!(other.version, 1);

    assert_eq!(store.artifact("churn", 2).await.unwrap(), b"model two");
    let v1 = store.version("churn", 1).await.unwrap();
    assert_eq!(v1.info, info("gbdt/churn"));
    assert!(v1.created_at.ends_with('Z'));
    let versions = store.versions("churn").await.unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2]
    );
    let models = store.models().await.unwrap();
    assert_eq!(models.len(), 2);
    assert_eq!(
        (
            models[0].name.as_str(),
            models[0].latest,
            models[0].versions
        ),
        ("churn", 2, 2)
    );
    assert_eq!(models[1].kind, "btyd/bgnbd");

    let error = store.artifact("churn", 7).await.unwrap_err().to_string();
    assert!(error.contains("no version 7 (versions 1 to 2)"), "{error}");
    let error = store.versions("nope").await.unwrap_err();
    assert!(matches!(error, StoreError::NotFound(_)), "{error}");
    let error = store
        .register("9lives", b"x", &info("gbdt/churn"))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("must start with a letter"),
        "{error}"
    );
}

async fn concurrent_registrations_take_distinct_versions(store: &Store) {
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .register(
                        "raced",
                        format!("artifact {i}").as_bytes(),
                        &info("gbdt/clv"),
                    )
                    .await
                    .unwrap()
                    .version
            })
        })
        .collect();
    let mut versions = Vec::new();
    for task in tasks {
        versions.push(task.await.unwrap());
    }
    versions.sort();
    assert_eq!(versions, (1..=8).collect::<Vec<i64>>());
}

async fn aliases(store: &Store) {
    let error = store
        .resolve("churn", "production")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("no alias production"), "{error}");
    let moved = store.move_alias("churn", "production", 1).await.unwrap();
    assert_eq!((moved.version, moved.previous), (1, None));
    let moved = store.move_alias("churn", "production", 2).await.unwrap();
    assert_eq!((moved.version, moved.previous), (2, Some(1)));
    store.move_alias("churn", "challenger", 1).await.unwrap();
    assert_eq!(store.resolve("churn", "production").await.unwrap(), 2);
    assert_eq!(
        store.version("churn", 2).await.unwrap().aliases,
        ["production"]
    );
    assert_eq!(
        store.version("churn", 1).await.unwrap().aliases,
        ["challenger"]
    );

    // Roll back undoes the latest move; again, the one before, which had nothing before it.
    let back = store.roll_back("churn", "production").await.unwrap();
    assert_eq!((back.version, back.previous), (1, Some(2)));
    assert_eq!(store.resolve("churn", "production").await.unwrap(), 1);
    let error = store
        .roll_back("churn", "production")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("pointed nowhere before"), "{error}");
    // A new move after a roll back can itself be rolled back.
    store.move_alias("churn", "production", 2).await.unwrap();
    assert_eq!(
        store
            .roll_back("churn", "production")
            .await
            .unwrap()
            .version,
        1
    );

    let error = store
        .move_alias("churn", "production", 9)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("no version 9"), "{error}");
    assert_eq!(store.resolve("churn", "production").await.unwrap(), 1);
    let error = store
        .move_alias("churn", "2", 1)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("alias \"2\""), "{error}");
}

fn predictions(n: usize, scale: f64) -> Vec<StoredPrediction> {
    (0..n)
        .map(|i| StoredPrediction {
            customer_id: format!("C{i:06}"),
            score: scale * i as f64 / n as f64,
            label: Some(if i % 2 == 0 { "churn" } else { "stay" }.into()),
            reasons: serde_json::json!([{"feature": "tenure", "value": i, "contribution": -0.5}]),
            details: None,
        })
        .collect()
}

async fn runs(store: &Store) {
    let run = NewRun {
        model: "churn",
        version: 1,
        source: "customers.csv",
        input_sha256: "feed",
        settings: "reasons=3",
    };
    // 2,500 rows: three INSERTs of at most 1,000.
    let written = store
        .write_run(&run, &predictions(2_500, 1.0))
        .await
        .unwrap();
    let RunOutcome::Written(stored) = &written else {
        panic!("{written:?}")
    };
    assert_eq!(stored.customers, 2_500);
    assert_eq!(stored.run_id, run.run_id());
    // Scoring the same input again with the same model finds the run.
    let again = store
        .write_run(&run, &predictions(2_500, 1.0))
        .await
        .unwrap();
    assert_eq!(again, RunOutcome::AlreadyStored(stored.clone()));
    // Another version is another run.
    let newer = NewRun {
        version: 2,
        ..run.clone()
    };
    assert_ne!(newer.run_id(), run.run_id());
    store
        .write_run(&newer, &predictions(10, 2.0))
        .await
        .unwrap();

    let page = store
        .predictions_of_run(&stored.run_id, None, 3)
        .await
        .unwrap();
    assert_eq!(
        page.iter()
            .map(|p| p.customer_id.as_str())
            .collect::<Vec<_>>(),
        ["C000000", "C000001", "C000002"]
    );
    let next = store
        .predictions_of_run(&stored.run_id, Some("C002498"), 10)
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].score, 2_499.0 / 2_500.0);
    assert_eq!(next[0].reasons[0]["value"], 2_499);

    let history = store.predictions_of_customer("C000005").await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].0.version, 2, "newest run first");
    assert_eq!(history[0].1.score, 1.0);
    assert_eq!(history[1].1.label.as_deref(), Some("stay"));
    assert_eq!(store.runs().await.unwrap().len(), 2);

    let mut twice = predictions(3, 1.0);
    twice[2].customer_id = "C000000".into();
    let other = NewRun {
        input_sha256: "other",
        ..run.clone()
    };
    let error = store
        .write_run(&other, &twice)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("C000000 appears twice"), "{error}");
    assert!(store.run(&other.run_id()).await.is_err());
}

async fn an_interrupted_run_is_never_half_visible(store: &Store) {
    let run = NewRun {
        model: "churn",
        version: 1,
        source: "big.csv",
        input_sha256: "big",
        settings: "",
    };
    let rows = predictions(200_000, 1.0);
    let writer = {
        let (store, run_owned, rows) = (store.clone(), run.run_id(), rows.clone());
        tokio::spawn(async move {
            let run = NewRun {
                model: "churn",
                version: 1,
                source: "big.csv",
                input_sha256: "big",
                settings: "",
            };
            assert_eq!(run.run_id(), run_owned);
            store.write_run(&run, &rows).await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    writer.abort();
    let _ = writer.await;
    // Either the whole run (the write beat the abort) or nothing of it.
    let customer = store.predictions_of_customer("C150000").await.unwrap();
    match store.run(&run.run_id()).await {
        Ok(stored) => {
            eprintln!("{:?}: the write finished before the abort", store.backend());
            assert_eq!(stored.customers, 200_000);
            assert!(customer.iter().any(|(r, _)| r.run_id == stored.run_id));
        }
        Err(_) => {
            eprintln!(
                "{:?}: the write was cut off; nothing of it is visible",
                store.backend()
            );
            assert!(customer.iter().all(|(r, _)| r.source != "big.csv"));
        }
    }
    // Writing it again completes it once.
    let outcome = store.write_run(&run, &rows).await.unwrap();
    assert_eq!(outcome.run().customers, 200_000);
    assert_eq!(
        store
            .predictions_of_run(&run.run_id(), Some("C199998"), 5)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn tokens(store: &Store) {
    assert!(!store.has_tokens().await.unwrap());
    let token = store.create_token("dashboard", Scope::Read).await.unwrap();
    assert_eq!(token.len(), 64);
    let admin = store.create_token("ops", Scope::Admin).await.unwrap();
    assert_ne!(token, admin);
    let read = store.check_token(&token).await.unwrap().unwrap();
    assert_eq!((read.name.as_str(), read.scope), ("dashboard", Scope::Read));
    assert!(read.allows(Scope::Read) && !read.allows(Scope::Predict));
    let ops = store.check_token(&admin).await.unwrap().unwrap();
    assert!(ops.allows(Scope::Predict) && ops.allows(Scope::Admin));
    assert_eq!(
        store.check_token("0".repeat(64).as_str()).await.unwrap(),
        None
    );
    assert!("write".parse::<Scope>().is_err());
    assert!(store.has_tokens().await.unwrap());
    // Names are unique; a revoked token is unknown at once.
    assert!(matches!(
        store.create_token("ops", Scope::Read).await,
        Err(StoreError::Invalid(_))
    ));
    let listed: Vec<(String, Scope)> = store
        .tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.name, t.scope))
        .collect();
    assert_eq!(
        listed,
        [
            ("dashboard".to_string(), Scope::Read),
            ("ops".to_string(), Scope::Admin)
        ]
    );
    store.revoke_token("dashboard").await.unwrap();
    assert_eq!(store.check_token(&token).await.unwrap(), None);
    assert!(store.check_token(&admin).await.unwrap().is_some());
    assert!(matches!(
        store.revoke_token("dashboard").await,
        Err(StoreError::NotFound(_))
    ));
}

/// A version registered with an alias is written in one transaction with the alias move: when
/// the move fails (here a trigger refuses it, as a kill between the two would cut it off), no
/// version is left behind.
async fn registration_with_an_alias_is_one_transaction(store: &Store, url: &str) {
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let refuse = match store.backend() {
        retain_store::Backend::Sqlite => vec![
            "CREATE TRIGGER refuse_doomed BEFORE INSERT ON alias_moves WHEN NEW.alias = 'doomed'
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        ],
        retain_store::Backend::Postgres => vec![
            "CREATE FUNCTION refuse_doomed() RETURNS trigger AS $$ BEGIN
               IF NEW.alias = 'doomed' THEN RAISE EXCEPTION 'refused by the test'; END IF;
               RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_doomed BEFORE INSERT ON alias_moves
             FOR EACH ROW EXECUTE FUNCTION refuse_doomed()",
        ],
    };
    for statement in refuse {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    let refused = store
        .register_as("atomic", b"atomic one", &info("gbdt/churn"), Some("doomed"))
        .await;
    assert!(refused.is_err(), "{refused:?}");
    assert!(
        matches!(store.versions("atomic").await, Ok(v) if v.is_empty())
            || matches!(store.versions("atomic").await, Err(StoreError::NotFound(_))),
        "the version must not outlive its refused alias move"
    );
    let (registered, moved) = store
        .register_as(
            "atomic",
            b"atomic one",
            &info("gbdt/churn"),
            Some("production"),
        )
        .await
        .unwrap();
    assert_eq!((registered.version, registered.new), (1, true));
    assert_eq!(moved.map(|m| (m.version, m.previous)), Some((1, None)));
    assert_eq!(store.resolve("atomic", "production").await.unwrap(), 1);
    // The same bytes again: no new version, the alias stays where it is.
    let (again, moved) = store
        .register_as(
            "atomic",
            b"atomic one",
            &info("gbdt/churn"),
            Some("production"),
        )
        .await
        .unwrap();
    assert_eq!((again.version, again.new), (1, false));
    assert_eq!(moved.map(|m| m.previous), Some(Some(1)));
}

fn analysis_customers(n: usize) -> Vec<StoredCustomer> {
    (0..n)
        .map(|i| {
            let risk = (i % 100) as f64 / 100.0;
            let value = (i % 37) as f64 * 10.0;
            StoredCustomer {
                customer: AnalysisCustomer {
                    customer_id: format!("C{i:06}"),
                    segment: ["champions", "at risk", "hibernating"][i % 3].into(),
                    stage: ["active", "at risk", "lapsed"][i % 3].into(),
                    churn_risk: risk,
                    p_alive: Some(1.0 - risk),
                    expected_purchases: Some(2.0 * (1.0 - risk)),
                    // Every seventh customer has no CLV (no spend model).
                    clv: (i % 7 != 0).then_some(value * (1.0 - risk)),
                    historic_value: value,
                    value_at_risk: risk * value,
                    next_purchase: (risk < 0.5).then(|| "2024-02-01".to_string()),
                    reasons: serde_json::json!([{"feature": "recency", "value": 3.0, "contribution": 0.1}]),
                },
                purchases: serde_json::json!({"days": ["2024-01-01"], "amounts": [value]}),
            }
        })
        .collect()
}

fn new_analysis(name: &str, as_of: &str) -> NewAnalysis {
    NewAnalysis {
        analysis_id: None,
        name: name.into(),
        source: "log.csv".into(),
        as_of: as_of.into(),
        pages: vec![
            ("overview".into(), r#"{"page":"overview"}"#.into()),
            ("at-risk".into(), r#"{"page":"at-risk"}"#.into()),
        ],
        model: serde_json::json!({"model": "mbgnbd"}),
        kpis: serde_json::json!({"customers": 3000.0}),
    }
}

async fn analyses(store: &Store) {
    let rows = analysis_customers(3_000);
    let first = store
        .write_analysis(&new_analysis("shop", "2024-01-31"), &rows)
        .await
        .unwrap();
    let second = store
        .write_analysis(&new_analysis("shop", "2024-02-29"), &rows[..10])
        .await
        .unwrap();
    assert_eq!((first.customers, first.pages.len()), (3_000, 2));
    let listed = store.analyses().await.unwrap();
    assert_eq!(listed[0], second, "newest first");
    assert_eq!(
        store
            .analysis_page(&first.analysis_id, "at-risk")
            .await
            .unwrap(),
        r#"{"page":"at-risk"}"#
    );
    let error = store
        .analysis_page(&first.analysis_id, "value")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("has no page \"value\"; it has overview, at-risk"),
        "{error}"
    );
    assert!(matches!(
        store.analysis("nope").await,
        Err(StoreError::NotFound(_))
    ));
    let kpis = store.analysis_kpis("shop").await.unwrap();
    assert_eq!(
        kpis.iter().map(|k| k.0.as_str()).collect::<Vec<_>>(),
        ["2024-01-31", "2024-02-29"]
    );

    // Filters and orders, checked against the same rows filtered here.
    let query = CustomerQuery {
        segment: Some("at risk".into()),
        min_churn_risk: Some(0.5),
        min_value: Some(100.0),
        limit: 25,
        offset: 5,
        ..CustomerQuery::default()
    };
    let (total, page) = store
        .analysis_customers(&first.analysis_id, &query)
        .await
        .unwrap();
    let mut expected: Vec<&AnalysisCustomer> = rows
        .iter()
        .map(|r| &r.customer)
        .filter(|c| c.segment == "at risk" && c.churn_risk >= 0.5 && c.historic_value >= 100.0)
        .collect();
    expected.sort_by(|a, b| {
        b.value_at_risk
            .total_cmp(&a.value_at_risk)
            .then(a.customer_id.cmp(&b.customer_id))
    });
    assert_eq!(total as usize, expected.len());
    assert_eq!(page.iter().collect::<Vec<_>>(), expected[5..30].to_vec());
    // CLV ascending puts the customers without one last.
    let by_clv = CustomerQuery {
        sort: CustomerSort::Clv,
        ascending: true,
        limit: 3_000,
        ..CustomerQuery::default()
    };
    let (_, all) = store
        .analysis_customers(&first.analysis_id, &by_clv)
        .await
        .unwrap();
    let nulls = all.iter().position(|c| c.clv.is_none()).unwrap();
    assert!(all[nulls..].iter().all(|c| c.clv.is_none()));
    assert!(all[..nulls].windows(2).all(|w| w[0].clv <= w[1].clv));

    // Paging by cursor gives the same rows as one query, in every order (CLV has NULLs).
    for sort in [
        CustomerSort::ValueAtRisk,
        CustomerSort::Clv,
        CustomerSort::ChurnRisk,
        CustomerSort::CustomerId,
    ] {
        for ascending in [false, true] {
            let filtered = CustomerQuery {
                sort,
                ascending,
                min_value: Some(50.0),
                ..CustomerQuery::default()
            };
            let whole = CustomerQuery {
                limit: 3_000,
                ..filtered.clone()
            };
            let (total, all) = store
                .analysis_customers(&first.analysis_id, &whole)
                .await
                .unwrap();
            let mut paged = Vec::new();
            let mut after = None;
            loop {
                let chunk = CustomerQuery {
                    limit: 97,
                    after: after.clone(),
                    ..filtered.clone()
                };
                let (n, rows) = store
                    .analysis_customers(&first.analysis_id, &chunk)
                    .await
                    .unwrap();
                assert_eq!(n, total, "the count ignores the cursor");
                after = rows.last().map(|c| chunk.cursor_of(c));
                let done = rows.len() < 97;
                paged.extend(rows);
                if done {
                    break;
                }
            }
            assert_eq!(paged, all, "{sort:?} ascending {ascending}");
        }
    }

    let one = store
        .analysis_customer(&first.analysis_id, "C000042")
        .await
        .unwrap();
    assert_eq!(one.customer, rows[42].customer);
    assert_eq!(one.purchases, rows[42].purchases);
    let across = store
        .customer_across_analyses("shop", "C000005")
        .await
        .unwrap();
    assert_eq!(
        across
            .iter()
            .map(|(a, _)| a.as_of.as_str())
            .collect::<Vec<_>>(),
        ["2024-01-31", "2024-02-29"]
    );
    let error = store
        .write_analysis(
            &new_analysis("shop", "2024-03-31"),
            &[rows[1].clone(), rows[1].clone()],
        )
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("C000001 appears twice"),
        "{error}"
    );
}

async fn an_interrupted_analysis_is_never_half_visible(store: &Store) {
    let rows = analysis_customers(200_000);
    let before = store.analyses().await.unwrap().len();
    let writer = {
        let (store, rows) = (store.clone(), rows.clone());
        tokio::spawn(async move {
            store
                .write_analysis(&new_analysis("big", "2024-01-31"), &rows)
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    writer.abort();
    let outcome = writer.await;
    let after = store.analyses().await.unwrap();
    match outcome {
        Ok(Ok(stored)) => {
            assert_eq!(after.len(), before + 1);
            assert_eq!(
                store.analysis(&stored.analysis_id).await.unwrap().customers,
                200_000
            );
        }
        _ => {
            assert_eq!(after.len(), before, "a cut-off analysis is not listed");
            assert!(store
                .customer_across_analyses("big", "C150000")
                .await
                .unwrap()
                .is_empty());
        }
    }
}

/// A run written with its facts keeps its day, horizon and drift report; reports are read by
/// model, newest day first, and the newest of each model.
async fn drift_reports(store: &Store) {
    let facts = |day: &str, drift: bool| RunFacts {
        as_of: Some(day.into()),
        horizon_days: Some(90),
        drift: Some(NewDrift {
            dataset_drift: drift,
            drifted_share: if drift { 0.75 } else { 0.25 },
            prediction_drift: drift,
            report: serde_json::json!({"data": {"features": [{"feature": "tenure", "drift": drift}]}}),
        }),
    };
    let run = |day: &'static str| NewRun {
        model: "watched",
        version: 1,
        source: "log.csv",
        input_sha256: day,
        settings: "",
    };
    // Written out of day order: reading sorts by the day scored.
    for (day, drift) in [
        ("2024-03-01", true),
        ("2024-01-01", false),
        ("2024-02-01", false),
    ] {
        let written = store
            .write_run_with(&run(day), &facts(day, drift), &predictions(5, 1.0))
            .await
            .unwrap();
        assert_eq!(written.run().as_of.as_deref(), Some(day));
        assert_eq!(written.run().horizon_days, Some(90));
    }
    let history = store.drift_of_model("watched", 10).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|d| d.as_of.as_deref().unwrap())
            .collect::<Vec<_>>(),
        ["2024-03-01", "2024-02-01", "2024-01-01"]
    );
    assert!(history[0].dataset_drift && history[0].prediction_drift);
    assert_eq!(history[0].drifted_share, 0.75);
    assert_eq!(history[0].report["data"]["features"][0]["drift"], true);
    assert_eq!(store.drift_of_model("watched", 1).await.unwrap().len(), 1);
    let one = store
        .drift_of_run(&run("2024-01-01").run_id())
        .await
        .unwrap()
        .unwrap();
    assert!(!one.dataset_drift);
    let stored = store.run(&run("2024-02-01").run_id()).await.unwrap();
    assert_eq!(stored.as_of.as_deref(), Some("2024-02-01"));
    // A run without a report has none; the newest report per model covers every model.
    store
        .write_run(
            &NewRun {
                model: "quiet",
                ..run("2024-04-01")
            },
            &predictions(2, 1.0),
        )
        .await
        .unwrap();
    assert!(store
        .drift_of_run(
            &NewRun {
                model: "quiet",
                ..run("2024-04-01")
            }
            .run_id()
        )
        .await
        .unwrap()
        .is_none());
    let latest = store.latest_drift().await.unwrap();
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].model, "watched");
    assert!(store.drift_of_model("nobody", 10).await.unwrap().is_empty());
}

async fn suite(url: &str) {
    let store = Store::open(url).await.unwrap();
    registry(&store).await;
    registration_with_an_alias_is_one_transaction(&store, url).await;
    concurrent_registrations_take_distinct_versions(&store).await;
    aliases(&store).await;
    runs(&store).await;
    drift_reports(&store).await;
    an_interrupted_run_is_never_half_visible(&store).await;
    tokens(&store).await;
    analyses(&store).await;
    an_interrupted_analysis_is_never_half_visible(&store).await;
    // Reopening finds everything (tables are created only when missing).
    let reopened = Store::open(url).await.unwrap();
    assert_eq!(reopened.resolve("churn", "production").await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    suite(&format!(
        "sqlite://{}",
        dir.path().join("retain.db").display()
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store() {
    let Ok(server) = std::env::var("RETAIN_TEST_POSTGRES") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs the store tests on PostgreSQL: set RETAIN_TEST_POSTGRES=postgres://USER@HOST:PORT"
        );
        eprintln!("RETAIN_TEST_POSTGRES not set: PostgreSQL run skipped");
        return;
    };
    // A database of its own, so that runs never see each other's rows.
    let name = format!(
        "retain_test_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros()
    );
    let url = retain_store::create_postgres_database(&server, &name)
        .await
        .unwrap();
    suite(&url).await;
}
