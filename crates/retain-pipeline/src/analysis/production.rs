//! The production page: the pipeline runs, and for each model how it fares: the drift of its
//! scoring runs (the newest report feature by feature), its realised and estimated
//! performance, its champion/challenger decisions. Built from the store when the page is
//! opened, as the models page is; nothing is fitted.

use retain_store::{
    PerformanceKind, PipelineRun, Store, StoredDecision, StoredDrift, StoredPerformance,
};
use serde_json::{json, Value};

use super::page::*;
use crate::Result;

/// Runs, reports and models the page shows at most.
const RUNS: i64 = 50;
const REPORTS: i64 = 50;
const MODELS: usize = 10;

/// What the page shows of one model.
#[derive(Debug, Clone, Default)]
pub struct ModelRecord {
    pub name: String,
    /// Newest first.
    pub drift: Vec<StoredDrift>,
    /// Oldest first.
    pub performance: Vec<StoredPerformance>,
    /// Newest first.
    pub decisions: Vec<StoredDecision>,
}

/// The pipeline runs (newest first) and the records of the models that have any.
pub async fn production_records(store: &Store) -> Result<(Vec<PipelineRun>, Vec<ModelRecord>)> {
    let runs = store.pipeline_runs(None, RUNS).await?;
    let mut models = Vec::new();
    for model in store.models().await? {
        let record = ModelRecord {
            drift: store.drift_of_model(&model.name, REPORTS).await?,
            performance: store.performance_of_model(&model.name).await?,
            decisions: store.decisions_of_model(&model.name).await?,
            name: model.name,
        };
        let any = !(record.drift.is_empty()
            && record.performance.is_empty()
            && record.decisions.is_empty());
        if any && models.len() < MODELS {
            models.push(record);
        }
    }
    Ok((runs, models))
}

fn runs_panel(runs: &[PipelineRun]) -> Panel {
    let mut table = Table::new(&[
        ("started_at", "Started", Format::Text),
        ("pipeline", "Pipeline", Format::Text),
        ("run_id", "Run", Format::Text),
        ("cutoff", "Cutoff", Format::Text),
        ("status", "Status", Format::Text),
        ("seconds", "Seconds", Format::Number),
        ("rows_read", "Rows read", Format::Int),
        ("rows_used", "Rows used", Format::Int),
        ("rows_rejected", "Rows rejected", Format::Int),
        ("error", "Error", Format::Text),
    ]);
    for r in runs {
        table.push(vec![
            json!(r.started_at),
            json!(r.pipeline),
            json!(r.run_id),
            json!(r.cutoff),
            json!(r.status.as_str()),
            r.seconds.map_or(Value::Null, num),
            r.rows["rows_read"].clone(),
            r.rows["rows_used"].clone(),
            r.rows["rows_rejected"].clone(),
            json!(r.error.clone().unwrap_or_default()),
        ]);
    }
    // Oldest first on the chart.
    let shown: Vec<&PipelineRun> = runs.iter().rev().filter(|r| r.seconds.is_some()).collect();
    Panel {
        id: "pipeline-runs".into(),
        title: "Pipeline runs".into(),
        alt: format!(
            "Bar chart of the duration of the {} finished pipeline runs, oldest first; the table \
             lists all {} runs with their status and rows.",
            shown.len(),
            runs.len()
        ),
        caption: Some(
            "A run killed before it finished shows as interrupted; the next run of the same \
             inputs completes it."
                .into(),
        ),
        width: Width::Full,
        chart: (!shown.is_empty()).then(|| Chart::Bar {
            categories: shown
                .iter()
                .map(|r| format!("{} {}", r.pipeline, r.cutoff))
                .collect(),
            series: vec![Series::new(
                "seconds",
                shown.iter().map(|r| r.seconds.unwrap_or(0.0)),
            )],
            stacked: false,
            horizontal: false,
            x_label: "run (pipeline, cutoff)".into(),
            y_label: "seconds".into(),
            format: Format::Number,
        }),
        table,
    }
}

fn drift_panels(model: &ModelRecord) -> Vec<Panel> {
    let Some(newest) = model.drift.first() else {
        return vec![];
    };
    let oldest_first: Vec<&StoredDrift> = model.drift.iter().rev().collect();
    let mut history = Table::new(&[
        ("as_of", "As of", Format::Text),
        ("run_id", "Run", Format::Text),
        ("version", "Version", Format::Int),
        ("drifted_share", "Features drifted", Format::Share),
        ("dataset_drift", "Data set drift", Format::Text),
        ("prediction_drift", "Prediction drift", Format::Text),
    ]);
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    for d in &oldest_first {
        history.push(vec![
            json!(d.as_of.clone().unwrap_or_default()),
            json!(d.run_id),
            json!(d.version),
            num(d.drifted_share),
            json!(yes_no(d.dataset_drift)),
            json!(yes_no(d.prediction_drift)),
        ]);
    }
    let threshold = newest.report["data"]["drift_share_threshold"]
        .as_f64()
        .unwrap_or(0.5);
    let over_time = Panel {
        id: format!("drift-{}", model.name),
        title: format!("{}: drift of each scoring run", model.name),
        alt: format!(
            "Line chart of the share of {}'s features that drifted from its training data in \
             each of {} scoring runs; the newest: {:.0}%, the data set drifts at {:.0}%.",
            model.name,
            oldest_first.len(),
            100.0 * newest.drifted_share,
            100.0 * threshold
        ),
        caption: Some(format!(
            "Evidently's default tests against the model's training sample; the data set \
             drifts when {:.0}% of the features do.",
            100.0 * threshold
        )),
        width: Width::Half,
        chart: Some(Chart::Line {
            x_type: XType::Category,
            x: oldest_first
                .iter()
                .map(|d| {
                    json!(d.as_of.clone().unwrap_or_else(|| d
                        .created_at
                        .chars()
                        .take(16)
                        .collect()))
                })
                .collect(),
            series: vec![
                Series::new(
                    "features drifted",
                    oldest_first.iter().map(|d| d.drifted_share),
                ),
                Series {
                    dashed: true,
                    ..Series::new(
                        "data set drift threshold",
                        oldest_first.iter().map(|_| threshold),
                    )
                },
            ],
            x_label: "scored as of".into(),
            y_label: "share of features".into(),
            format: Format::Share,
            y_min: Some(0.0),
            y_max: Some(1.0),
            markers: vec![],
        }),
        table: history,
    };
    let mut features = Table::new(&[
        ("feature", "Feature", Format::Text),
        ("method", "Test", Format::Text),
        ("statistic", "Statistic", Format::Number),
        ("threshold", "Threshold", Format::Number),
        ("drift", "Drift", Format::Text),
        ("psi", "PSI", Format::Number),
        ("psi_band", "PSI band", Format::Text),
        ("current_missing_share", "Missing", Format::Share),
        ("unseen_share", "Unseen", Format::Share),
    ]);
    let rows: Vec<&Value> = newest.report["data"]["features"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(std::iter::once(&newest.report["prediction"]))
        .filter(|f| f.is_object())
        .collect();
    for f in &rows {
        features.push(vec![
            f["feature"].clone(),
            f["method"].clone(),
            f["statistic"].clone(),
            f["threshold"].clone(),
            json!(yes_no(f["drift"] == true)),
            f["psi"].clone(),
            f["psi_band"].clone(),
            f["current_missing_share"].clone(),
            f["unseen_share"].clone(),
        ]);
    }
    let psi: Vec<f64> = rows
        .iter()
        .map(|f| f["psi"].as_f64().unwrap_or(f64::NAN))
        .collect();
    let by_feature = Panel {
        id: format!("drift-features-{}", model.name),
        title: format!(
            "{}: each feature in the newest run ({})",
            model.name,
            // A run of a customer table has no day of its data: the day it was scored.
            newest
                .as_of
                .clone()
                .unwrap_or_else(|| newest.created_at.chars().take(10).collect())
        ),
        alt: format!(
            "Bar chart of the population stability index of {}'s {} features and its \
             prediction in its newest scoring run; {} drifted.",
            model.name,
            rows.len().saturating_sub(1),
            rows.iter().filter(|f| f["drift"] == true).count()
        ),
        caption: Some("PSI below 0.1: stable; 0.1 to 0.25: moderate; above: significant.".into()),
        width: Width::Half,
        chart: Some(Chart::Bar {
            categories: rows
                .iter()
                .map(|f| f["feature"].as_str().unwrap_or_default().to_string())
                .collect(),
            series: vec![Series::new("PSI", psi)],
            stacked: false,
            horizontal: true,
            x_label: "feature".into(),
            y_label: "PSI".into(),
            format: Format::Number,
        }),
        table: features,
    };
    vec![over_time, by_feature]
}

fn performance_panel(model: &ModelRecord) -> Option<Panel> {
    if model.performance.is_empty() {
        return None;
    }
    let churn = model
        .performance
        .iter()
        .any(|p| p.metrics.get("churn_rate").is_some());
    let mut days: Vec<&str> = model.performance.iter().map(|p| p.as_of.as_str()).collect();
    days.dedup();
    let value = |kind: PerformanceKind, key: &str| -> Vec<f64> {
        days.iter()
            .map(|d| {
                model
                    .performance
                    .iter()
                    .find(|p| p.as_of == *d && p.kind == kind)
                    .and_then(|p| p.metrics[key].as_f64())
                    .unwrap_or(f64::NAN)
            })
            .collect()
    };
    let (series, y_label, format) = if churn {
        (
            vec![
                Series::new(
                    "realised log loss",
                    value(PerformanceKind::Realised, "log_loss"),
                ),
                Series {
                    dashed: true,
                    ..Series::new(
                        "estimated log loss (CBPE)",
                        value(PerformanceKind::Estimated, "log_loss"),
                    )
                },
                Series::new("realised AUC", value(PerformanceKind::Realised, "auc")),
                Series {
                    dashed: true,
                    ..Series::new(
                        "estimated AUC (CBPE)",
                        value(PerformanceKind::Estimated, "auc"),
                    )
                },
            ],
            "log loss, AUC",
            Format::Number,
        )
    } else {
        (
            vec![
                Series::new(
                    "actual purchases",
                    value(PerformanceKind::Realised, "actual_purchases"),
                ),
                Series {
                    dashed: true,
                    ..Series::new(
                        "expected purchases",
                        value(PerformanceKind::Realised, "predicted_purchases"),
                    )
                },
            ],
            "purchases in the window",
            Format::Number,
        )
    };
    let mut table = Table::new(&[
        ("as_of", "As of", Format::Text),
        ("horizon_end", "Window end", Format::Text),
        ("version", "Version", Format::Int),
        ("kind", "Kind", Format::Text),
        ("customers", "Customers", Format::Int),
        ("auc", "AUC", Format::Number),
        ("log_loss", "Log loss", Format::Number),
        ("churn_rate", "Churn rate", Format::Share),
        ("mean_predicted", "Mean predicted", Format::Share),
        ("predicted_purchases", "Expected purchases", Format::Number),
        ("actual_purchases", "Actual purchases", Format::Number),
        ("purchases_mae", "Purchases MAE", Format::Number),
    ]);
    for p in &model.performance {
        let kind = p.kind.as_str();
        let m = |k: &str| p.metrics.get(k).cloned().unwrap_or(Value::Null);
        table.push(vec![
            json!(p.as_of),
            json!(p.horizon_end),
            json!(p.version),
            json!(kind),
            json!(p.customers),
            m("auc"),
            m("log_loss"),
            m("churn_rate"),
            if p.kind == PerformanceKind::Realised {
                m("mean_predicted")
            } else {
                m("churn_rate")
            },
            m("predicted_purchases"),
            m("actual_purchases"),
            m("purchases_mae"),
        ]);
    }
    Some(Panel {
        id: format!("performance-{}", model.name),
        title: format!("{}: realised and estimated performance", model.name),
        alt: format!(
            "Line chart of {}'s performance by the day its customers were scored, {} days: {}.",
            model.name,
            days.len(),
            series
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        caption: Some(
            "Realised once the run's window has passed; estimated before from the model's own \
             probabilities (CBPE, which assumes they are still calibrated)."
                .into(),
        ),
        width: Width::Full,
        chart: Some(Chart::Line {
            x_type: XType::Category,
            x: days.iter().map(|d| json!(d)).collect(),
            series,
            x_label: "scored as of".into(),
            y_label: y_label.into(),
            format,
            y_min: None,
            y_max: None,
            markers: vec![],
        }),
        table,
    })
}

fn decisions_panel(model: &ModelRecord) -> Option<Panel> {
    if model.decisions.is_empty() {
        return None;
    }
    let mut table = Table::new(&[
        ("decided_at", "Decided", Format::Text),
        ("decision", "Decision", Format::Text),
        ("champion", "Champion", Format::Int),
        ("challenger", "Challenger", Format::Int),
        ("window", "Window", Format::Text),
        ("metric", "Metric", Format::Text),
        ("champion_score", "Champion's", Format::Number),
        ("challenger_score", "Challenger's", Format::Number),
        ("reason", "Reason", Format::Text),
    ]);
    for d in &model.decisions {
        let e = &d.evidence;
        table.push(vec![
            json!(d.decided_at),
            json!(d.decision),
            json!(d.champion_version),
            json!(d.challenger_version),
            json!(format!(
                "{} to {}",
                e["window"][0].as_str().unwrap_or_default(),
                e["window"][1].as_str().unwrap_or_default()
            )),
            e["margins"]["metric"].clone(),
            e["champion"]["score"].clone(),
            e["challenger"]["score"].clone(),
            e["reason"].clone(),
        ]);
    }
    let promoted = model
        .decisions
        .iter()
        .filter(|d| d.decision == "promoted")
        .count();
    Some(Panel {
        id: format!("decisions-{}", model.name),
        title: format!("{}: champion and challenger", model.name),
        alt: format!(
            "Table of {}'s {} retraining decisions, {} promotions.",
            model.name,
            model.decisions.len(),
            promoted
        ),
        caption: Some(
            "A challenger is promoted only when it beats the champion by both margins on the \
             same out-of-time window and passes the checks; `retain registry rollback` undoes it."
                .into(),
        ),
        width: Width::Full,
        chart: None,
        table,
    })
}

/// The page.
pub fn production_page(runs: &[PipelineRun], models: &[ModelRecord]) -> Page {
    let mut panels = vec![runs_panel(runs)];
    for model in models {
        panels.extend(drift_panels(model));
        panels.extend(performance_panel(model));
        panels.extend(decisions_panel(model));
    }
    let failed = runs
        .iter()
        .filter(|r| r.status == retain_store::PipelineStatus::Failed)
        .count();
    Page {
        page: "production".into(),
        title: "Production".into(),
        subtitle: format!(
            "{} pipeline runs ({} failed), {} monitored models",
            runs.len(),
            failed,
            models.len()
        ),
        notes: if runs.is_empty() && models.is_empty() {
            vec![
                "No pipeline has run and no model has a drift report yet: `retain run \
                 PIPELINE.toml`, or `retain serve --schedule DIR`."
                    .into(),
            ]
        } else {
            vec![]
        },
        filters: None,
        panels,
    }
}
