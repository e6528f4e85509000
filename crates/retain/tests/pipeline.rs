//! `retain run` and `retain monitor` end to end: a pipeline file over the bundled Online
//! Retail log, run, found again, killed at any moment and completed; drift reported per
//! feature.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{http, retain};

fn ok(args: &[&str]) -> String {
    let out = retain(args);
    assert!(
        out.status.success(),
        "retain {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(path)
}

/// A pipeline over Online Retail: a churn model, a purchase model, the dashboard's analysis.
fn retail_pipeline(dir: &Path) -> PathBuf {
    let path = dir.join("retail.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[source]
transactions = ["{}"]
customer_col = "CustomerID"
date_col = "InvoiceDate"
quantity_col = "Quantity"
price_col = "UnitPrice"

[cutoff]
rule = "last-complete-month"

[[models]]
name = "retail-churn"
kind = "churn"
rounds = 150

[[models]]
name = "retail-purchases"
kind = "mbgnbd"

[analysis]
name = "retail"
"#,
            data("online_retail/online_retail.csv.gz").display()
        ),
    )
    .unwrap();
    path
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// What a finished run leaves in a store: each model's versions (by content), the scoring
/// runs, the analyses, the pipeline runs.
fn state(store: &str) -> serde_json::Value {
    let versions: Vec<serde_json::Value> = ["retail-churn", "retail-purchases"]
        .iter()
        .map(|m| {
            let v = json(&ok(&[
                "registry", "show", m, "--store", store, "--format", "json",
            ]));
            // What a version holds, but the hash of its bytes, which covers its training
            // time: another store's run began at another time.
            let held: Vec<serde_json::Value> = v
                .as_array()
                .unwrap()
                .iter()
                .map(|x| {
                    let keep = [
                        "version",
                        "kind",
                        "data_fingerprint",
                        "metrics",
                        "parameters",
                    ];
                    keep.iter().map(|k| x[*k].clone()).collect()
                })
                .collect();
            assert_eq!(held.len(), 1, "one version of {m}: {v}");
            serde_json::json!([m, held])
        })
        .collect();
    let runs = json(&ok(&["runs", "--store", store, "--format", "json"]));
    let mut run_ids: Vec<String> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap().to_string())
        .collect();
    run_ids.sort();
    let pipeline_runs = json(&ok(&[
        "run", "--list", "--store", store, "--format", "json",
    ]));
    let pipeline_runs: Vec<serde_json::Value> = pipeline_runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| serde_json::json!([r["run_id"], r["status"], r["cutoff"]]))
        .collect();
    serde_json::json!({"versions": versions, "runs": run_ids, "pipeline_runs": pipeline_runs})
}

#[test]
fn a_pipeline_runs_once_per_input_and_a_killed_run_is_completed_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let file = retail_pipeline(dir.path());
    let file = file.to_str().unwrap();
    let clean = format!("sqlite://{}", dir.path().join("clean.db").display());

    // Uninterrupted: trains and registers both models, scores both with drift, stores the
    // analysis, accounts for every row.
    let started = Instant::now();
    let first = json(&ok(&["run", file, "--store", &clean, "--format", "json"]));
    let full = started.elapsed();
    assert_eq!(first["ran"], true);
    let run = &first["run"];
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["cutoff"], "2011-11-30");
    assert_eq!(run["rows"]["rows_read"], 541_909);
    assert_eq!(run["rows"]["rows_used"], 397_924);
    assert_eq!(
        run["versions_before"],
        serde_json::json!({"retail-churn": null, "retail-purchases": null})
    );
    assert_eq!(
        run["versions_after"],
        serde_json::json!({"retail-churn": 1, "retail-purchases": 1})
    );
    let steps: Vec<&str> = first["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    for step in [
        "model:retail-churn",
        "model:retail-purchases",
        "score:retail-churn",
        "score:retail-purchases",
        "analysis:retail",
    ] {
        assert!(steps.contains(&step), "{step} in {steps:?}");
    }
    let score = first["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "score:retail-purchases")
        .unwrap();
    assert_eq!(score["output"]["customers"], 4_298);
    assert_eq!(
        score["output"]["dataset_drift"], false,
        "scored on the data it was fitted on"
    );

    // Again with the same inputs: found, nothing done.
    let again = json(&ok(&["run", file, "--store", &clean, "--format", "json"]));
    assert_eq!(again["ran"], false);
    assert_eq!(again["run"]["run_id"], run["run_id"]);
    let clean_state = state(&clean);

    // Killed (SIGKILL) at tenths of a full run, each time into the same store; then run to the
    // end. Whatever was cut, the store ends as the uninterrupted run left its own: one version
    // of each model, trained alike (training is deterministic), the same scoring runs, one
    // succeeded run.
    let killed = format!("sqlite://{}", dir.path().join("killed.db").display());
    let mut attempts = 0;
    for tenth in 1..=9 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_retain"))
            .args(["run", file, "--store", &killed])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full * tenth / 10);
        let finished = child.try_wait().unwrap().is_some();
        child.kill().ok();
        child.wait().unwrap();
        attempts += 1;
        if finished {
            break;
        }
        // Nothing the killed run began is listed as done.
        let listed = json(&ok(&[
            "run", "--list", "--store", &killed, "--format", "json",
        ]));
        for r in listed.as_array().unwrap() {
            assert_ne!(r["status"], "succeeded", "after a kill at {tenth}/10: {r}");
        }
    }
    let last = json(&ok(&["run", file, "--store", &killed, "--format", "json"]));
    assert_eq!(
        last["run"]["run_id"], run["run_id"],
        "the same run, completed"
    );
    assert!(attempts >= 1);
    assert_eq!(state(&killed), clean_state);
    let one = json(&ok(&[
        "run", "--list", "--store", &killed, "--format", "json",
    ]));
    assert_eq!(one.as_array().unwrap().len(), 1, "{one}");
}

#[test]
fn monitor_prints_each_features_drift_and_names_unknown_models() {
    let dir = tempfile::tempdir().unwrap();
    let file = retail_pipeline(dir.path());
    let store = format!("sqlite://{}", dir.path().join("m.db").display());
    ok(&["run", file.to_str().unwrap(), "--store", &store]);
    let report = json(&ok(&[
        "monitor",
        "retail-purchases",
        "--store",
        &store,
        "--format",
        "json",
    ]));
    let features = report["drift"]["features"].as_array().unwrap();
    let names: Vec<&str> = features
        .iter()
        .map(|f| f["feature"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["frequency", "recency", "T", "monetary_value"]);
    for f in features {
        // 4,338 customers fitted on: more than 1,000 reference rows, so distances.
        assert_eq!(f["method"], "wasserstein", "{f}");
        assert!(
            f["statistic"].as_f64().unwrap() < 1e-3,
            "scored as fitted: {f}"
        );
        assert!(f["psi"].as_f64().unwrap() < 0.1, "{f}");
        assert_eq!(f["drift"], false);
    }
    let p_alive = &report["drift"];
    assert!(
        (p_alive["mean_score_reference"].as_f64().unwrap()
            - p_alive["mean_score_current"].as_f64().unwrap())
        .abs()
            < 0.01
    );
    // The churn model was trained 90 days before the cutoff: November's customers are not
    // August's (Christmas), and the report says which features moved.
    let churn = json(&ok(&[
        "monitor",
        "retail-churn",
        "--store",
        &store,
        "--format",
        "json",
    ]));
    let drifted: Vec<&str> = churn["drift"]["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["drift"] == true)
        .map(|f| f["feature"].as_str().unwrap())
        .collect();
    assert!(!drifted.is_empty());
    let table = ok(&["monitor", "retail-churn", "--store", &store]);
    assert!(
        table.contains("Wasserstein (normed)") && table.contains("PSI band"),
        "{table}"
    );
    let unknown = retain(&["monitor", "no-such-model", "--store", &store]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no-such-model"));
}

/// A CDNOW pipeline that fires every two seconds.
fn every_two_seconds(dir: &Path, name: &str, transactions: &str) {
    std::fs::write(
        dir.join(format!("{name}.toml")),
        format!(
            r#"
schedule = "*/2 * * * * *"

[source]
transactions = ["{transactions}"]
customer_col = "2"
date_col = "3"
amount_col = "5"
date_format = "%Y%m%d"

[[models]]
name = "{name}-churn"
kind = "churn"
rounds = 50
"#
        ),
    )
    .unwrap();
}

#[test]
fn serve_runs_the_pipelines_of_a_folder_on_their_schedules_and_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let pipelines = dir.path().join("pipelines");
    std::fs::create_dir(&pipelines).unwrap();
    every_two_seconds(
        &pipelines,
        "cdnow",
        data("cdnow/CDNOW_sample.txt").to_str().unwrap(),
    );
    every_two_seconds(&pipelines, "missing", "incoming/*.csv");
    let store = format!("sqlite://{}", dir.path().join("s.db").display());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let mut server = Command::new(env!("CARGO_BIN_EXE_retain"))
        .args(["serve", "--no-auth", "--addr", &address, "--store", &store])
        .args(["--schedule", pipelines.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let get = |path: &str| {
        let (status, body) = http(&address, "GET", path, "", "");
        assert_eq!(status, 200, "GET {path}: {body}");
        json(&body)
    };
    // Wait for the first scheduled runs of both pipelines.
    let deadline = Instant::now() + Duration::from_secs(120);
    let runs = loop {
        std::thread::sleep(Duration::from_millis(500));
        if http(&address, "GET", "/healthz", "", "").0 != 200 {
            assert!(Instant::now() < deadline, "the server did not start");
            continue;
        }
        let runs = get("/v1/pipeline-runs");
        let finished = |p: &str| {
            runs.as_array().unwrap().iter().any(|r| {
                r["pipeline"] == p && (r["status"] == "succeeded" || r["status"] == "failed")
            })
        };
        if finished("cdnow") && finished("missing") {
            break runs;
        }
        assert!(
            Instant::now() < deadline,
            "no scheduled run finished: {runs}"
        );
    };
    let cdnow: Vec<&serde_json::Value> = runs
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["pipeline"] == "cdnow")
        .collect();
    assert_eq!(cdnow[0]["status"], "succeeded", "{runs}");
    assert_eq!(cdnow[0]["rows"]["rows_used"], 6_919);
    assert!(cdnow[0]["seconds"].as_f64().unwrap() > 0.0);
    let detail = get(&format!(
        "/v1/pipeline-runs/{}",
        cdnow[0]["run_id"].as_str().unwrap()
    ));
    let steps: Vec<&str> = detail["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "performance:cdnow-churn",
            "model:cdnow-churn",
            "score:cdnow-churn"
        ]
    );
    // A pattern that matches nothing fails the run, recorded with why.
    let missing = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["pipeline"] == "missing")
        .unwrap();
    assert_eq!(missing["status"], "failed");
    assert!(
        missing["error"]
            .as_str()
            .unwrap()
            .contains("matches no file"),
        "{missing}"
    );
    // Drift of the scoring run, through the API and /metrics.
    let drift = get("/v1/models/cdnow-churn/drift");
    assert_eq!(drift.as_array().unwrap().len(), 1, "{drift}");
    assert!(
        drift[0]["report"]["data"]["features"]
            .as_array()
            .unwrap()
            .len()
            >= 10
    );
    let (_, metrics) = http(&address, "GET", "/metrics", "", "");
    assert!(
        metrics.contains("retain_model_dataset_drift{model=\"cdnow-churn\"}"),
        "{metrics}"
    );
    // The schedule keeps firing; the same inputs are found, not run again.
    std::thread::sleep(Duration::from_secs(5));
    let later = get("/v1/pipeline-runs?pipeline=cdnow");
    assert_eq!(later.as_array().unwrap().len(), 1, "{later}");
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn the_bundled_pipeline_files_run_as_the_readme_shows() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("x.db").display());
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/pipelines");
    for (file, rows_used, customers) in [
        ("cdnow.toml", 6_919, 2_357),
        ("online_retail.toml", 397_924, 4_298),
    ] {
        let path = examples.join(file);
        let out = json(&ok(&[
            "run",
            path.to_str().unwrap(),
            "--store",
            &store,
            "--format",
            "json",
        ]));
        assert_eq!(out["run"]["status"], "succeeded", "{file}: {out}");
        assert_eq!(out["run"]["rows"]["rows_used"], rows_used, "{file}");
        let scored: Vec<&serde_json::Value> = out["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["step"].as_str().unwrap().starts_with("score:"))
            .collect();
        assert_eq!(scored.len(), 2, "{file}");
        for s in scored {
            assert_eq!(s["output"]["customers"], customers, "{file}: {s}");
        }
    }
}

/// Online Retail at a fixed cutoff, the churn model retrained with champion/challenger.
fn retail_at(dir: &Path, cutoff: &str) -> PathBuf {
    let path = dir.join("retail-dated.toml");
    std::fs::write(
        &path,
        format!(
            r#"
name = "retail-dated"

[source]
transactions = ["{}"]
customer_col = "CustomerID"
date_col = "InvoiceDate"
quantity_col = "Quantity"
price_col = "UnitPrice"

[cutoff]
date = "{cutoff}"

[[models]]
name = "dated-churn"
kind = "churn"
rounds = 100

[[models]]
name = "dated-purchases"
kind = "bgnbd"
"#,
            data("online_retail/online_retail.csv.gz").display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn past_runs_are_measured_once_their_horizon_passes_and_challengers_are_decided_on_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("p.db").display());
    // June: both models trained, scored, their churn performance estimated (CBPE).
    let june = retail_at(dir.path(), "2011-06-30");
    let first = json(&ok(&[
        "run",
        june.to_str().unwrap(),
        "--store",
        &store,
        "--format",
        "json",
    ]));
    assert_eq!(first["run"]["status"], "succeeded", "{first}");
    // September: June's runs are 92 days old, past their 90-day horizon: measured against what
    // the customers did. The champions learned from data through June 30, so July–September is
    // out of time for them: challengers are trained and decided on.
    let september = retail_at(dir.path(), "2011-09-30");
    let second = json(&ok(&[
        "run",
        september.to_str().unwrap(),
        "--store",
        &store,
        "--format",
        "json",
    ]));
    assert_eq!(second["run"]["status"], "succeeded", "{second}");
    let monitor = json(&ok(&[
        "monitor",
        "dated-churn",
        "--store",
        &store,
        "--format",
        "json",
    ]));
    let performance = monitor["performance"].as_array().unwrap();
    let realised: Vec<&serde_json::Value> = performance
        .iter()
        .filter(|p| p["kind"] == "realised")
        .collect();
    assert_eq!(realised.len(), 1, "{performance:?}");
    let june_run = realised[0];
    assert_eq!(june_run["as_of"], "2011-06-30");
    assert_eq!(june_run["horizon_end"], "2011-09-28");
    let auc = june_run["metrics"]["auc"].as_f64().unwrap();
    assert!((0.6..0.95).contains(&auc), "realised AUC {auc}");
    let rate = june_run["metrics"]["churn_rate"].as_f64().unwrap();
    assert!((0.2..0.8).contains(&rate), "{rate}");
    assert!(june_run["metrics"]["calibration"].as_array().unwrap().len() > 3);
    let estimated = performance
        .iter()
        .filter(|p| p["kind"] == "estimated")
        .count();
    assert_eq!(estimated, 2, "one CBPE estimate per scoring run");
    // The decision, stored with its evidence.
    let decisions = monitor["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 1, "{monitor}");
    let evidence = &decisions[0]["evidence"];
    assert_eq!(
        evidence["window"],
        serde_json::json!(["2011-07-02", "2011-09-30"])
    );
    assert_eq!(evidence["margins"]["metric"], "log_loss");
    for role in ["champion", "challenger"] {
        assert!(
            evidence[role]["metrics"]["auc"].as_f64().is_some(),
            "{evidence}"
        );
    }
    let registry = json(&ok(&[
        "registry",
        "show",
        "dated-churn",
        "--store",
        &store,
        "--format",
        "json",
    ]));
    let aliases = |v: usize| registry[v]["aliases"].clone();
    match decisions[0]["decision"].as_str().unwrap() {
        "promoted" => {
            assert_eq!(aliases(1), serde_json::json!(["production"]));
            // Undone by a rollback.
            ok(&["registry", "rollback", "dated-churn", "--store", &store]);
            let after = json(&ok(&[
                "registry",
                "show",
                "dated-churn",
                "--store",
                &store,
                "--format",
                "json",
            ]));
            assert_eq!(after[0]["aliases"], serde_json::json!(["production"]));
        }
        _ => {
            assert_eq!(aliases(0), serde_json::json!(["production"]));
            assert_eq!(aliases(1), serde_json::json!(["challenger"]));
        }
    }
    // The purchase model: realised purchases against expected.
    let purchases = json(&ok(&[
        "monitor",
        "dated-purchases",
        "--store",
        &store,
        "--format",
        "json",
    ]));
    let realised = purchases["performance"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "realised")
        .unwrap()
        .clone();
    let predicted = realised["metrics"]["predicted_purchases"].as_f64().unwrap();
    let actual = realised["metrics"]["actual_purchases"].as_f64().unwrap();
    assert!(
        actual > 0.0 && (predicted / actual - 1.0).abs() < 0.5,
        "{realised}"
    );
    // `retain retrain` by hand, on the same data: the same challenger, decided again.
    let by_hand = json(&ok(&[
        "retrain",
        "dated-purchases",
        "--pipeline",
        september.to_str().unwrap(),
        "--store",
        &store,
        "--format",
        "json",
    ]));
    assert!(
        ["promoted", "kept"].contains(&by_hand["decision"].as_str().unwrap()),
        "{by_hand}"
    );
    assert_eq!(by_hand["margins"]["metric"], "purchases_mae");
    assert!(by_hand["champion"]["score"].as_f64().is_some());
}
