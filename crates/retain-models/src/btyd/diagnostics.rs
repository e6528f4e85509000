//! Model checks on held-out data: the calibration-vs-holdout table (Fader, Hardie & Lee 2005,
//! figure 4; lifetimes' `plot_calibration_purchases_vs_holdout_purchases`), mean purchases in
//! the holdout period, actual and predicted, for customers grouped by calibration frequency.

use serde::Serialize;

use super::{ModelError, PurchaseModel};

/// One group of the calibration-vs-holdout table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HoldoutGroup {
    /// Repeat purchases in calibration: "0", "1", …, or "7+" for the pooled tail.
    pub frequency: String,
    pub customers: u64,
    pub actual: f64,
    pub predicted: f64,
}

/// Groups customers by calibration frequency (0 to `pooled_from - 1`, then `pooled_from`+ in
/// one group) and compares mean actual holdout purchases with the model's expectation over
/// each customer's holdout duration.
pub fn calibration_vs_holdout(
    model: &dyn PurchaseModel,
    (frequency, recency, t): (&[f64], &[f64], &[f64]),
    (frequency_holdout, duration_holdout): (&[f64], &[f64]),
    pooled_from: usize,
) -> Result<Vec<HoldoutGroup>, ModelError> {
    let groups = pooled_from + 1;
    let (mut n, mut actual, mut predicted) =
        (vec![0u64; groups], vec![0.0; groups], vec![0.0; groups]);
    for i in 0..frequency.len() {
        let g = (frequency[i] as usize).min(pooled_from);
        n[g] += 1;
        actual[g] += frequency_holdout[i];
        predicted[g] +=
            model.expected_purchases(duration_holdout[i], frequency[i], recency[i], t[i])?;
    }
    Ok((0..groups)
        .filter(|&g| n[g] > 0)
        .map(|g| HoldoutGroup {
            frequency: if g == pooled_from {
                format!("{g}+")
            } else {
                g.to_string()
            },
            customers: n[g],
            actual: actual[g] / n[g] as f64,
            predicted: predicted[g] / n[g] as f64,
        })
        .collect())
}
