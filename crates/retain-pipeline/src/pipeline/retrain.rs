//! Champion and challenger: a challenger trained on the latest data replaces the production
//! model only when it wins on the same, most recent out-of-time window by the configured
//! margins and passes the sanity checks; otherwise it waits under the alias `challenger`.
//!
//! With the data ending on E and a horizon H, the evaluation window is (E − H, E]: both models
//! score the customers as they were on E − H and are measured against what those customers did
//! in the window. The challenger is trained on the data before the window (a churn model's
//! labels end on E − H, a purchase model is fitted at E − H), so the window is out of time for
//! it; it is out of time for the champion only when the champion's training data ended by
//! E − H, so retraining waits until then (the step says so).
//!
//! The margins are MLflow's model-validation thresholds: the challenger's metric must beat the
//! champion's by at least `min_absolute_change` and by at least `min_relative_change` of the
//! champion's. The checks: no feature of the champion is missing from the challenger (a column
//! that vanished from the data), the challenger's scores are not constant, and its calibration
//! has not collapsed (churn: its mean probability within 0.1 of the window's churn rate, its
//! calibration error at most twice the champion's or 0.05).

use retain_data::dates::{format_day, parse_date, DateFormat};
use retain_data::PurchaseHistory;
use retain_scoring::{Artifact, FeatureRecipe, JsonScoring, Scorer};
use serde::{Deserialize, Serialize};

use super::spec::{ModelKind, ModelSpec};
use crate::error::invalid;
use crate::performance::{realised_churn, realised_purchases, ChurnPerformance};
use crate::Result;

/// The metric a challenger must win on, and by how much (MLflow's `MetricThreshold`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Promotion {
    /// Churn: `log_loss` (default), `auc`, `brier`; purchase models: `purchases_mae`.
    #[serde(default)]
    pub metric: Option<String>,
    #[serde(default)]
    pub min_absolute_change: Option<f64>,
    #[serde(default)]
    pub min_relative_change: Option<f64>,
}

/// The promotion rule as applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Margins {
    pub metric: String,
    pub greater_is_better: bool,
    pub min_absolute_change: f64,
    pub min_relative_change: f64,
}

impl Promotion {
    pub fn margins(&self, kind: ModelKind) -> Result<Margins> {
        let default_metric = match kind {
            ModelKind::Churn => "log_loss",
            ModelKind::Purchase(_) => "purchases_mae",
        };
        let metric = self.metric.clone().unwrap_or_else(|| default_metric.into());
        let greater_is_better = match (kind, metric.as_str()) {
            (ModelKind::Churn, "auc") => true,
            (ModelKind::Churn, "log_loss" | "brier") => false,
            (ModelKind::Purchase(_), "purchases_mae") => false,
            (_, other) => {
                return Err(invalid!(
                    "promotion metric {other:?}: expected log_loss, auc or brier for a churn \
                     model, purchases_mae for a purchase model"
                ))
            }
        };
        let (abs, rel) = match metric.as_str() {
            "auc" => (0.005, 0.005),
            "log_loss" | "brier" => (0.002, 0.01),
            _ => (0.01, 0.02),
        };
        Ok(Margins {
            metric,
            greater_is_better,
            min_absolute_change: self.min_absolute_change.unwrap_or(abs),
            min_relative_change: self.min_relative_change.unwrap_or(rel),
        })
    }
}

/// One model's measure on the evaluation window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub version: i64,
    /// The metrics on the window (churn: AUC, log loss, Brier, churn rate, mean predicted,
    /// calibration; purchase models: predicted and actual purchases).
    pub metrics: serde_json::Value,
    /// The metric the decision reads.
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub check: String,
    pub passed: bool,
    pub detail: String,
}

/// What a retraining decided, with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub model: String,
    /// `promoted` (production moved to the challenger) or `kept` (the challenger is set as
    /// `challenger`).
    pub decision: String,
    pub reason: String,
    /// The evaluation window, (from, to].
    pub window: (String, String),
    pub champion: Candidate,
    pub challenger: Candidate,
    pub margins: Margins,
    pub checks: Vec<Check>,
}

/// Whether the window is out of time for the champion: the last day of data it was trained
/// on, when its file says.
pub fn trained_through(bytes: &[u8]) -> Option<i32> {
    match Artifact::from_bytes(bytes).ok()? {
        Artifact::Boosted(a) => {
            let cutoff = parse_date(a.training.cutoff.as_deref()?.as_bytes(), &DateFormat::Auto)?;
            match &a.recipe {
                FeatureRecipe::Transactions(r) => Some(cutoff + r.horizon_days),
                FeatureRecipe::Table { .. } => None,
            }
        }
        Artifact::Purchase { record, .. } => parse_date(
            record.get("fitted_at")?.as_str()?.as_bytes(),
            &DateFormat::Auto,
        ),
        Artifact::Segments(_) => None,
    }
}

/// Measures a model file on the window (`from`, `from + horizon`]: its metrics and the value of
/// the deciding metric.
pub fn evaluate(
    bytes: &[u8],
    spec: &ModelSpec,
    history: &PurchaseHistory,
    from: i32,
    metric: &str,
) -> Result<(serde_json::Value, f64, Vec<String>)> {
    let scorer = Scorer::from_bytes(bytes)?;
    let horizon = spec.horizon_days;
    let features: Vec<String> = scorer
        .schema()
        .features
        .iter()
        .map(|f| f.name.clone())
        .collect();
    match spec.kind()? {
        ModelKind::Churn => {
            let Some(FeatureRecipe::Transactions(recipe)) = scorer.boosted().map(|a| &a.recipe)
            else {
                return Err(invalid!(
                    "{}: not a churn model trained from a log",
                    spec.name
                ));
            };
            let made = recipe.features(history, from)?;
            let ids: Vec<Option<String>> = made
                .customers
                .iter()
                .map(|&k| Some(history.id(k).to_string()))
                .collect();
            let scored = scorer.score_frame(&made.frame, ids, 0)?;
            let stored = stored_scores(&scored.predictions);
            let performance = realised_churn(&stored, history, from, horizon);
            let score = churn_metric(&performance, metric);
            Ok((
                serde_json::to_value(&performance).expect("serializes"),
                score,
                features,
            ))
        }
        ModelKind::Purchase(_) => {
            let purchase = scorer
                .purchase()
                .ok_or_else(|| invalid!("{}: not a purchase model", spec.name))?;
            let how = JsonScoring {
                horizon: Some(f64::from(horizon) / 7.0),
                reasons: 0,
                ..JsonScoring::default()
            };
            let (predictions, _) = purchase.score_history(history, from, &how)?;
            let stored = stored_scores(&predictions);
            let performance = realised_purchases(&stored, history, from, horizon);
            let score = performance.purchases_mae;
            Ok((
                serde_json::to_value(&performance).expect("serializes"),
                score,
                features,
            ))
        }
    }
}

fn stored_scores(
    predictions: &[retain_scoring::Prediction],
) -> Vec<retain_store::StoredPrediction> {
    predictions
        .iter()
        .map(|p| retain_store::StoredPrediction {
            customer_id: p.customer_id.clone().unwrap_or_default(),
            score: p.score,
            label: None,
            reasons: serde_json::Value::Null,
            details: p.details(),
        })
        .collect()
}

fn churn_metric(p: &ChurnPerformance, metric: &str) -> f64 {
    match metric {
        "auc" => p.auc,
        "brier" => p.brier,
        _ => p.log_loss,
    }
}

/// The decision between a champion and a challenger measured on one window.
pub fn decide(
    model: &str,
    window: (i32, i32),
    champion: Candidate,
    champion_features: &[String],
    challenger: Candidate,
    challenger_features: &[String],
    margins: Margins,
) -> Decision {
    let (better, base) = if margins.greater_is_better {
        (challenger.score - champion.score, champion.score)
    } else {
        (champion.score - challenger.score, champion.score)
    };
    let relative = if base.abs() > 0.0 {
        better / base.abs()
    } else {
        f64::INFINITY
    };
    let wins = better >= margins.min_absolute_change && relative >= margins.min_relative_change;
    let mut checks = Vec::new();
    let missing: Vec<&String> = champion_features
        .iter()
        .filter(|f| !challenger_features.contains(f))
        .collect();
    checks.push(Check {
        check: "no feature missing".into(),
        passed: missing.is_empty(),
        detail: if missing.is_empty() {
            format!(
                "the challenger reads all {} of the champion's features",
                champion_features.len()
            )
        } else {
            format!("the challenger lacks {missing:?}")
        },
    });
    if let Some(rate) = challenger.metrics["churn_rate"].as_f64() {
        let mean = challenger.metrics["mean_predicted"]
            .as_f64()
            .unwrap_or(f64::NAN);
        let error = challenger.metrics["calibration_error"]
            .as_f64()
            .unwrap_or(f64::NAN);
        let champion_error = champion.metrics["calibration_error"]
            .as_f64()
            .unwrap_or(0.0);
        let allowed = (2.0 * champion_error).max(0.05);
        checks.push(Check {
            check: "calibration holds".into(),
            passed: (mean - rate).abs() <= 0.1 && error <= allowed,
            detail: format!(
                "mean probability {mean:.3} against a churn rate of {rate:.3}; calibration error \
                 {error:.3} (allowed {allowed:.3})"
            ),
        });
        let spread = challenger.metrics["calibration"]
            .as_array()
            .map_or(0, |bins| bins.len());
        checks.push(Check {
            check: "scores vary".into(),
            passed: spread > 1,
            detail: format!("scores fall in {spread} of 10 probability bins"),
        });
    }
    let sane = checks.iter().all(|c| c.passed);
    let promote = wins && sane && challenger.version != champion.version;
    let reason = if challenger.version == champion.version {
        "the challenger is the champion: trained on the same data, it made the same model".into()
    } else if !wins {
        format!(
            "the challenger's {} ({:.4}) does not beat the champion's ({:.4}) by {} and {:.1}%",
            margins.metric,
            challenger.score,
            champion.score,
            margins.min_absolute_change,
            100.0 * margins.min_relative_change
        )
    } else if !sane {
        let failed: Vec<&str> = checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.check.as_str())
            .collect();
        format!(
            "the challenger wins on {} but fails: {}",
            margins.metric,
            failed.join(", ")
        )
    } else {
        format!(
            "the challenger's {} ({:.4}) beats the champion's ({:.4}) by {:.4} ({:.1}%)",
            margins.metric,
            challenger.score,
            champion.score,
            better,
            100.0 * relative
        )
    };
    Decision {
        model: model.to_string(),
        decision: if promote { "promoted" } else { "kept" }.into(),
        reason,
        window: (format_day(window.0), format_day(window.1)),
        champion,
        challenger,
        margins,
        checks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn churn(version: i64, log_loss: f64, mean: f64, rate: f64, error: f64) -> Candidate {
        Candidate {
            version,
            metrics: json!({
                "log_loss": log_loss, "mean_predicted": mean, "churn_rate": rate,
                "calibration_error": error, "calibration": [{}, {}, {}],
            }),
            score: log_loss,
        }
    }

    fn margins() -> Margins {
        Promotion::default().margins(ModelKind::Churn).unwrap()
    }

    fn features(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn decide_between(champion: Candidate, challenger: Candidate, lacks: bool) -> Decision {
        let all = features(&["recency_days", "tenure_days"]);
        let challenger_features = if lacks {
            features(&["tenure_days"])
        } else {
            all.clone()
        };
        decide(
            "churn",
            (0, 90),
            champion,
            &all,
            challenger,
            &challenger_features,
            margins(),
        )
    }

    #[test]
    fn a_challenger_that_wins_by_both_margins_is_promoted() {
        let d = decide_between(
            churn(1, 0.50, 0.30, 0.31, 0.02),
            churn(2, 0.45, 0.30, 0.31, 0.02),
            false,
        );
        assert_eq!(d.decision, "promoted", "{}", d.reason);
        assert!(d.checks.iter().all(|c| c.passed));
        assert_eq!(d.margins.metric, "log_loss");
        assert!(!d.margins.greater_is_better);
    }

    #[test]
    fn too_small_a_gain_keeps_the_champion() {
        // 0.001 better: under the absolute margin of 0.002.
        let d = decide_between(
            churn(1, 0.500, 0.3, 0.3, 0.02),
            churn(2, 0.499, 0.3, 0.3, 0.02),
            false,
        );
        assert_eq!(d.decision, "kept");
        assert!(d.reason.contains("does not beat"), "{}", d.reason);
        // AUC: higher is better, and its own margins.
        let m = Promotion {
            metric: Some("auc".into()),
            ..Promotion::default()
        }
        .margins(ModelKind::Churn)
        .unwrap();
        assert!(m.greater_is_better);
        let mut champion = churn(1, 0.5, 0.3, 0.3, 0.02);
        champion.score = 0.70;
        let mut challenger = churn(2, 0.5, 0.3, 0.3, 0.02);
        challenger.score = 0.72;
        let all = features(&["x"]);
        assert_eq!(
            decide("c", (0, 90), champion, &all, challenger, &all, m).decision,
            "promoted"
        );
    }

    #[test]
    fn a_winner_that_fails_a_check_is_not_promoted() {
        // Collapsed calibration: predicts 0.6 where 0.3 churned.
        let d = decide_between(
            churn(1, 0.50, 0.3, 0.3, 0.02),
            churn(2, 0.40, 0.6, 0.3, 0.3),
            false,
        );
        assert_eq!(d.decision, "kept");
        assert!(d.reason.contains("calibration holds"), "{}", d.reason);
        // A feature of the champion missing from the challenger.
        let d = decide_between(
            churn(1, 0.50, 0.3, 0.3, 0.02),
            churn(2, 0.40, 0.3, 0.3, 0.02),
            true,
        );
        assert_eq!(d.decision, "kept");
        assert!(d.reason.contains("no feature missing"), "{}", d.reason);
    }

    #[test]
    fn a_challenger_identical_to_the_champion_changes_nothing() {
        let d = decide_between(
            churn(1, 0.5, 0.3, 0.3, 0.02),
            churn(1, 0.5, 0.3, 0.3, 0.02),
            false,
        );
        assert_eq!(d.decision, "kept");
        assert!(d.reason.contains("is the champion"));
    }

    #[test]
    fn unknown_metrics_are_refused() {
        let p = Promotion {
            metric: Some("accuracy".into()),
            ..Promotion::default()
        };
        assert!(p.margins(ModelKind::Churn).is_err());
        let p = Promotion {
            metric: Some("auc".into()),
            ..Promotion::default()
        };
        let purchase = ModelKind::Purchase(crate::fit::PurchaseModelKind::BgNbd);
        assert!(p.margins(purchase).is_err());
        assert_eq!(
            Promotion::default().margins(purchase).unwrap().metric,
            "purchases_mae"
        );
    }
}
