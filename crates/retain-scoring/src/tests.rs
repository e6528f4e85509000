use retain_models::supervised::{ColumnValues, FeatureFrame, GradientBoosting, Task};
use serde_json::{json, Map, Value};

use super::*;

/// A churn model on 400 customers: churn is likelier with few purchases and on the monthly plan.
fn artifact() -> ModelArtifact {
    let n = 400;
    let purchases: Vec<f64> = (0..n).map(|i| (i % 20) as f64).collect();
    let plans: Vec<&str> = (0..n)
        .map(|i| ["monthly", "yearly", "two-year"][i % 3])
        .collect();
    let y: Vec<f64> = (0..n)
        .map(|i| {
            f64::from(u8::from(
                purchases[i] < 6.0 || (plans[i] == "monthly" && i % 2 == 0),
            ))
        })
        .collect();
    let mut frame = FeatureFrame::new(n);
    frame
        .push("purchases", ColumnValues::Numbers(purchases))
        .unwrap();
    frame
        .push(
            "plan",
            ColumnValues::categories(plans.into_iter().map(Some)),
        )
        .unwrap();
    let boosting = GradientBoosting {
        rounds: 30,
        learning_rate: 0.3,
        ..GradientBoosting::new(Task::Churn)
    };
    let model = boosting.fit(&frame, &y).unwrap();
    let training_sample = Some(crate::monitor::TrainingSample::of(
        &frame,
        &model.predict(&frame).unwrap().score,
    ));
    ModelArtifact {
        format: ARTIFACT_FORMAT.into(),
        task: Task::Churn,
        target: "column churned".into(),
        recipe: FeatureRecipe::Table {
            id_col: Some("id".into()),
        },
        training: TrainingInfo {
            rows: n,
            features: 2,
            label_mean: y.iter().sum::<f64>() / n as f64,
            cutoff: None,
            sources: vec!["customers.csv".into()],
            folds: 2,
            cv: [("auc".to_string(), (0.9, 0.01))].into_iter().collect(),
            trained_at_unix: 0,
            data_fingerprint: "ab".repeat(32),
            boosting,
        },
        model,
        training_sample,
    }
}

fn customers(value: Value) -> Vec<Map<String, Value>> {
    serde_json::from_value(value).unwrap()
}

#[test]
fn json_customers_score_as_the_same_frame_does() {
    let artifact = artifact();
    let bytes = serde_json::to_vec(&artifact).unwrap();
    let scorer = Scorer::from_bytes(&bytes).unwrap();
    let scored = scorer
        .score_json(
            &customers(json!([
                {"customer_id": "a", "purchases": 2, "plan": "monthly"},
                {"id": "b", "purchases": 15.0, "plan": "two-year"},
                {"purchases": null, "plan": null},
            ])),
            2,
        )
        .unwrap();
    let mut frame = FeatureFrame::new(3);
    frame
        .push(
            "purchases",
            ColumnValues::Numbers(vec![2.0, 15.0, f64::NAN]),
        )
        .unwrap();
    frame
        .push(
            "plan",
            ColumnValues::categories([Some("monthly"), Some("two-year"), None]),
        )
        .unwrap();
    let expected = artifact.model.predict(&frame).unwrap();
    let p = &scored.predictions;
    assert_eq!(p.len(), 3);
    for (prediction, score) in p.iter().zip(&expected.score) {
        // The same trees on the same encoded values: the same number.
        assert_eq!(prediction.score, *score);
        assert_eq!(prediction.reasons.len(), 2);
    }
    assert_eq!(p[0].customer_id.as_deref(), Some("a"));
    assert_eq!(
        p[1].customer_id.as_deref(),
        Some("b"),
        "the table's id column"
    );
    assert_eq!(p[2].customer_id, None);
    assert!(p[0].score > 0.5 && p[1].score < 0.5, "{p:?}");
    assert_eq!((p[0].label, p[1].label), (Some("churn"), Some("stay")));
    assert!(scored.unseen.is_empty());
}

#[test]
fn bad_fields_are_named_with_what_was_expected() {
    let scorer = Scorer::new(artifact());
    let error = |value: Value| match scorer.score_json(&customers(value), 3) {
        Err(ScoringError::Input(e)) => e,
        other => panic!("expected an input error, got {other:?}"),
    };
    let e = error(
        json!([{"purchases": 1, "plan": "monthly"}, {"purchases": 1, "plan": "monthly", "age": 3}]),
    );
    assert_eq!((e.customer, e.field.as_str()), (1, "age"));
    assert!(e.problem.contains("purchases, plan"), "{e}");
    let e = error(json!([{"purchases": 1}]));
    assert_eq!((e.customer, e.field.as_str()), (0, "plan"));
    assert!(e.problem.starts_with("missing"), "{e}");
    let e = error(json!([{"purchases": "three", "plan": "monthly"}]));
    assert_eq!(e.field, "purchases");
    assert_eq!(
        e.to_string(),
        "customers[0].purchases: expected a number or null, found text \"three\""
    );
    let e = error(json!([{"purchases": 3, "plan": 2}]));
    assert_eq!(e.field, "plan");
    assert!(
        e.problem.contains("\"monthly\"") && e.problem.ends_with("found the number 2"),
        "{e}"
    );
    let e = error(json!([{"purchases": 3, "plan": "monthly", "customer_id": [1]}]));
    assert_eq!(e.field, "customer_id");
}

#[test]
fn unseen_categories_score_as_missing_and_are_reported() {
    let scorer = Scorer::new(artifact());
    let scored = scorer
        .score_json(
            &customers(json!([
                {"purchases": 4, "plan": "lifetime"},
                {"purchases": 4, "plan": null},
            ])),
            1,
        )
        .unwrap();
    assert_eq!(
        scored.unseen,
        vec![UnseenLevels {
            feature: "plan".into(),
            customers: 1
        }]
    );
    assert_eq!(scored.predictions[0].score, scored.predictions[1].score);
}

#[test]
fn the_registry_records_what_the_artifact_says() {
    let bytes = serde_json::to_vec(&artifact()).unwrap();
    let info = Artifact::from_bytes(&bytes).unwrap().describe();
    assert_eq!(info.kind, "gbdt/churn");
    assert_eq!(
        info.data_fingerprint.as_deref(),
        Some("ab".repeat(32).as_str())
    );
    assert_eq!(info.metrics["cv"]["auc"][0], 0.9);
    assert_eq!(info.parameters["rounds"], 30);
    assert_eq!(info.feature_schema[1]["name"], "plan");
    assert_eq!(info.feature_schema[1]["kind"], "category");

    let purchase = br#"{"model":"bgnbd","params":{"r":0.24,"alpha":4.41,"a":0.79,"b":2.43},"log_likelihood":-9582.4,"n_customers":2357,"converged":true}"#;
    let artifact = Artifact::from_bytes(purchase).unwrap();
    let info = artifact.describe();
    assert_eq!(info.kind, "btyd/bgnbd");
    assert_eq!(info.parameters["alpha"], 4.41);
    // Purchase models are served (P(alive) as the score); without a reference customer in the
    // file (saved before one was kept) the answer has no reasons.
    let scorer = Scorer::from_bytes(purchase).unwrap();
    let customer = serde_json::json!({"frequency": 2, "recency": 30.43, "T": 38.86});
    let scored = scorer
        .score_json(&[customer.as_object().unwrap().clone()], 3)
        .unwrap();
    assert!((scored.predictions[0].score - 0.7266).abs() < 2e-3);
    assert!(scored.predictions[0].reasons.is_empty());

    for bad in [
        &b"{\"format\": \"retain-gbdt/1\"}"[..],
        b"[1, 2]",
        b"not json",
    ] {
        assert!(matches!(
            Artifact::from_bytes(bad),
            Err(ScoringError::Artifact(_))
        ));
    }
}

/// Any JSON a client sends as customers: the scorer never panics, refuses with the customer
/// and field named, or scores every customer with a probability. Random cases from a fixed
/// seed (RETAIN_FUZZ_SEED and RETAIN_FUZZ_CASES change them); a failure names its seed and
/// case. (Not proptest: its dev-dependencies change features of crates DataFusion shares, and
/// the tests would then build DataFusion a second time.)
mod arbitrary_json {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use serde_json::{Map, Value};

    use super::*;

    fn any_text(rng: &mut StdRng) -> String {
        const PIECES: [&str; 12] = [
            "monthly", "yearly", "two-year", "", " ", "NaN", "1e999", "-0", "\u{0}", "é", "\"", "7",
        ];
        (0..rng.random_range(0..3))
            .map(|_| PIECES[rng.random_range(0..PIECES.len())])
            .collect()
    }

    fn any_value(rng: &mut StdRng, depth: usize) -> Value {
        match rng.random_range(0..if depth > 1 { 8 } else { 10 }) {
            0 => Value::Null,
            1 => Value::Bool(rng.random()),
            2 => Value::from(rng.random::<i64>()),
            3 => Value::from(f64::from_bits(rng.random::<u64>())),
            4 => Value::from(rng.random_range(-1e6..1e6)),
            5 | 6 => Value::from(any_text(rng)),
            7 => Value::from(1e308),
            8 => Value::Array(
                (0..rng.random_range(0..3))
                    .map(|_| any_value(rng, depth + 1))
                    .collect(),
            ),
            _ => Value::Object(any_customer(rng, depth + 1)),
        }
    }

    fn any_customer(rng: &mut StdRng, depth: usize) -> Map<String, Value> {
        const KEYS: [&str; 7] = ["purchases", "plan", "customer_id", "id", "PLAN", "", "x"];
        // Half the customers start valid, so that scoring is reached, not only refusals.
        let mut customer = if rng.random_bool(0.5) {
            let mut valid = Map::new();
            valid.insert("customer_id".into(), Value::from(any_text(rng)));
            let purchases = rng.random_range(-5.0..40.0);
            valid.insert("purchases".into(), Value::from(purchases));
            valid.insert("plan".into(), Value::from(any_text(rng)));
            valid
        } else {
            Map::new()
        };
        for _ in 0..rng.random_range(0..3) {
            customer.insert(
                KEYS[rng.random_range(0..KEYS.len())].to_string(),
                any_value(rng, depth),
            );
        }
        customer
    }

    #[test]
    fn any_customers_are_scored_or_refused_by_name() {
        let seed = std::env::var("RETAIN_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(15);
        let cases = std::env::var("RETAIN_FUZZ_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(2_000);
        let scorer = Scorer::new(artifact());
        let mut rng = StdRng::seed_from_u64(seed);
        let (mut scored_cases, mut refused_cases) = (0, 0);
        for case in 0..cases {
            let customers: Vec<Map<String, Value>> = (0..rng.random_range(0..6))
                .map(|_| any_customer(&mut rng, 0))
                .collect();
            let what = format!(
                "seed {seed}, case {case}: {}",
                Value::from(customers.clone())
            );
            match scorer.score_json(&customers, 2) {
                Ok(scored) => {
                    scored_cases += 1;
                    assert_eq!(scored.predictions.len(), customers.len(), "{what}");
                    for p in &scored.predictions {
                        assert!((0.0..=1.0).contains(&p.score), "{what}: {}", p.score);
                        assert!(p.reasons.len() <= 2, "{what}");
                    }
                }
                Err(ScoringError::Input(e)) => {
                    refused_cases += 1;
                    assert!(e.customer < customers.len(), "{what}: {e}");
                    // The field named is one the customer sent, or a feature it left out.
                    let named = customers[e.customer].contains_key(&e.field)
                        || ["purchases", "plan"].contains(&e.field.as_str());
                    assert!(named && !e.problem.is_empty(), "{what}: {e}");
                }
                Err(other) => panic!("{what}: unexpected error {other}"),
            }
        }
        // Both kinds of answer were exercised.
        assert!(
            scored_cases > 0 && refused_cases > 0,
            "{scored_cases} {refused_cases}"
        );
    }
}
