//! How a model's predictions fared: once a scoring run's horizon has passed, its stored
//! predictions against what the customers did (realised); before that, what the model's own
//! probabilities say it should achieve (estimated, NannyML's confidence-based performance
//! estimation, CBPE).
//!
//! - Churn (a customer churned when they bought nothing in the `horizon_days` after `as_of`):
//!   ROC AUC, log loss, Brier score, the churn rate against the mean predicted probability, and
//!   the calibration table (ten bins of predicted probability).
//! - Purchase models: the purchases each customer made in the window (days with a purchase)
//!   against the expected purchases, per customer (mean absolute error) and in total; spend in
//!   the window against expected purchases × expected spend, when the model has a spend model.
//!
//! CBPE assumes the probabilities are calibrated for the customers scored: P(churn | score) is
//! what it was at training. Then each customer churns with their probability p, and every
//! metric has an expectation: churn rate Σp/n; log loss −Σ(p ln p + (1−p) ln(1−p))/n; Brier
//! Σp(1−p)/n; ROC AUC the area under the curve whose points are the expected true and false
//! positive rates at each threshold, (Σ_{s≥t} p / Σp, Σ_{s≥t} (1−p) / Σ(1−p)). Under concept
//! drift (the same customers now churning at other rates) the estimate is wrong, which only the
//! realised value shows: both are stored, the realised one when the horizon has passed.

use std::collections::HashMap;

use retain_data::PurchaseHistory;
use retain_models::supervised::metrics::{auc, brier, calibration_table, log_loss};
use retain_store::StoredPrediction;
use serde::Serialize;

/// Realised churn metrics of predictions at `as_of`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChurnPerformance {
    pub customers: usize,
    pub churned: usize,
    pub churn_rate: f64,
    pub mean_predicted: f64,
    pub auc: f64,
    pub log_loss: f64,
    pub brier: f64,
    /// Mean |observed − predicted| over the calibration bins, weighted by customers (the
    /// expected calibration error).
    pub calibration_error: f64,
    pub calibration: Vec<retain_models::supervised::metrics::CalibrationBin>,
}

impl ChurnPerformance {
    /// `churned[i]` is 1 when customer i churned.
    pub fn of(churned: &[f64], predicted: &[f64]) -> ChurnPerformance {
        let n = churned.len().max(1) as f64;
        let calibration = calibration_table(churned, predicted, 10);
        let calibration_error = calibration
            .iter()
            .map(|b| b.customers as f64 * (b.observed_rate - b.mean_predicted).abs())
            .sum::<f64>()
            / n;
        ChurnPerformance {
            customers: churned.len(),
            churned: churned.iter().filter(|&&y| y > 0.5).count(),
            churn_rate: churned.iter().sum::<f64>() / n,
            mean_predicted: predicted.iter().sum::<f64>() / n,
            auc: auc(churned, predicted),
            log_loss: log_loss(churned, predicted),
            brier: brier(churned, predicted),
            calibration_error,
            calibration,
        }
    }
}

/// What churn metrics calibrated probabilities `p` lead one to expect (CBPE).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChurnEstimate {
    pub customers: usize,
    pub churn_rate: f64,
    pub auc: f64,
    pub log_loss: f64,
    pub brier: f64,
}

impl ChurnEstimate {
    pub fn of(p: &[f64]) -> ChurnEstimate {
        let n = p.len().max(1) as f64;
        let clamp = |p: f64| p.clamp(1e-15, 1.0 - 1e-15);
        let log_loss = -p
            .iter()
            .map(|&p| {
                let q = clamp(p);
                q * q.ln() + (1.0 - q) * (1.0 - q).ln()
            })
            .sum::<f64>()
            / n;
        ChurnEstimate {
            customers: p.len(),
            churn_rate: p.iter().sum::<f64>() / n,
            auc: expected_auc(p),
            log_loss,
            brier: p.iter().map(|p| p * (1.0 - p)).sum::<f64>() / n,
        }
    }
}

/// The area under the ROC curve of expected true and false positive rates, thresholds at each
/// distinct score from the highest down (ties move together, as in a realised ROC curve).
fn expected_auc(p: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = p.iter().copied().filter(|x| x.is_finite()).collect();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let positives: f64 = sorted.iter().sum();
    let negatives: f64 = sorted.iter().map(|p| 1.0 - p).sum();
    if positives <= 0.0 || negatives <= 0.0 {
        return f64::NAN;
    }
    let (mut tp, mut fp, mut area) = (0.0, 0.0, 0.0);
    let mut i = 0;
    while i < sorted.len() {
        let (tp0, fp0) = (tp, fp);
        let score = sorted[i];
        while i < sorted.len() && sorted[i] == score {
            tp += sorted[i];
            fp += 1.0 - sorted[i];
            i += 1;
        }
        area += (fp - fp0) / negatives * (tp + tp0) / 2.0 / positives;
    }
    area
}

/// Realised purchases against a purchase model's expectations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PurchasePerformance {
    pub customers: usize,
    pub predicted_purchases: f64,
    pub actual_purchases: f64,
    /// Mean |actual − expected| purchases per customer.
    pub purchases_mae: f64,
    /// Customers who bought in the window, and the expected number who would (Σ 1 − P(none)
    /// when the model gave it).
    pub buyers: usize,
    pub predicted_spend: Option<f64>,
    pub actual_spend: f64,
}

/// Every stored customer's outcome in the window (`as_of`, `as_of + horizon_days`]: days with
/// a purchase and their spend; `None` for a customer the history does not know.
fn outcomes<'a>(
    history: &PurchaseHistory,
    ids: impl Iterator<Item = &'a str>,
    as_of: i32,
    horizon_days: i32,
) -> Vec<Option<(f64, f64)>> {
    let index: HashMap<&str, usize> = (0..history.len()).map(|k| (history.id(k), k)).collect();
    ids.map(|id| {
        let k = *index.get(id)?;
        let days = history.days(k);
        let amounts = history.amounts(k);
        let from = days.partition_point(|&d| d <= as_of);
        let to = days.partition_point(|&d| d <= as_of + horizon_days);
        Some(((to - from) as f64, amounts[from..to].iter().sum()))
    })
    .collect()
}

/// A stored churn run against what happened: customers the log no longer has are left out.
pub fn realised_churn(
    predictions: &[StoredPrediction],
    history: &PurchaseHistory,
    as_of: i32,
    horizon_days: i32,
) -> ChurnPerformance {
    let seen = outcomes(
        history,
        predictions.iter().map(|p| p.customer_id.as_str()),
        as_of,
        horizon_days,
    );
    let (mut churned, mut predicted) = (Vec::new(), Vec::new());
    for (p, outcome) in predictions.iter().zip(seen) {
        if let Some((purchases, _)) = outcome {
            churned.push(if purchases == 0.0 { 1.0 } else { 0.0 });
            predicted.push(p.score);
        }
    }
    ChurnPerformance::of(&churned, &predicted)
}

/// A stored purchase-model run against what happened.
pub fn realised_purchases(
    predictions: &[StoredPrediction],
    history: &PurchaseHistory,
    as_of: i32,
    horizon_days: i32,
) -> PurchasePerformance {
    let seen = outcomes(
        history,
        predictions.iter().map(|p| p.customer_id.as_str()),
        as_of,
        horizon_days,
    );
    let mut out = PurchasePerformance {
        customers: 0,
        predicted_purchases: 0.0,
        actual_purchases: 0.0,
        purchases_mae: 0.0,
        buyers: 0,
        predicted_spend: None,
        actual_spend: 0.0,
    };
    let mut spend_known = true;
    let mut predicted_spend = 0.0;
    for (p, outcome) in predictions.iter().zip(seen) {
        let Some((purchases, spend)) = outcome else {
            continue;
        };
        let detail = |k: &str| p.details.as_ref().and_then(|d| d[k].as_f64());
        let expected = detail("expected_purchases").unwrap_or(0.0);
        out.customers += 1;
        out.predicted_purchases += expected;
        out.actual_purchases += purchases;
        out.purchases_mae += (purchases - expected).abs();
        out.buyers += usize::from(purchases > 0.0);
        out.actual_spend += spend;
        match detail("expected_spend") {
            Some(s) => predicted_spend += expected * s,
            None => spend_known = false,
        }
    }
    out.purchases_mae /= out.customers.max(1) as f64;
    out.predicted_spend = (spend_known && out.customers > 0).then_some(predicted_spend);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_auc_of_certain_scores_is_one_and_of_a_constant_a_half() {
        assert!((expected_auc(&[1.0 - 1e-12, 1e-12, 1.0 - 1e-12, 1e-12]) - 1.0).abs() < 1e-9);
        assert!((expected_auc(&[0.3; 10]) - 0.5).abs() < 1e-12);
    }

    /// Outcomes drawn with the model's own probabilities: the realised metrics land on the
    /// estimated ones (CBPE's premise), within sampling error of 20,000 customers.
    #[test]
    fn calibrated_probabilities_realise_what_they_estimate() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let p: Vec<f64> = (0..20_000).map(|_| rng.random::<f64>().powi(2)).collect();
        let y: Vec<f64> = p
            .iter()
            .map(|&p| if rng.random::<f64>() < p { 1.0 } else { 0.0 })
            .collect();
        let realised = ChurnPerformance::of(&y, &p);
        let estimated = ChurnEstimate::of(&p);
        assert!(
            (realised.auc - estimated.auc).abs() < 0.01,
            "{realised:?} {estimated:?}"
        );
        assert!((realised.log_loss - estimated.log_loss).abs() < 0.01);
        assert!((realised.brier - estimated.brier).abs() < 0.005);
        assert!((realised.churn_rate - estimated.churn_rate).abs() < 0.01);
        assert!(realised.calibration_error < 0.02);
    }
}
