//! Drift: has what a model sees now moved away from what it was trained on? Each feature of
//! the current data is compared with the model's reference sample (its training data) by the
//! test Evidently chooses by default (Evidently 0.7, `_get_default_stattest`):
//!
//! | reference rows | numeric, > 5 distinct values | numeric ≤ 5 or category |
//! |---|---|---|
//! | ≤ 1,000 | two-sample Kolmogorov-Smirnov, drift when p ≤ 0.05 | chi-square (z-test for two values), drift when p < 0.05 |
//! | > 1,000 | Wasserstein distance / reference standard deviation, drift when ≥ 0.1 | Jensen-Shannon distance, drift when ≥ 0.1 |
//!
//! Distinct values are counted over both samples together. Beside the test, every feature gets
//! its population stability index, PSI = Σ (r − c)·ln(r / c) over bins (Sturges' bins over both
//! samples for a number with more than 20 distinct reference values, else one bin per value;
//! an empty bin counts as 0.0001, as Evidently's PSI), read in the usual bands: below 0.1
//! stable, to 0.25 moderate, above significant. Missing values (NaN, no category) are left out
//! of the test and reported as shares; so is the share of current values in a category the
//! reference never had. The data set drifts when at least half the features drift.
//!
//! `tests/fixtures/drift_reference.json` holds Evidently's and scipy's answers for the cases of
//! the tests (made by `tests/fixtures/drift_reference.py`).

mod ks;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};

pub use ks::kolmogorov_sf;

/// The thresholds of the drift tests (Evidently's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DriftOptions {
    /// Up to this many reference rows a feature is tested (KS, chi-square, z); above, its
    /// distance is measured (Wasserstein, Jensen-Shannon).
    pub max_test_reference_rows: usize,
    /// A test's p-value below this is drift.
    pub p_value: f64,
    /// A distance at or above this is drift.
    pub distance: f64,
    /// The data set drifts when at least this share of its features drift.
    pub drift_share: f64,
}

impl Default for DriftOptions {
    fn default() -> DriftOptions {
        DriftOptions {
            max_test_reference_rows: 1000,
            p_value: 0.05,
            distance: 0.1,
            drift_share: 0.5,
        }
    }
}

/// One feature's values: numbers (NaN is missing) or categories (`None` is missing).
#[derive(Debug, Clone, Copy)]
pub enum Values<'a> {
    Numbers(&'a [f64]),
    Categories(&'a [Option<&'a str>]),
}

/// How a feature was compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Method {
    /// Two-sample Kolmogorov-Smirnov test; the statistic is its p-value.
    Ks,
    /// Chi-square test of the current counts against the reference shares; p-value.
    ChiSquare,
    /// z-test of two proportions (a feature with two values); p-value.
    ZTest,
    /// Wasserstein distance divided by the reference's standard deviation.
    Wasserstein,
    /// Jensen-Shannon distance (natural logarithm) between the binned shares.
    JensenShannon,
}

impl Method {
    /// Whether the statistic is a p-value (drift below the threshold) rather than a distance.
    pub fn is_test(self) -> bool {
        matches!(self, Method::Ks | Method::ChiSquare | Method::ZTest)
    }
}

/// The usual reading of a PSI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PsiBand {
    /// PSI < 0.1.
    Stable,
    /// 0.1 ≤ PSI < 0.25.
    Moderate,
    /// PSI ≥ 0.25.
    Significant,
}

impl PsiBand {
    pub fn of(psi: f64) -> PsiBand {
        if psi >= 0.25 {
            PsiBand::Significant
        } else if psi >= 0.1 {
            PsiBand::Moderate
        } else {
            PsiBand::Stable
        }
    }
}

/// One feature's drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeatureDrift {
    pub feature: String,
    pub method: Method,
    /// The p-value or distance; none when either side has no value to compare.
    pub statistic: Option<f64>,
    pub threshold: f64,
    pub drift: bool,
    pub psi: Option<f64>,
    pub psi_band: Option<PsiBand>,
    /// Rows of the reference the method was chosen for (the whole training set; the kept
    /// sample may be smaller).
    pub reference_rows: usize,
    pub current_rows: usize,
    pub reference_missing_share: f64,
    pub current_missing_share: f64,
    /// Share of the current values in a category the reference does not have.
    pub unseen_share: f64,
}

/// The drift of a data set: its features, and whether enough of them drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DatasetDrift {
    pub features: Vec<FeatureDrift>,
    pub drifted_features: usize,
    pub drifted_share: f64,
    pub drift_share_threshold: f64,
    pub dataset_drift: bool,
}

impl DatasetDrift {
    pub fn of(features: Vec<FeatureDrift>, options: &DriftOptions) -> DatasetDrift {
        let drifted = features.iter().filter(|f| f.drift).count();
        let share = if features.is_empty() {
            0.0
        } else {
            drifted as f64 / features.len() as f64
        };
        DatasetDrift {
            drifted_features: drifted,
            drifted_share: share,
            drift_share_threshold: options.drift_share,
            dataset_drift: !features.is_empty() && share >= options.drift_share,
            features,
        }
    }
}

/// A value both kinds of feature can be counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key<'a> {
    Number(u64),
    Category(&'a str),
}

/// The values without the missing ones, and the missing share.
struct Present<'a> {
    numbers: Vec<f64>,
    keys: Vec<Key<'a>>,
    missing_share: f64,
}

impl<'a> Present<'a> {
    fn of(values: Values<'a>) -> Present<'a> {
        match values {
            Values::Numbers(v) => {
                let numbers: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
                // −0.0 and 0.0 are one value.
                let keys = numbers
                    .iter()
                    .map(|&x| Key::Number((x + 0.0).to_bits()))
                    .collect();
                Present {
                    missing_share: share(v.len() - numbers.len(), v.len()),
                    numbers,
                    keys,
                }
            }
            Values::Categories(v) => {
                let keys: Vec<Key> = v.iter().flatten().map(|s| Key::Category(s)).collect();
                Present {
                    missing_share: share(v.len() - keys.len(), v.len()),
                    numbers: Vec::new(),
                    keys,
                }
            }
        }
    }
}

fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Compares one feature's current values with its reference values. `reference_rows` is the
/// size of the whole reference (the training set), which chooses the method.
pub fn feature_drift(
    feature: &str,
    reference: Values,
    current: Values,
    reference_rows: usize,
    options: &DriftOptions,
) -> FeatureDrift {
    let numeric = matches!(reference, Values::Numbers(_));
    let (r, c) = (Present::of(reference), Present::of(current));
    let reference_counts = counts(&r.keys);
    let current_counts = counts(&c.keys);
    let mut pooled = reference_counts.clone();
    for (k, n) in &current_counts {
        *pooled.entry(*k).or_default() += n;
    }
    let distinct = pooled.len();
    let unseen = if numeric {
        0.0
    } else {
        let n: usize = current_counts
            .iter()
            .filter(|(k, _)| !reference_counts.contains_key(k))
            .map(|(_, n)| n)
            .sum();
        share(n, c.keys.len())
    };
    let testing = reference_rows <= options.max_test_reference_rows;
    let as_numbers = numeric && distinct > 5;
    let method = match (testing, as_numbers) {
        (true, true) => Method::Ks,
        (true, false) if distinct > 2 => Method::ChiSquare,
        (true, false) => Method::ZTest,
        (false, true) => Method::Wasserstein,
        (false, false) => Method::JensenShannon,
    };
    let threshold = if method.is_test() {
        options.p_value
    } else {
        options.distance
    };
    let comparable = !r.keys.is_empty() && !c.keys.is_empty();
    let keys: Vec<Key> = pooled.keys().copied().collect();
    // Evidently bins a number by Sturges over both samples when the reference has more than
    // 20 distinct values, else counts each value.
    let histogram = numeric && reference_counts.len() > 20;
    let shares = |fill: bool| {
        if histogram {
            binned_shares(&r.numbers, &c.numbers, fill)
        } else {
            keyed_shares(
                &keys,
                &reference_counts,
                &current_counts,
                r.keys.len(),
                c.keys.len(),
                fill,
            )
        }
    };
    let statistic = comparable.then(|| match method {
        Method::Ks => ks::ks_2samp(&r.numbers, &c.numbers).1,
        Method::ChiSquare => chi_square(
            &keys,
            &reference_counts,
            &current_counts,
            r.keys.len(),
            c.keys.len(),
        ),
        Method::ZTest => z_test(
            &keys,
            &reference_counts,
            &current_counts,
            r.keys.len(),
            c.keys.len(),
        ),
        Method::Wasserstein => {
            wasserstein(&r.numbers, &c.numbers) / population_std(&r.numbers).max(0.001)
        }
        Method::JensenShannon => {
            let (p, q) = shares(false);
            jensen_shannon(&p, &q)
        }
    });
    let drift = statistic.is_some_and(|s| match method {
        Method::Ks => s <= threshold,
        Method::ChiSquare | Method::ZTest => s < threshold,
        Method::Wasserstein | Method::JensenShannon => s >= threshold,
    });
    let psi = comparable.then(|| {
        let (p, q) = shares(true);
        p.iter()
            .zip(&q)
            .map(|(a, b)| (a - b) * (a / b).ln())
            .sum::<f64>()
    });
    FeatureDrift {
        feature: feature.to_string(),
        method,
        statistic,
        threshold,
        drift,
        psi,
        psi_band: psi.map(PsiBand::of),
        reference_rows,
        current_rows: match current {
            Values::Numbers(v) => v.len(),
            Values::Categories(v) => v.len(),
        },
        reference_missing_share: r.missing_share,
        current_missing_share: c.missing_share,
        unseen_share: unseen,
    }
}

fn counts<'a>(keys: &[Key<'a>]) -> HashMap<Key<'a>, usize> {
    let mut out = HashMap::new();
    for k in keys {
        *out.entry(*k).or_default() += 1;
    }
    out
}

/// Each key's share of the reference and of the current values; with `fill`, an empty share
/// becomes 0.0001 (or a millionth of the smallest share when that is smaller), as Evidently.
fn keyed_shares(
    keys: &[Key],
    reference: &HashMap<Key, usize>,
    current: &HashMap<Key, usize>,
    reference_n: usize,
    current_n: usize,
    fill: bool,
) -> (Vec<f64>, Vec<f64>) {
    let p = keys
        .iter()
        .map(|k| reference.get(k).copied().unwrap_or(0) as f64 / reference_n as f64)
        .collect();
    let q = keys
        .iter()
        .map(|k| current.get(k).copied().unwrap_or(0) as f64 / current_n as f64)
        .collect();
    filled(p, q, fill)
}

fn filled(mut p: Vec<f64>, mut q: Vec<f64>, fill: bool) -> (Vec<f64>, Vec<f64>) {
    if fill {
        fill_zeroes(&mut p);
        fill_zeroes(&mut q);
    }
    (p, q)
}

fn fill_zeroes(shares: &mut [f64]) {
    let smallest = shares
        .iter()
        .copied()
        .filter(|&s| s != 0.0)
        .fold(f64::INFINITY, f64::min);
    let floor = if smallest <= 0.0001 {
        smallest / 1e6
    } else {
        0.0001
    };
    for s in shares.iter_mut().filter(|s| **s == 0.0) {
        *s = floor;
    }
}

/// Shares of the reference and current values in the bins numpy's `histogram_bin_edges(…,
/// bins="sturges")` makes over both samples.
fn binned_shares(reference: &[f64], current: &[f64], fill: bool) -> (Vec<f64>, Vec<f64>) {
    let edges = sturges_edges(reference, current);
    let count = |values: &[f64]| {
        let mut n = vec![0usize; edges.len() - 1];
        for &x in values {
            n[bin_of(&edges, x)] += 1;
        }
        n.into_iter()
            .map(|k| k as f64 / values.len() as f64)
            .collect::<Vec<f64>>()
    };
    filled(count(reference), count(current), fill)
}

/// numpy's Sturges bin edges over the pooled values: ⌈ptp / (ptp / (log₂ n + 1))⌉ equal bins
/// from the smallest to the largest value (± 0.5 when all are equal).
fn sturges_edges(reference: &[f64], current: &[f64]) -> Vec<f64> {
    let all = reference.iter().chain(current);
    let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
        (lo.min(x), hi.max(x))
    });
    let n = (reference.len() + current.len()) as f64;
    let (first, last, bins) = if hi > lo {
        let width = (hi - lo) / (n.log2() + 1.0);
        (lo, hi, ((hi - lo) / width).ceil() as usize)
    } else {
        (lo - 0.5, hi + 0.5, 1)
    };
    // numpy's linspace: start + i·step, the last edge exactly the end.
    let step = (last - first) / bins as f64;
    let mut edges: Vec<f64> = (0..=bins).map(|i| first + i as f64 * step).collect();
    edges[bins] = last;
    edges
}

/// The bin of x as numpy's `histogram` counts it: [e_i, e_{i+1}), the last bin closed.
fn bin_of(edges: &[f64], x: f64) -> usize {
    let bins = edges.len() - 1;
    let above = edges.partition_point(|&e| e <= x);
    above.saturating_sub(1).min(bins - 1)
}

/// scipy's `chisquare(f_obs, f_exp)` with f_exp the reference counts scaled to the current
/// total: the p-value of Σ (o − e)²/e on k − 1 degrees of freedom.
fn chi_square(
    keys: &[Key],
    reference: &HashMap<Key, usize>,
    current: &HashMap<Key, usize>,
    reference_n: usize,
    current_n: usize,
) -> f64 {
    let scale = current_n as f64 / reference_n as f64;
    let mut statistic = 0.0;
    for k in keys {
        let expected = reference.get(k).copied().unwrap_or(0) as f64 * scale;
        let observed = current.get(k).copied().unwrap_or(0) as f64;
        statistic += if expected == 0.0 {
            if observed == 0.0 {
                0.0
            } else {
                f64::INFINITY
            }
        } else {
            (observed - expected).powi(2) / expected
        };
    }
    if statistic.is_infinite() {
        return 0.0;
    }
    let dof = keys.len().saturating_sub(1).max(1) as f64;
    ChiSquared::new(dof).map_or(f64::NAN, |d| d.sf(statistic))
}

/// The two-sided z-test of the share of the first (smallest) value in either sample, with the
/// pooled share in the standard error; 1 when both samples hold the same single value.
fn z_test(
    keys: &[Key],
    reference: &HashMap<Key, usize>,
    current: &HashMap<Key, usize>,
    reference_n: usize,
    current_n: usize,
) -> f64 {
    if keys.len() == 1 {
        return 1.0;
    }
    let first = keys
        .iter()
        .min_by(|a, b| key_order(a, b))
        .expect("two keys");
    // Evidently's indicator is 0 for the first value, 1 for the others.
    let p1 = 1.0 - reference.get(first).copied().unwrap_or(0) as f64 / reference_n as f64;
    let p2 = 1.0 - current.get(first).copied().unwrap_or(0) as f64 / current_n as f64;
    let (n1, n2) = (reference_n as f64, current_n as f64);
    let pooled = (p1 * n1 + p2 * n2) / (n1 + n2);
    let z = (p1 - p2) / (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    let normal = Normal::standard();
    2.0 * (1.0 - normal.cdf(z.abs()))
}

fn key_order(a: &Key, b: &Key) -> std::cmp::Ordering {
    match (a, b) {
        (Key::Number(x), Key::Number(y)) => f64::from_bits(*x).total_cmp(&f64::from_bits(*y)),
        (Key::Category(x), Key::Category(y)) => x.cmp(y),
        (Key::Number(_), Key::Category(_)) => std::cmp::Ordering::Less,
        (Key::Category(_), Key::Number(_)) => std::cmp::Ordering::Greater,
    }
}

/// scipy's `wasserstein_distance(u, v)`: ∫ |F_u − F_v| over the pooled values.
fn wasserstein(u: &[f64], v: &[f64]) -> f64 {
    let mut a = u.to_vec();
    let mut b = v.to_vec();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let mut all: Vec<f64> = a.iter().chain(&b).copied().collect();
    all.sort_by(f64::total_cmp);
    let (mut i, mut j, mut total) = (0usize, 0usize, 0.0);
    for w in all.windows(2) {
        while i < a.len() && a[i] <= w[0] {
            i += 1;
        }
        while j < b.len() && b[j] <= w[0] {
            j += 1;
        }
        let gap = (i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs();
        total += gap * (w[1] - w[0]);
    }
    total
}

/// numpy's `std` (divides by n).
fn population_std(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt()
}

/// scipy's `jensenshannon(p, q)`: √((KL(p‖m) + KL(q‖m)) / 2), m = (p + q)/2, natural log,
/// after p and q are scaled to sum to 1.
fn jensen_shannon(p: &[f64], q: &[f64]) -> f64 {
    let (sp, sq) = (p.iter().sum::<f64>(), q.iter().sum::<f64>());
    let mut total = 0.0;
    for (a, b) in p.iter().zip(q) {
        let (a, b) = (a / sp, b / sq);
        let m = (a + b) / 2.0;
        if a > 0.0 {
            total += a * (a / m).ln();
        }
        if b > 0.0 {
            total += b * (b / m).ln();
        }
    }
    (total / 2.0).max(0.0).sqrt()
}

#[cfg(test)]
mod tests;
