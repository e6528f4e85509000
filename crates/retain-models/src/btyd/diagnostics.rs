//! The standard checks of a purchase model against what customers did:
//! - the calibration-vs-holdout table (Fader, Hardie & Lee 2005, figure 4; lifetimes'
//!   `plot_calibration_purchases_vs_holdout_purchases`): mean purchases in the holdout period,
//!   actual and predicted, for customers grouped by calibration frequency;
//! - tracking (FHL 2005, figure 2; lifetimes' `expected_cumulative_transactions`): repeat
//!   transactions of the whole customer base over time, cumulative and per period, actual and
//!   as the model expects from each customer's date of first purchase.

use serde::Serialize;

use super::PurchaseModel;
use crate::ModelError;

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

/// One point of the tracking table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackingPoint {
    /// Time since the origin (the first first-purchase), in the model's unit.
    pub time: f64,
    /// Repeat transactions before `time`: actual and expected.
    pub actual_cumulative: f64,
    pub expected_cumulative: f64,
    /// The same since the previous point.
    pub actual_incremental: f64,
    pub expected_incremental: f64,
}

/// Repeat transactions before each of `times`, actual and expected, as lifetimes'
/// `expected_cumulative_transactions` computes them: a customer whose first purchase is at b
/// is expected to have made E[X(t - b)] repeat purchases by t (the new-customer expectation);
/// the actual count is of repeat transactions dated before t. `first_purchases` and
/// `repeat_purchases` are (time, count) pairs; times in the model's unit since the origin.
pub fn tracking(
    model: &dyn PurchaseModel,
    first_purchases: &[(f64, f64)],
    repeat_purchases: &[(f64, f64)],
    times: &[f64],
) -> Result<Vec<TrackingPoint>, ModelError> {
    let mut points: Vec<TrackingPoint> = Vec::with_capacity(times.len());
    for &t in times {
        let mut expected = 0.0;
        for &(born, customers) in first_purchases.iter().filter(|(b, _)| *b < t) {
            expected += customers * model.expected_purchases_new(t - born)?;
        }
        let actual: f64 = repeat_purchases
            .iter()
            .filter(|(d, _)| *d < t)
            .map(|(_, n)| n)
            .sum();
        let (actual_before, expected_before) = points
            .last()
            .map_or((0.0, 0.0), |p| (p.actual_cumulative, p.expected_cumulative));
        points.push(TrackingPoint {
            time: t,
            actual_cumulative: actual,
            expected_cumulative: expected,
            actual_incremental: actual - actual_before,
            expected_incremental: expected - expected_before,
        });
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btyd::BgNbd;

    #[test]
    fn tracking_adds_up_each_cohort_expectation_and_counts_repeats_before_each_time() {
        let m = BgNbd {
            r: 0.243,
            alpha: 4.414,
            a: 0.793,
            b: 2.426,
        };
        // 10 customers start at 0, 5 at 1.5; repeats at 0.5 (2 of them) and 2.0 (3).
        let points = tracking(
            &m,
            &[(0.0, 10.0), (1.5, 5.0)],
            &[(0.5, 2.0), (2.0, 3.0)],
            &[1.0, 2.0, 3.0],
        )
        .unwrap();
        let e = |t: f64| m.expected_purchases_new(t).unwrap();
        let want = [
            10.0 * e(1.0),
            10.0 * e(2.0) + 5.0 * e(0.5),
            10.0 * e(3.0) + 5.0 * e(1.5),
        ];
        for (p, w) in points.iter().zip(want) {
            assert!((p.expected_cumulative - w).abs() < 1e-12, "{p:?} vs {w}");
        }
        let actual: Vec<f64> = points.iter().map(|p| p.actual_cumulative).collect();
        assert_eq!(actual, [2.0, 2.0, 5.0]);
        assert_eq!(points[2].actual_incremental, 3.0);
        assert!((points[1].expected_incremental - (want[1] - want[0])).abs() < 1e-12);
    }
}
