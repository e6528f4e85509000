//! How good a score is: for probabilities of a yes/no outcome, AUC, log loss, Brier score and a
//! calibration table; for predicted amounts, RMSE, MAE, Spearman's rank correlation and the
//! share of the actual total captured by the top decile of predictions. Definitions follow
//! scikit-learn's (`roc_auc_score`, `log_loss`, `brier_score_loss`) and SciPy's `spearmanr`.

use serde::Serialize;

/// Ranks 1..=n of `values`, ties sharing the average of their ranks.
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && values[order[end + 1]] == values[order[start]] {
            end += 1;
        }
        let rank = (start + end) as f64 / 2.0 + 1.0;
        for &i in &order[start..=end] {
            ranks[i] = rank;
        }
        start = end + 1;
    }
    ranks
}

/// Area under the ROC curve of `scores` for the outcomes `y` (1 = positive), by the rank-sum
/// (Mann-Whitney) formula, ties counting one half. NaN when one class is absent.
pub fn auc(y: &[f64], scores: &[f64]) -> f64 {
    let ranks = average_ranks(scores);
    let positives = y.iter().filter(|&&v| v == 1.0).count() as f64;
    let negatives = y.len() as f64 - positives;
    let rank_sum: f64 = ranks
        .iter()
        .zip(y)
        .filter(|(_, &v)| v == 1.0)
        .map(|(r, _)| r)
        .sum();
    (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
}

/// Mean negative log-likelihood of probabilities `p`, clipped to [1e-15, 1 − 1e-15].
pub fn log_loss(y: &[f64], p: &[f64]) -> f64 {
    let eps = 1e-15;
    let total: f64 = y
        .iter()
        .zip(p)
        .map(|(&y, &p)| {
            let p = p.clamp(eps, 1.0 - eps);
            -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
        })
        .sum();
    total / y.len() as f64
}

/// Mean squared difference between probabilities and outcomes.
pub fn brier(y: &[f64], p: &[f64]) -> f64 {
    y.iter().zip(p).map(|(y, p)| (p - y) * (p - y)).sum::<f64>() / y.len() as f64
}

/// One bin of a calibration table: customers whose predicted probability fell in
/// `[lower, upper)` (the last bin includes 1).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationBin {
    pub lower: f64,
    pub upper: f64,
    pub customers: usize,
    pub mean_predicted: f64,
    pub observed_rate: f64,
}

/// Predicted against observed rates in `bins` equal-width probability bins; empty bins are left
/// out.
pub fn calibration_table(y: &[f64], p: &[f64], bins: usize) -> Vec<CalibrationBin> {
    let mut sums = vec![(0usize, 0.0, 0.0); bins];
    for (&y, &p) in y.iter().zip(p) {
        let bin = ((p * bins as f64) as usize).min(bins - 1);
        sums[bin].0 += 1;
        sums[bin].1 += p;
        sums[bin].2 += y;
    }
    sums.iter()
        .enumerate()
        .filter(|(_, s)| s.0 > 0)
        .map(|(bin, &(n, p, y))| CalibrationBin {
            lower: bin as f64 / bins as f64,
            upper: (bin + 1) as f64 / bins as f64,
            customers: n,
            mean_predicted: p / n as f64,
            observed_rate: y / n as f64,
        })
        .collect()
}

/// Root mean squared error.
pub fn rmse(y: &[f64], predicted: &[f64]) -> f64 {
    (y.iter()
        .zip(predicted)
        .map(|(y, p)| (p - y) * (p - y))
        .sum::<f64>()
        / y.len() as f64)
        .sqrt()
}

/// Mean absolute error.
pub fn mae(y: &[f64], predicted: &[f64]) -> f64 {
    y.iter()
        .zip(predicted)
        .map(|(y, p)| (p - y).abs())
        .sum::<f64>()
        / y.len() as f64
}

/// Spearman's rank correlation: Pearson's correlation of the average ranks.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    pearson(&average_ranks(a), &average_ranks(b))
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    sab / (saa * sbb).sqrt()
}

/// The share of the actual total that the customers ranked in the top `share` (e.g. 0.1) by
/// `predicted` account for: how much value a campaign aimed at them would reach. Ties at the
/// boundary are broken by row order.
pub fn top_share_captured(actual: &[f64], predicted: &[f64], share: f64) -> f64 {
    let total: f64 = actual.iter().sum();
    let mut order: Vec<usize> = (0..actual.len()).collect();
    order.sort_by(|&a, &b| predicted[b].total_cmp(&predicted[a]));
    let take = ((actual.len() as f64 * share).round() as usize).max(1);
    order[..take].iter().map(|&i| actual[i]).sum::<f64>() / total
}

/// Metrics of a yes/no model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassificationMetrics {
    pub auc: f64,
    pub log_loss: f64,
    pub brier: f64,
    /// Share of positives among the outcomes.
    pub base_rate: f64,
}

impl ClassificationMetrics {
    pub fn of(y: &[f64], p: &[f64]) -> ClassificationMetrics {
        ClassificationMetrics {
            auc: auc(y, p),
            log_loss: log_loss(y, p),
            brier: brier(y, p),
            base_rate: y.iter().sum::<f64>() / y.len() as f64,
        }
    }
}

/// Metrics of an amount model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegressionMetrics {
    pub rmse: f64,
    pub mae: f64,
    pub spearman: f64,
    /// Share of the actual total in the top decile of predictions.
    pub top_decile_share: f64,
}

impl RegressionMetrics {
    pub fn of(y: &[f64], predicted: &[f64]) -> RegressionMetrics {
        RegressionMetrics {
            rmse: rmse(y, predicted),
            mae: mae(y, predicted),
            spearman: spearman(y, predicted),
            top_decile_share: top_share_captured(y, predicted, 0.1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values from scikit-learn 1.9.1 / SciPy 1.17.1 on the same vectors:
    // roc_auc_score, log_loss, brier_score_loss, spearmanr.
    const Y: [f64; 8] = [0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0];
    const P: [f64; 8] = [0.1, 0.4, 0.35, 0.8, 0.4, 0.9, 0.2, 0.4];

    #[test]
    fn auc_counts_ties_as_half() {
        // Pairs (positive, negative): 16; positive above negative in 12, ties (0.4 vs 0.4,
        // 0.4) 2 → (12 + 1) / 16.
        assert!((auc(&Y, &P) - 0.8125).abs() < 1e-15);
        assert!((auc(&[0.0, 1.0], &[0.2, 0.7]) - 1.0).abs() < 1e-15);
        assert!((auc(&[1.0, 0.0], &[0.2, 0.7]) - 0.0).abs() < 1e-15);
    }

    #[test]
    fn probability_losses_match_their_definitions() {
        let expected_log_loss = [0.9f64, 0.6, 0.35, 0.8, 0.6, 0.9, 0.8, 0.4]
            .iter()
            .map(|p| -p.ln())
            .sum::<f64>()
            / 8.0;
        assert!((log_loss(&Y, &P) - expected_log_loss).abs() < 1e-15);
        assert!(
            (log_loss(&Y, &P) - 0.455_596_529_731_110_8).abs() < 1e-12,
            "sklearn log_loss"
        );
        assert!(
            (brier(&Y, &P) - 0.150_312_5).abs() < 1e-12,
            "sklearn brier_score_loss"
        );
        // A certain, wrong prediction is clipped, not infinite.
        assert!(log_loss(&[1.0], &[0.0]).is_finite());
    }

    #[test]
    fn calibration_bins_hold_their_customers() {
        let table = calibration_table(&Y, &P, 5);
        assert_eq!(table.iter().map(|b| b.customers).sum::<usize>(), 8);
        let bin = table.iter().find(|b| b.lower == 0.4).unwrap();
        assert_eq!(bin.customers, 3);
        assert!((bin.observed_rate - 1.0 / 3.0).abs() < 1e-15);
        assert_eq!(table.last().unwrap().upper, 1.0);
    }

    #[test]
    fn amount_metrics() {
        let y = [0.0, 10.0, 0.0, 50.0, 5.0, 0.0, 100.0, 20.0, 0.0, 15.0];
        let p = [1.0, 8.0, 2.0, 30.0, 9.0, 0.5, 70.0, 25.0, 1.0, 10.0];
        assert!((mae(&y, &p) - 7.05).abs() < 1e-12);
        // sqrt(mean of squared errors) by hand: (1+4+4+400+16+0.25+900+25+1+25)/10.
        assert!((rmse(&y, &p) - 137.625f64.sqrt()).abs() < 1e-12);
        assert!(
            (spearman(&y, &p) - 0.959_629_649_255_037_9).abs() < 1e-12,
            "scipy spearmanr"
        );
        // Top decile (1 of 10) by prediction is the 100: 100 / 200.
        assert!((top_share_captured(&y, &p, 0.1) - 0.5).abs() < 1e-15);
    }
}
