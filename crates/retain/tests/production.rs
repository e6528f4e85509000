//! The production loop proved on data with a known change (issue 18, point 5): a transaction
//! log simulated from BG/NBD with Gamma-Gamma spend, customers arriving all along, and from week
//! 135 on every customer dropping out more easily (Beta's b halved) and spending twice as much
//! (Gamma-Gamma's v doubled). A pipeline runs every four weeks on the log as it has grown by
//! then (the file is rewritten before each run, as new data arrive), monitoring the active
//! customers (a purchase in the last 365 days): all customers ever would drift by aging alone. The same simulation
//! without the change is the control: nothing may be flagged or promoted there.

mod common;

use std::path::Path;

use common::retain;
use common::simulate::{write_csv, Process};

/// Days between runs, the horizon, the first run's day and the change's day.
const EVERY: i32 = 28;
const HORIZON: i32 = 56;
const FIRST_RUN: i32 = 728;
const SHIFT_WEEK: f64 = 135.0;

fn process(shifted: bool) -> Process {
    Process {
        customers: 8_000,
        arrival_weeks: 208.0,
        weeks: 208.0,
        // Customers buying every four weeks on average, so that eight weeks tell.
        r: 1.0,
        alpha: 4.0,
        shift_week: shifted.then_some(SHIFT_WEEK),
        dropout_b_factor: if shifted { 0.5 } else { 1.0 },
        spend_v_factor: if shifted { 2.0 } else { 1.0 },
        seed: 20261130,
        ..Process::default()
    }
}

/// What one scheduled run did, from its JSON record.
#[derive(Debug)]
struct Run {
    day: i32,
    dataset_drift: bool,
    drifted: u64,
    decision: Option<String>,
}

fn run_schedule(dir: &Path, shifted: bool, runs: i32) -> (Vec<Run>, serde_json::Value) {
    let log = process(shifted).simulate();
    let data = dir.join("transactions.csv");
    let pipeline = dir.join("shop.toml");
    std::fs::write(
        &pipeline,
        format!(
            r#"
name = "shop"

[source]
transactions = ["transactions.csv"]

[[models]]
name = "shop-churn"
kind = "churn"
horizon_days = {HORIZON}
rounds = 100
folds = 3
active_days = 365
"#
        ),
    )
    .unwrap();
    let store = format!("sqlite://{}", dir.join("store.db").display());
    let mut out = Vec::new();
    for k in 0..runs {
        let day = FIRST_RUN + k * EVERY;
        write_csv(&data, &log, day);
        let result = retain(&[
            "run",
            pipeline.to_str().unwrap(),
            "--store",
            &store,
            "--format",
            "json",
        ]);
        assert!(
            result.status.success(),
            "run on day {day}: {}",
            String::from_utf8_lossy(&result.stderr)
        );
        let record: serde_json::Value = serde_json::from_slice(&result.stdout).unwrap();
        let step = |name: &str| {
            record["steps"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["step"] == name)
                .map(|s| s["output"].clone())
        };
        let score = step("score:shop-churn").expect("scored every run");
        let model = step("model:shop-churn").expect("kept every run");
        out.push(Run {
            day,
            dataset_drift: score["dataset_drift"] == true,
            drifted: score["drifted_features"].as_u64().unwrap_or(0),
            decision: model["evidence"]["decision"].as_str().map(String::from),
        });
        if let Some(reason) = model["reason"].as_str() {
            eprintln!("  {reason}");
        }
        eprintln!("{:?}", out.last().unwrap());
    }
    let monitor = retain(&[
        "monitor",
        "shop-churn",
        "--store",
        &store,
        "--format",
        "json",
    ]);
    assert!(monitor.status.success());
    (out, serde_json::from_slice(&monitor.stdout).unwrap())
}

/// Realised log loss of version 1's runs, by the day scored.
fn realised_log_loss(monitor: &serde_json::Value) -> Vec<(String, f64)> {
    monitor["performance"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "realised" && p["version"] == 1)
        .map(|p| {
            (
                p["as_of"].as_str().unwrap().to_string(),
                p["metrics"]["log_loss"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_change_of_regime_is_flagged_measured_and_answered_by_a_promotion() {
    let dir = tempfile::tempdir().unwrap();
    let (runs, monitor) = run_schedule(dir.path(), true, 20);
    let shift_day = (SHIFT_WEEK * 7.0) as i32;
    let before: Vec<&Run> = runs.iter().filter(|r| r.day < shift_day).collect();
    let after: Vec<&Run> = runs.iter().filter(|r| r.day >= shift_day + EVERY).collect();
    // While nothing changes: no drift, no promotion.
    for r in &before {
        assert!(!r.dataset_drift, "flagged before the change: {r:?}");
        assert_ne!(r.decision.as_deref(), Some("promoted"), "{r:?}");
    }
    // After the change: the data set drifts, more features than ever before.
    assert!(after.iter().any(|r| r.dataset_drift), "{runs:?}");
    let most = |runs: &[&Run]| runs.iter().map(|r| r.drifted).max().unwrap_or(0);
    assert!(most(&after) > most(&before), "{runs:?}");
    // The old champion's realised performance falls: its log loss on windows after the change
    // is above every one before it.
    let losses = realised_log_loss(&monitor);
    let start = common::simulate::date_of(shift_day);
    let (pre, post): (Vec<_>, Vec<_>) = losses
        .iter()
        .partition(|(as_of, _)| as_of.as_str() < start.as_str());
    let worst_before = pre.iter().map(|x| x.1).fold(f64::NEG_INFINITY, f64::max);
    let worst_after = post.iter().map(|x| x.1).fold(f64::NEG_INFINITY, f64::max);
    assert!(!pre.is_empty() && !post.is_empty(), "{losses:?}");
    assert!(
        worst_after > worst_before,
        "log loss before {pre:?}, after {post:?}"
    );
    // And a challenger trained on the new regime is promoted; once the champion has learned
    // it, its newest scoring run no longer drifts and no challenger beats it.
    assert!(
        after
            .iter()
            .any(|r| r.decision.as_deref() == Some("promoted")),
        "{runs:?}"
    );
    let last = runs.last().unwrap();
    assert!(!last.dataset_drift, "{runs:?}");
    assert_eq!(last.decision.as_deref(), Some("kept"), "{runs:?}");
    // A promotion is undone by a rollback: production points where it pointed before.
    let promoted = monitor["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["decision"] == "promoted")
        .unwrap();
    let newest_promotion = monitor["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["decision"] == "promoted")
        .map(|d| d["challenger_version"].as_i64().unwrap())
        .max()
        .unwrap();
    assert!(promoted["evidence"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["passed"] == true));
    let store = format!("sqlite://{}", dir.path().join("store.db").display());
    let production = |store: &str| -> i64 {
        let out = retain(&[
            "registry",
            "show",
            "shop-churn",
            "--store",
            store,
            "--format",
            "json",
        ]);
        let versions: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        versions
            .as_array()
            .unwrap()
            .iter()
            .find(|v| {
                v["aliases"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a == "production")
            })
            .unwrap()["version"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(production(&store), newest_promotion);
    let rollback = retain(&["registry", "rollback", "shop-churn", "--store", &store]);
    assert!(rollback.status.success());
    assert!(production(&store) < newest_promotion);
}

#[test]
fn unchanged_data_raises_no_alarm_over_ten_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (runs, _) = run_schedule(dir.path(), false, 10);
    for r in &runs {
        assert!(!r.dataset_drift, "a false alarm: {r:?}");
        assert_ne!(
            r.decision.as_deref(),
            Some("promoted"),
            "a promotion without a change: {r:?}"
        );
    }
}
