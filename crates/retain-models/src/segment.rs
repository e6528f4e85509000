//! Customer segments marketing acts on: RFM quintile scores with the usual named segments
//! (champions, loyal customers, … lost), and clusters of standardised log-RFM by k-means (k
//! chosen by silhouette) or DBSCAN (eps from the k-distance elbow), ordered by value and named
//! low / mid / high value. Clustering is linfa-clustering's; the scores, the choice of k and
//! eps, and the naming are here.

use linfa::prelude::*;
use linfa_clustering::{Dbscan, KMeans};
use linfa_nn::distance::{Distance, L2Dist};
use linfa_nn::{CommonNearestNeighbour, NearestNeighbour};
use ndarray::{Array2, ArrayView1};
use serde::{Deserialize, Serialize};

use crate::supervised::metrics::average_ranks;
use crate::ModelError;

/// Quintile scores 1..=5 by average rank (ties share a score); `higher_is_better` gives 5 to
/// the largest values, else to the smallest (recency in days since the last purchase).
pub fn quintile_scores(values: &[f64], higher_is_better: bool) -> Vec<u8> {
    let n = values.len() as f64;
    average_ranks(values)
        .into_iter()
        .map(|rank| {
            let rank = if higher_is_better {
                rank
            } else {
                n + 1.0 - rank
            };
            (1.0 + (5.0 * (rank - 0.5) / n).floor()).clamp(1.0, 5.0) as u8
        })
        .collect()
}

/// The names [`rfm_segment`] gives, best customers first.
pub const RFM_SEGMENTS: [&str; 11] = [
    "champions",
    "loyal customers",
    "potential loyalists",
    "new customers",
    "promising",
    "need attention",
    "about to sleep",
    "can't lose them",
    "at risk",
    "hibernating",
    "lost",
];

/// The named segment of recency and frequency scores, by the widely used RFM segment map
/// (R × F grid), with "lost" for the customers lowest on both.
pub fn rfm_segment(r: u8, f: u8) -> &'static str {
    match r {
        1 | 2 => match f {
            1 if r == 1 => "lost",
            1 | 2 => "hibernating",
            3 | 4 => "at risk",
            _ => "can't lose them",
        },
        3 => match f {
            1 | 2 => "about to sleep",
            3 => "need attention",
            _ => "loyal customers",
        },
        4 => match f {
            1 => "promising",
            2 | 3 => "potential loyalists",
            _ => "loyal customers",
        },
        _ => match f {
            1 => "new customers",
            2 | 3 => "potential loyalists",
            _ => "champions",
        },
    }
}

/// RFM scores of each customer.
#[derive(Debug, Clone, PartialEq)]
pub struct RfmScores {
    pub recency: Vec<u8>,
    pub frequency: Vec<u8>,
    pub monetary: Vec<u8>,
    pub segment: Vec<&'static str>,
}

/// Scores from days since the last purchase, purchase count and spend.
pub fn rfm_scores(recency_days: &[f64], frequency: &[f64], monetary: &[f64]) -> RfmScores {
    let recency = quintile_scores(recency_days, false);
    let frequency = quintile_scores(frequency, true);
    let monetary = quintile_scores(monetary, true);
    let segment = recency
        .iter()
        .zip(&frequency)
        .map(|(&r, &f)| rfm_segment(r, f))
        .collect();
    RfmScores {
        recency,
        frequency,
        monetary,
        segment,
    }
}

/// ln(1 + x) of each column, then each standardised to mean 0 and standard deviation 1:
/// recency, frequency and spend are skewed, and k-means and DBSCAN measure plain distances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogScale {
    /// Mean and standard deviation of each column's ln(1 + x).
    pub mean: Vec<f64>,
    pub sd: Vec<f64>,
}

impl LogScale {
    /// One customer's values on the scale.
    pub fn apply(&self, values: &[f64]) -> Vec<f64> {
        values
            .iter()
            .enumerate()
            .map(|(j, v)| {
                let sd = self.sd[j];
                if sd > 0.0 {
                    (v.max(0.0).ln_1p() - self.mean[j]) / sd
                } else {
                    0.0
                }
            })
            .collect()
    }
}

/// The columns on their log scale (rows = customers), and the scale.
pub fn log_standardize(columns: &[&[f64]]) -> (Array2<f64>, LogScale) {
    let n = columns.first().map_or(0, |c| c.len());
    let mut x = Array2::zeros((n, columns.len()));
    let mut scale = LogScale {
        mean: Vec::new(),
        sd: Vec::new(),
    };
    for (j, column) in columns.iter().enumerate() {
        let logged: Vec<f64> = column.iter().map(|v| v.max(0.0).ln_1p()).collect();
        let mean = logged.iter().sum::<f64>() / n as f64;
        let sd = (logged.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        for (i, v) in logged.iter().enumerate() {
            x[[i, j]] = if sd > 0.0 { (v - mean) / sd } else { 0.0 };
        }
        scale.mean.push(mean);
        scale.sd.push(sd);
    }
    (x, scale)
}

/// A segmentation as saved (`retain segment --save`): what assigns a customer it was not
/// fitted on to a segment, from days since the last purchase, purchase days and spend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Segmentation {
    /// RFM: for scores 2 to 5, the value from which a customer gets at least that score
    /// (recency: up to which); null when no customer got it. A fitted customer is assigned
    /// the scores it was fitted with.
    Rfm {
        recency_cuts: Vec<Option<f64>>,
        frequency_cuts: Vec<Option<f64>>,
        monetary_cuts: Vec<Option<f64>>,
    },
    /// k-means: the log scale and each cluster's centre on it, lowest value first; a customer
    /// joins the nearest centre.
    Kmeans {
        scale: LogScale,
        centres: Vec<Vec<f64>>,
        names: Vec<String>,
    },
}

/// A customer's segment, and its RFM scores (recency, frequency, monetary) for RFM.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assignment {
    pub segment: String,
    pub scores: Option<[u8; 3]>,
}

impl Segmentation {
    /// The cut points of fitted RFM scores.
    pub fn rfm(
        recency_days: &[f64],
        frequency: &[f64],
        monetary: &[f64],
        scores: &RfmScores,
    ) -> Segmentation {
        // The extreme value among the customers scored at least s, for s = 2..=5.
        let cuts = |values: &[f64], scores: &[u8], higher_is_better: bool| -> Vec<Option<f64>> {
            (2..=5u8)
                .map(|s| {
                    let at_least = values.iter().zip(scores).filter(|(_, &c)| c >= s);
                    if higher_is_better {
                        at_least.map(|(v, _)| *v).reduce(f64::min)
                    } else {
                        at_least.map(|(v, _)| *v).reduce(f64::max)
                    }
                })
                .collect()
        };
        Segmentation::Rfm {
            recency_cuts: cuts(recency_days, &scores.recency, false),
            frequency_cuts: cuts(frequency, &scores.frequency, true),
            monetary_cuts: cuts(monetary, &scores.monetary, true),
        }
    }

    /// The centres of fitted k-means clusters (each the mean of its members on `x`).
    pub fn kmeans(x: &Array2<f64>, scale: LogScale, clusters: &Clusters) -> Segmentation {
        let k = clusters.names.len();
        let mut centres = vec![vec![0.0; x.ncols()]; k];
        let mut counts = vec![0usize; k];
        for (row, label) in x.rows().into_iter().zip(&clusters.labels) {
            if let Some(c) = *label {
                counts[c] += 1;
                for (centre, v) in centres[c].iter_mut().zip(row) {
                    *centre += v;
                }
            }
        }
        for (centre, &n) in centres.iter_mut().zip(&counts) {
            centre.iter_mut().for_each(|v| *v /= n.max(1) as f64);
        }
        Segmentation::Kmeans {
            scale,
            centres,
            names: clusters.names.clone(),
        }
    }

    pub fn method(&self) -> &'static str {
        match self {
            Segmentation::Rfm { .. } => "rfm",
            Segmentation::Kmeans { .. } => "kmeans",
        }
    }

    /// The segment of a customer with these days since the last purchase, purchase days and
    /// spend.
    pub fn assign(&self, recency_days: f64, frequency: f64, monetary: f64) -> Assignment {
        match self {
            Segmentation::Rfm {
                recency_cuts,
                frequency_cuts,
                monetary_cuts,
            } => {
                let score = |cuts: &[Option<f64>], reached: &dyn Fn(f64) -> bool| {
                    1 + cuts.iter().filter(|c| c.is_some_and(reached)).count() as u8
                };
                let r = score(recency_cuts, &|cut| recency_days <= cut);
                let f = score(frequency_cuts, &|cut| frequency >= cut);
                let m = score(monetary_cuts, &|cut| monetary >= cut);
                Assignment {
                    segment: rfm_segment(r, f).to_string(),
                    scores: Some([r, f, m]),
                }
            }
            Segmentation::Kmeans {
                scale,
                centres,
                names,
            } => {
                let x = scale.apply(&[recency_days, frequency, monetary]);
                let nearest = centres
                    .iter()
                    .map(|c| c.iter().zip(&x).map(|(a, b)| (a - b).powi(2)).sum::<f64>())
                    .enumerate()
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .map_or(0, |(i, _)| i);
                Assignment {
                    segment: names[nearest].clone(),
                    scores: None,
                }
            }
        }
    }
}

/// Clusters ordered by value: `labels[i]` is customer i's cluster (0 = lowest value; `None`
/// = DBSCAN noise), `names` their names.
#[derive(Debug, Clone, PartialEq)]
pub struct Clusters {
    pub labels: Vec<Option<usize>>,
    pub names: Vec<String>,
    /// k-means: silhouette of each k tried; DBSCAN: empty.
    pub silhouettes: Vec<(usize, f64)>,
    /// DBSCAN: the neighbourhood radius used.
    pub eps: Option<f64>,
}

/// "low value", "mid value" (numbered when several), "high value".
pub fn value_names(k: usize) -> Vec<String> {
    match k {
        0 => vec![],
        1 => vec!["all".into()],
        2 => vec!["low value".into(), "high value".into()],
        _ => std::iter::once("low value".to_string())
            .chain((1..k - 1).map(|i| {
                if k == 3 {
                    "mid value".to_string()
                } else {
                    format!("mid value {i}")
                }
            }))
            .chain(std::iter::once("high value".to_string()))
            .collect(),
    }
}

/// Renumbers clusters 0..k by ascending mean `value` of their members.
fn order_by_value(labels: &[Option<usize>], k: usize, value: &[f64]) -> Vec<Option<usize>> {
    let mut sums = vec![(0.0, 0usize); k];
    for (label, v) in labels.iter().zip(value) {
        if let Some(c) = label {
            sums[*c].0 += v;
            sums[*c].1 += 1;
        }
    }
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| {
        (sums[a].0 / sums[a].1 as f64).total_cmp(&(sums[b].0 / sums[b].1 as f64))
    });
    let mut rank = vec![0; k];
    for (r, &c) in order.iter().enumerate() {
        rank[c] = r;
    }
    labels.iter().map(|l| l.map(|c| rank[c])).collect()
}

/// Rows used to choose k and eps on large data: distances between all pairs of these.
const SAMPLE: usize = 4_000;

fn sample_rows(n: usize, seed: u64) -> Vec<usize> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut rows: Vec<usize> = (0..n).collect();
    if n > SAMPLE {
        rows.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
        rows.truncate(SAMPLE);
    }
    rows
}

fn distance(a: ArrayView1<f64>, b: ArrayView1<f64>) -> f64 {
    L2Dist.distance(a, b)
}

/// Mean silhouette of the rows `rows` (a(i): mean distance to its own cluster, b(i): to the
/// nearest other; s = (b − a) / max(a, b); 0 for a cluster of one), as scikit-learn's
/// `silhouette_score`.
pub fn silhouette(x: &Array2<f64>, labels: &[usize], rows: &[usize]) -> f64 {
    let k = rows.iter().map(|&i| labels[i]).max().map_or(0, |m| m + 1);
    let mut total = 0.0;
    for &i in rows {
        let mut sums = vec![(0.0, 0usize); k];
        for &j in rows {
            if i != j {
                sums[labels[j]].0 += distance(x.row(i), x.row(j));
                sums[labels[j]].1 += 1;
            }
        }
        let own = sums[labels[i]];
        if own.1 == 0 {
            continue;
        }
        let a = own.0 / own.1 as f64;
        let b = (0..k)
            .filter(|&c| c != labels[i] && sums[c].1 > 0)
            .map(|c| sums[c].0 / sums[c].1 as f64)
            .fold(f64::INFINITY, f64::min);
        if b.is_finite() {
            total += (b - a) / a.max(b);
        }
    }
    total / rows.len() as f64
}

/// k-means on the rows of `x` (k given, or the k in 2..=8 with the best silhouette on a sample
/// of at most 4,000 customers), clusters ordered by mean `value`.
pub fn kmeans(
    x: &Array2<f64>,
    k: Option<usize>,
    value: &[f64],
    seed: u64,
) -> Result<Clusters, ModelError> {
    let n = x.nrows();
    let fit = |k: usize| -> Result<Vec<usize>, ModelError> {
        let dataset = DatasetBase::from(x.clone());
        let model = KMeans::params(k)
            .n_runs(5)
            .tolerance(1e-6)
            .fit(&dataset)
            .map_err(|e| ModelError::InvalidData(format!("k-means with k = {k}: {e}")))?;
        Ok(model.predict(x).to_vec())
    };
    let (labels, silhouettes) = match k {
        Some(k) if k < 1 || k > n => {
            return Err(ModelError::InvalidData(format!(
                "k must be 1 to {n}, found {k}"
            )))
        }
        Some(k) => (fit(k)?, vec![]),
        None => {
            let rows = sample_rows(n, seed);
            let mut best: Option<(f64, Vec<usize>)> = None;
            let mut silhouettes = vec![];
            for k in 2..=8.min(n - 1) {
                let labels = fit(k)?;
                let s = silhouette(x, &labels, &rows);
                silhouettes.push((k, s));
                if best.as_ref().is_none_or(|(b, _)| s > *b) {
                    best = Some((s, labels));
                }
            }
            let (_, labels) = best.ok_or_else(|| {
                ModelError::InvalidData("k-means needs at least 3 customers".into())
            })?;
            (labels, silhouettes)
        }
    };
    let k = labels.iter().max().map_or(0, |m| m + 1);
    let labels: Vec<Option<usize>> = labels.into_iter().map(Some).collect();
    Ok(Clusters {
        labels: order_by_value(&labels, k, value),
        names: value_names(k),
        silhouettes,
        eps: None,
    })
}

/// The distance to each sampled row's `k`-th nearest neighbour (itself not counted), ascending.
pub fn k_distances(x: &Array2<f64>, k: usize, seed: u64) -> Result<Vec<f64>, ModelError> {
    let index = CommonNearestNeighbour::KdTree
        .from_batch(x, L2Dist)
        .map_err(|e| ModelError::InvalidData(format!("nearest-neighbour index: {e}")))?;
    let mut distances = sample_rows(x.nrows(), seed)
        .into_iter()
        .map(|i| {
            let nearest = index
                .k_nearest(x.row(i), k + 1)
                .map_err(|e| ModelError::InvalidData(format!("nearest neighbours: {e}")))?;
            Ok(nearest
                .iter()
                .map(|(p, _)| distance(x.row(i), p.view()))
                .fold(0.0, f64::max))
        })
        .collect::<Result<Vec<f64>, ModelError>>()?;
    distances.sort_by(f64::total_cmp);
    Ok(distances)
}

/// The elbow of an ascending curve: the point farthest below the chord from its first to its
/// last point, both axes scaled to [0, 1] (the "kneedle" rule).
pub fn elbow(ascending: &[f64]) -> f64 {
    let n = ascending.len();
    let (lo, hi) = (ascending[0], ascending[n - 1]);
    if n < 3 || hi <= lo {
        return hi;
    }
    let best = (0..n)
        .max_by(|&a, &b| {
            let gap = |i: usize| i as f64 / (n - 1) as f64 - (ascending[i] - lo) / (hi - lo);
            gap(a).total_cmp(&gap(b))
        })
        .unwrap_or(n - 1);
    ascending[best]
}

/// DBSCAN on the rows of `x`: a core customer has at least `min_points` customers (itself
/// included) within `eps` (given, or the elbow of the sorted `min_points`-distances); clusters
/// ordered by mean `value`, noise labelled `None`.
pub fn dbscan(
    x: &Array2<f64>,
    eps: Option<f64>,
    min_points: usize,
    value: &[f64],
    seed: u64,
) -> Result<Clusters, ModelError> {
    if min_points < 2 || min_points > x.nrows() {
        return Err(ModelError::InvalidData(format!(
            "min points must be 2 to {}, found {min_points}",
            x.nrows()
        )));
    }
    let eps = match eps {
        Some(e) if e > 0.0 => e,
        Some(e) => {
            return Err(ModelError::InvalidData(format!(
                "eps must be > 0, found {e}"
            )))
        }
        None => elbow(&k_distances(x, min_points - 1, seed)?).max(1e-9),
    };
    let labels = Dbscan::params(min_points)
        .tolerance(eps)
        .transform(x)
        .map_err(|e| ModelError::InvalidData(format!("DBSCAN: {e}")))?
        .to_vec();
    let k = labels.iter().flatten().max().map_or(0, |m| m + 1);
    Ok(Clusters {
        labels: order_by_value(&labels, k, value),
        names: value_names(k),
        silhouettes: vec![],
        eps: Some(eps),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quintiles_split_evenly_and_ties_share_a_score() {
        let values: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(
            quintile_scores(&values, true),
            [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
        );
        assert_eq!(
            quintile_scores(&values, false),
            [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
        );
        let tied = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 5.0];
        let scores = quintile_scores(&tied, true);
        assert!(scores[..6].iter().all(|&s| s == scores[0]));
        assert_eq!(scores[9], 5);
    }

    #[test]
    fn segment_map() {
        assert_eq!(rfm_segment(5, 5), "champions");
        assert_eq!(rfm_segment(5, 4), "champions");
        assert_eq!(rfm_segment(4, 5), "loyal customers");
        assert_eq!(rfm_segment(3, 4), "loyal customers");
        assert_eq!(rfm_segment(5, 2), "potential loyalists");
        assert_eq!(rfm_segment(4, 3), "potential loyalists");
        assert_eq!(rfm_segment(5, 1), "new customers");
        assert_eq!(rfm_segment(4, 1), "promising");
        assert_eq!(rfm_segment(3, 3), "need attention");
        assert_eq!(rfm_segment(3, 2), "about to sleep");
        assert_eq!(rfm_segment(2, 5), "can't lose them");
        assert_eq!(rfm_segment(1, 3), "at risk");
        assert_eq!(rfm_segment(2, 2), "hibernating");
        assert_eq!(rfm_segment(1, 1), "lost");
        // Every cell of the grid has one of the listed names, and every name has a cell.
        let named: Vec<&str> = (1..=5)
            .flat_map(|r| (1..=5).map(move |f| rfm_segment(r, f)))
            .collect();
        assert!(named.iter().all(|n| RFM_SEGMENTS.contains(n)));
        assert!(RFM_SEGMENTS.iter().all(|n| named.contains(n)));
    }

    /// Three well-separated blobs of customers with known values.
    fn blobs() -> (Array2<f64>, Vec<f64>, Vec<usize>) {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let centres = [[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]];
        let worth = [100.0, 10.0, 1_000.0];
        let n = 300;
        let mut x = Array2::zeros((n, 2));
        let (mut value, mut truth) = (vec![], vec![]);
        for i in 0..n {
            let c = i % 3;
            x[[i, 0]] = centres[c][0] + rng.random_range(-1.0..1.0);
            x[[i, 1]] = centres[c][1] + rng.random_range(-1.0..1.0);
            value.push(worth[c]);
            truth.push(c);
        }
        (x, value, truth)
    }

    #[test]
    fn kmeans_finds_three_blobs_and_orders_them_by_value() {
        let (x, value, truth) = blobs();
        let clusters = kmeans(&x, None, &value, 0).unwrap();
        let best = clusters
            .silhouettes
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        assert_eq!(best.0, 3, "{:?}", clusters.silhouettes);
        assert_eq!(clusters.names, ["low value", "mid value", "high value"]);
        // Blob 1 (worth 10) is low, blob 0 (100) mid, blob 2 (1,000) high.
        let expected = [1, 0, 2];
        for (label, t) in clusters.labels.iter().zip(&truth) {
            assert_eq!(*label, Some(expected[*t]));
        }
    }

    #[test]
    fn dbscan_finds_the_blobs_and_calls_outliers_noise() {
        let (mut x, value, _) = blobs();
        // One far-away customer.
        x[[0, 0]] = 50.0;
        let clusters = dbscan(&x, None, 4, &value, 0).unwrap();
        assert_eq!(clusters.names.len(), 3, "eps {:?}", clusters.eps);
        assert_eq!(clusters.labels[0], None);
        assert!(clusters.labels[1..].iter().all(Option::is_some));
        let eps = clusters.eps.unwrap();
        assert!(eps > 0.05 && eps < 3.0, "eps {eps}");
    }

    #[test]
    fn silhouette_matches_its_definition() {
        // Two pairs on a line: {0, 1} and {10, 11}. For 0: a = 1, b = mean(10, 11) = 10.5.
        let x = Array2::from_shape_vec((4, 1), vec![0.0, 1.0, 10.0, 11.0]).unwrap();
        let s = silhouette(&x, &[0, 0, 1, 1], &[0, 1, 2, 3]);
        let expected =
            ((10.5 - 1.0) / 10.5 + (9.5 - 1.0) / 9.5 + (9.5 - 1.0) / 9.5 + (10.5 - 1.0) / 10.5)
                / 4.0;
        assert!((s - expected).abs() < 1e-12);
        assert_eq!(elbow(&[0.1, 0.1, 0.12, 0.13, 0.15, 2.0, 5.0]), 0.15);
    }

    /// Skewed, tied customer columns like a log's: recency in days, purchase days, spend.
    fn customers(n: usize) -> [Vec<f64>; 3] {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let recency = (0..n).map(|_| rng.random_range(0..400) as f64).collect();
        let frequency = (0..n)
            .map(|_| (1.0 / rng.random_range(0.02..1.0f64)).floor())
            .collect();
        let spend = (0..n)
            .map(|_| (rng.random_range(0.0..1.0f64).powi(3) * 900.0 * 100.0).round() / 100.0)
            .collect();
        [recency, frequency, spend]
    }

    #[test]
    fn saved_rfm_cuts_give_every_fitted_customer_its_scores() {
        let [r, f, m] = customers(2_000);
        let scores = rfm_scores(&r, &f, &m);
        let saved = Segmentation::rfm(&r, &f, &m, &scores);
        // Through JSON, as registered.
        let saved: Segmentation =
            serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap();
        for i in 0..r.len() {
            let a = saved.assign(r[i], f[i], m[i]);
            assert_eq!(
                a.scores,
                Some([scores.recency[i], scores.frequency[i], scores.monetary[i]]),
                "customer {i}: {} {} {}",
                r[i],
                f[i],
                m[i]
            );
            assert_eq!(a.segment, scores.segment[i]);
        }
        // Beyond the fitted range: the extreme scores.
        assert_eq!(saved.assign(0.0, 1e6, 1e9).scores, Some([5, 5, 5]));
        assert_eq!(saved.assign(1e6, 0.0, 0.0).scores, Some([1, 1, 1]));
    }

    #[test]
    fn saved_kmeans_centres_give_every_fitted_customer_its_cluster() {
        let [r, f, m] = customers(1_500);
        let (x, scale) = log_standardize(&[&r, &f, &m]);
        let clusters = kmeans(&x, Some(3), &m, 0).unwrap();
        let saved = Segmentation::kmeans(&x, scale, &clusters);
        let saved: Segmentation =
            serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap();
        // k-means ends with every customer nearest its own cluster's centre.
        for i in 0..r.len() {
            let expected = &clusters.names[clusters.labels[i].unwrap()];
            assert_eq!(
                &saved.assign(r[i], f[i], m[i]).segment,
                expected,
                "customer {i}"
            );
        }
    }
}
