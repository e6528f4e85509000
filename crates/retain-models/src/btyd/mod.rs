//! "Buy till you die" models of non-contractual customers: how many purchases a customer will
//! make (BG/NBD) and how much each is worth (Gamma-Gamma), fitted by maximum likelihood on the
//! per-customer summaries (frequency, recency, T, monetary value) with analytic gradients.
//!
//! Parameter names and conventions are those of the papers and of Python's lifetimes, so that
//! results compare one to one.

pub mod bgbb;
pub mod bgnbd;
pub mod clv;
pub mod diagnostics;
pub mod gamma_gamma;
pub mod mbgnbd;
mod mle;
pub mod pareto_nbd;
pub mod sbg;
mod shared;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// The crate's error, here too so that `retain_models::btyd::ModelError` still names it.
pub use crate::ModelError;
pub use bgbb::BgBb;
pub use bgnbd::BgNbd;
pub use clv::{
    discounted_purchases, lifetime_value, score_customers, ClvOptions, Scores, WEEKS_PER_MONTH,
};
pub use diagnostics::{calibration_vs_holdout, tracking, HoldoutGroup, TrackingPoint};
pub use gamma_gamma::GammaGamma;
pub use mbgnbd::MbgNbd;
pub use mle::{FitOptions, Fitted};
pub use pareto_nbd::ParetoNbd;
pub use sbg::{Lifetimes, ShiftedBetaGeometric};

/// Parameters by name, in the papers' order (for tables and reports).
pub trait Named {
    fn named(&self) -> Vec<(&'static str, f64)>;
}

impl Named for BgNbd {
    fn named(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("r", self.r),
            ("alpha", self.alpha),
            ("a", self.a),
            ("b", self.b),
        ]
    }
}

impl Named for BgBb {
    fn named(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("alpha", self.alpha),
            ("beta", self.beta),
            ("gamma", self.gamma),
            ("delta", self.delta),
        ]
    }
}

impl Named for MbgNbd {
    fn named(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("r", self.r),
            ("alpha", self.alpha),
            ("a", self.a),
            ("b", self.b),
        ]
    }
}

impl Named for ParetoNbd {
    fn named(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("r", self.r),
            ("alpha", self.alpha),
            ("s", self.s),
            ("beta", self.beta),
        ]
    }
}

impl Named for ShiftedBetaGeometric {
    fn named(&self) -> Vec<(&'static str, f64)> {
        vec![("alpha", self.alpha), ("beta", self.beta)]
    }
}

impl Named for GammaGamma {
    fn named(&self) -> Vec<(&'static str, f64)> {
        vec![("p", self.p), ("q", self.q), ("v", self.v)]
    }
}

/// What a fitted purchase model predicts: for a customer with x repeat purchases, the last at
/// t_x, observed for T; and for a newly acquired customer. Time is in the data's unit (BG/BB:
/// transaction opportunities, whole numbers). Each model implements it in its own module, next
/// to its likelihood; these are the models' only prediction methods (bring the trait into scope
/// to call them).
pub trait PurchaseModel: Named + Sync {
    /// Probability that the customer is still alive (BG/BB: at the next opportunity).
    fn p_alive(&self, x: f64, t_x: f64, big_t: f64) -> f64;
    /// Expected purchases in the next `t`.
    fn expected_purchases(&self, t: f64, x: f64, t_x: f64, big_t: f64) -> Result<f64, ModelError>;
    /// Expected purchases in the next `t` for each of `ts` (a CLV's month ends), for one
    /// customer; models override it where the times can share work.
    fn expected_purchases_at(
        &self,
        ts: &[f64],
        x: f64,
        t_x: f64,
        big_t: f64,
    ) -> Result<Vec<f64>, ModelError> {
        ts.iter()
            .map(|&t| self.expected_purchases(t, x, t_x, big_t))
            .collect()
    }
    /// [`PurchaseModel::expected_purchases_at`] for many histories `(x, t_x, T)`, row-major
    /// (`ts.len()` values per history); models override it where histories can share work.
    fn expected_purchases_many(
        &self,
        ts: &[f64],
        histories: &[(f64, f64, f64)],
    ) -> Result<Vec<f64>, ModelError> {
        each_history(histories, |x, t_x, big_t| {
            self.expected_purchases_at(ts, x, t_x, big_t)
        })
    }
    /// Expected purchases of a new customer in their first `t`.
    fn expected_purchases_new(&self, t: f64) -> Result<f64, ModelError>;
    /// Probability that a new customer makes exactly n purchases in their first `t`.
    fn probability_of_purchases(&self, n: u32, t: f64) -> f64;
}

/// A saved purchase model of any kind, as `retain fit` writes it: `{"model": "bgnbd",
/// "params": {…}, …}` (other fields are ignored when reading).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", content = "params")]
pub enum SavedPurchaseModel {
    #[serde(rename = "bgnbd")]
    BgNbd(BgNbd),
    #[serde(rename = "pareto-nbd")]
    ParetoNbd(ParetoNbd),
    #[serde(rename = "mbgnbd")]
    MbgNbd(MbgNbd),
    #[serde(rename = "bgbb")]
    BgBb(BgBb),
}

impl SavedPurchaseModel {
    pub fn model(&self) -> &dyn PurchaseModel {
        match self {
            SavedPurchaseModel::BgNbd(m) => m,
            SavedPurchaseModel::ParetoNbd(m) => m,
            SavedPurchaseModel::MbgNbd(m) => m,
            SavedPurchaseModel::BgBb(m) => m,
        }
    }

    /// The name in saved files and on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            SavedPurchaseModel::BgNbd(_) => "bgnbd",
            SavedPurchaseModel::ParetoNbd(_) => "pareto-nbd",
            SavedPurchaseModel::MbgNbd(_) => "mbgnbd",
            SavedPurchaseModel::BgBb(_) => "bgbb",
        }
    }

    /// Whether time counts discrete opportunities (BG/BB): T and horizons are whole numbers.
    pub fn is_discrete(&self) -> bool {
        matches!(self, SavedPurchaseModel::BgBb(_))
    }

    /// The log-likelihood of the data under this model.
    pub fn log_likelihood(&self, data: &RfmData) -> f64 {
        match self {
            SavedPurchaseModel::BgNbd(m) => m.log_likelihood(data),
            SavedPurchaseModel::ParetoNbd(m) => m.log_likelihood(data),
            SavedPurchaseModel::MbgNbd(m) => m.log_likelihood(data),
            SavedPurchaseModel::BgBb(m) => m.log_likelihood(data),
        }
    }

    /// The probability that a customer with history `(x, t_x, T)` makes no purchase in the
    /// next `t`. Seeing the same history over `T + t` is exactly that event, so it is the
    /// ratio of the customer's likelihoods: `L(x, t_x, T + t) / L(x, t_x, T)`.
    pub fn p_no_purchase(&self, x: f64, t_x: f64, big_t: f64, t: f64) -> Result<f64, ModelError> {
        let one = |end: f64| -> Result<f64, ModelError> {
            Ok(self.log_likelihood(&RfmData::new(&[x], &[t_x], &[end], None)?))
        };
        let (now, later) = (one(big_t)?, one(big_t + t)?);
        Ok((later - now).exp().min(1.0))
    }
}

/// Repeat-purchase data of non-contractual customers, collapsed to its distinct
/// `(frequency, recency, T)` rows with a weight each (the number of customers sharing the row),
/// which gives the same likelihood as the raw rows at a fraction of the cost.
#[derive(Debug, Clone, PartialEq)]
pub struct RfmData {
    /// Repeat purchases in the calibration window.
    pub x: Vec<f64>,
    /// Time of the last purchase since the first (recency).
    pub t_x: Vec<f64>,
    /// Time since the first purchase to the end of calibration (T).
    pub t: Vec<f64>,
    pub weight: Vec<f64>,
    /// The distinct frequencies, and each row's index into them: the likelihoods' gamma-function
    /// terms depend on x alone, so they are computed once per distinct x.
    pub(crate) distinct_x: DistinctX,
    /// Likewise for T and t_x, whose logarithms the likelihood takes (day-level data have a few
    /// hundred distinct values for 100k distinct rows).
    pub(crate) distinct_t: DistinctX,
    pub(crate) distinct_t_x: DistinctX,
}

/// Hash maps keyed by bit patterns: no need for SipHash's resistance to crafted keys here.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// Distinct values of a column and each row's slot among them.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct DistinctX {
    pub values: Vec<f64>,
    pub slot: Vec<u32>,
}

impl DistinctX {
    pub(crate) fn of(x: &[f64]) -> DistinctX {
        let mut index: FastMap<u64, u32> = FastMap::default();
        let mut d = DistinctX::default();
        for &v in x {
            let slot = *index.entry(v.to_bits()).or_insert_with(|| {
                d.values.push(v);
                (d.values.len() - 1) as u32
            });
            d.slot.push(slot);
        }
        d
    }
}

/// Distinct (x, t_x, T) rows with their summed weights, in order of first appearance.
#[derive(Default)]
struct Collapsed {
    index: FastMap<(u64, u64, u64), u32>,
    x: Vec<f64>,
    t_x: Vec<f64>,
    t: Vec<f64>,
    weight: Vec<f64>,
}

impl Collapsed {
    fn add(&mut self, x: f64, tx: f64, tt: f64, w: f64) {
        let next = self.x.len() as u32;
        let i = *self
            .index
            .entry((x.to_bits(), tx.to_bits(), tt.to_bits()))
            .or_insert(next);
        if i == next {
            self.x.push(x);
            self.t_x.push(tx);
            self.t.push(tt);
            self.weight.push(w);
        } else {
            self.weight[i as usize] += w;
        }
    }
}

/// `per_history(x, t_x, T)` for each history, concatenated.
pub(crate) fn each_history(
    histories: &[(f64, f64, f64)],
    per_history: impl Fn(f64, f64, f64) -> Result<Vec<f64>, ModelError>,
) -> Result<Vec<f64>, ModelError> {
    let mut out = Vec::new();
    for &(x, t_x, big_t) in histories {
        out.extend(per_history(x, t_x, big_t)?);
    }
    Ok(out)
}

/// Frequency, recency, T and optional weights, one entry per customer row.
type Columns<'a> = (&'a [f64], &'a [f64], &'a [f64], Option<&'a [f64]>);

/// Validates and collapses `rows` of the columns; errors name the row (1-based, of all rows).
fn collapse_rows(
    (frequency, recency, t, weights): Columns,
    rows: std::ops::Range<usize>,
) -> Result<Collapsed, ModelError> {
    let mut part = Collapsed::default();
    for row in rows {
        let (x, tx, tt) = (frequency[row], recency[row], t[row]);
        let w = weights.map_or(1.0, |w| w[row]);
        // The common case in a few comparisons (`fract` is a libm call on baseline x86-64);
        // `check_row` says what is wrong otherwise.
        let plainly_valid = (0.0..1e15).contains(&x)
            && (x as u64) as f64 == x
            && tt > 0.0
            && tt < f64::INFINITY
            && tx >= 0.0
            && tx <= tt
            && (x > 0.0 || tx == 0.0)
            && (0.0..f64::INFINITY).contains(&w);
        if !plainly_valid {
            check_row(x, tx, tt, w).map_err(|message| ModelError::InvalidRow {
                row: row + 1,
                message,
            })?;
        }
        if w != 0.0 {
            part.add(x, tx, tt, w);
        }
    }
    Ok(part)
}

/// What is wrong with one customer row, if anything.
fn check_row(x: f64, tx: f64, tt: f64, w: f64) -> Result<(), String> {
    if !(x.is_finite() && x >= 0.0 && x.fract() == 0.0) {
        return Err(format!("frequency must be a whole number >= 0, found {x}"));
    }
    if !(tt.is_finite() && tt > 0.0) {
        return Err(format!("T must be > 0, found {tt}"));
    }
    if !(tx.is_finite() && tx >= 0.0 && tx <= tt * (1.0 + 1e-12)) {
        return Err(format!(
            "recency must be between 0 and T = {tt}, found {tx}"
        ));
    }
    if x == 0.0 && tx != 0.0 {
        return Err(format!("recency must be 0 when frequency is 0, found {tx}"));
    }
    if !(w.is_finite() && w >= 0.0) {
        return Err(format!("weight must be >= 0, found {w}"));
    }
    Ok(())
}

impl RfmData {
    /// Validates and collapses per-customer (or already weighted) rows.
    pub fn new(
        frequency: &[f64],
        recency: &[f64],
        t: &[f64],
        weights: Option<&[f64]>,
    ) -> Result<Self, ModelError> {
        let n = frequency.len();
        if recency.len() != n || t.len() != n || weights.is_some_and(|w| w.len() != n) {
            return Err(ModelError::InvalidData(
                "frequency, recency, T and weights differ in length".into(),
            ));
        }
        if n == 0 {
            return Err(ModelError::InvalidData("no customers".into()));
        }
        // One pass: collapsing is bound by memory latency (a hash table of ~100k distinct
        // rows), and on two cores, two threads with a table each were no faster.
        let all = collapse_rows((frequency, recency, t, weights), 0..n)?;
        let mut data = RfmData {
            x: all.x,
            t_x: all.t_x,
            t: all.t,
            weight: all.weight,
            distinct_x: DistinctX::default(),
            distinct_t: DistinctX::default(),
            distinct_t_x: DistinctX::default(),
        };
        if data.x.is_empty() {
            return Err(ModelError::InvalidData("every weight is 0".into()));
        }
        data.distinct_x = DistinctX::of(&data.x);
        data.distinct_t = DistinctX::of(&data.t);
        data.distinct_t_x = DistinctX::of(&data.t_x);
        Ok(data)
    }

    /// A sample of about `SAMPLE_ROWS` rows with the same likelihood in expectation, when the
    /// data have several times that many: a fit takes its first steps there, at a fraction of
    /// the cost. Heavy rows (the many customers sharing a short history) are kept whole, as
    /// sampling them would make the estimate noisy; of the others every k-th is kept with k
    /// times its weight.
    pub(crate) fn sample(&self) -> Option<RfmData> {
        const SAMPLE_ROWS: usize = 10_000;
        if self.len() < 4 * SAMPLE_ROWS {
            return None;
        }
        let mut by_weight = self.weight.clone();
        let heavy_from = SAMPLE_ROWS / 2;
        by_weight.select_nth_unstable_by(heavy_from, |a, b| b.total_cmp(a));
        let heavy = by_weight[heavy_from];
        let light = self.weight.iter().filter(|&&w| w <= heavy).count();
        let every = light.div_ceil(SAMPLE_ROWS / 2).max(1);
        let mut sample = RfmData {
            x: vec![],
            t_x: vec![],
            t: vec![],
            weight: vec![],
            distinct_x: DistinctX::default(),
            distinct_t: DistinctX::default(),
            distinct_t_x: DistinctX::default(),
        };
        let mut seen_light = 0;
        for i in 0..self.len() {
            let w = self.weight[i];
            let weight = if w > heavy {
                w
            } else {
                seen_light += 1;
                if seen_light % every != 0 {
                    continue;
                }
                w * every as f64
            };
            sample.x.push(self.x[i]);
            sample.t_x.push(self.t_x[i]);
            sample.t.push(self.t[i]);
            sample.weight.push(weight);
        }
        sample.distinct_x = DistinctX::of(&sample.x);
        sample.distinct_t = DistinctX::of(&sample.t);
        sample.distinct_t_x = DistinctX::of(&sample.t_x);
        Some(sample)
    }

    /// The purchase models cannot tell buying from dropping out without any repeat purchase.
    pub fn require_repeat_purchases(&self) -> Result<(), ModelError> {
        if self.x.iter().all(|&x| x == 0.0) {
            return Err(ModelError::InvalidData(
                "no customer made a repeat purchase: the purchase and dropout processes cannot be told apart".into(),
            ));
        }
        Ok(())
    }

    /// Distinct rows.
    pub fn len(&self) -> usize {
        self.x.len()
    }

    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// Customers represented (the sum of the weights).
    pub fn customers(&self) -> f64 {
        self.weight.iter().sum()
    }
}

/// Test helper: a new customer's P(n purchases in t), n = 0..terms, sums to 1 and its mean is
/// E[X(t)], at each of `times`.
#[cfg(test)]
pub(crate) fn assert_purchase_distribution(model: &dyn PurchaseModel, terms: u32, times: &[f64]) {
    for &t in times {
        let probs: Vec<f64> = (0..terms)
            .map(|n| model.probability_of_purchases(n, t))
            .collect();
        let total: f64 = probs.iter().sum();
        let mean: f64 = probs.iter().enumerate().map(|(n, p)| n as f64 * p).sum();
        assert!((total - 1.0).abs() < 1e-9, "t {t}: sum {total}");
        let expected = model.expected_purchases_new(t).unwrap();
        assert!(
            (mean - expected).abs() < 1e-7 * expected,
            "t {t}: {mean} vs {expected}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_purchase_ahead_is_the_likelihood_ratio() {
        // BG/NBD in closed form: 1 - P(alive) + P(alive) ((alpha + T) / (alpha + T + t))^(r + x),
        // at the CDNOW estimates.
        let m = BgNbd {
            r: 0.243,
            alpha: 4.414,
            a: 0.793,
            b: 2.426,
        };
        let saved = SavedPurchaseModel::BgNbd(m);
        for (x, t_x, big_t, t) in [
            (2.0, 30.43, 38.86, 39.0),
            (0.0, 0.0, 20.0, 10.0),
            (7.0, 30.0, 31.0, 4.0),
        ] {
            let p = m.p_alive(x, t_x, big_t);
            let closed = 1.0 - p + p * ((m.alpha + big_t) / (m.alpha + big_t + t)).powf(m.r + x);
            let ratio = saved.p_no_purchase(x, t_x, big_t, t).unwrap();
            assert!(
                (ratio - closed).abs() < 1e-12,
                "{x} {t_x} {big_t}: {ratio} vs {closed}"
            );
        }
        // BG/BB: no transaction in the next opportunity is one minus its probability of one.
        let bgbb = BgBb {
            alpha: 1.204,
            beta: 0.750,
            gamma: 0.657,
            delta: 2.783,
        };
        let saved = SavedPurchaseModel::BgBb(bgbb);
        let none = saved.p_no_purchase(3.0, 4.0, 6.0, 1.0).unwrap();
        let expected = bgbb.expected_purchases(1.0, 3.0, 4.0, 6.0).unwrap();
        assert!(
            (none - (1.0 - expected)).abs() < 1e-12,
            "{none} vs 1 - {expected}"
        );
    }

    #[test]
    fn saved_models_read_back_whatever_else_the_file_holds() {
        let json = r#"{"model":"pareto-nbd","params":{"r":0.55,"alpha":10.6,"s":0.61,"beta":11.7},
            "std_errors":null,"log_likelihood":-9595.0,"n_customers":2357.0,"converged":true,"iterations":25}"#;
        let saved: SavedPurchaseModel = serde_json::from_str(json).unwrap();
        assert_eq!(saved.name(), "pareto-nbd");
        assert!((saved.model().p_alive(0.0, 0.0, 38.0) - 1.0).abs() < 1.0);
        let e = serde_json::from_str::<SavedPurchaseModel>(r#"{"model":"nbd","params":{}}"#);
        assert!(e.unwrap_err().to_string().contains("unknown variant `nbd`"));
    }

    #[test]
    fn identical_rows_collapse_and_bad_rows_are_named() {
        let d = RfmData::new(
            &[0.0, 2.0, 0.0, 2.0],
            &[0.0, 5.0, 0.0, 5.0],
            &[10.0, 10.0, 10.0, 10.0],
            None,
        )
        .unwrap();
        assert_eq!((d.len(), d.customers()), (2, 4.0));
        assert_eq!(d.weight, [2.0, 2.0]);
        let e = RfmData::new(&[1.0, 1.5], &[1.0, 1.0], &[2.0, 2.0], None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "customer row 2: frequency must be a whole number >= 0, found 1.5"
        );
        let e = RfmData::new(&[1.0], &[3.0], &[2.0], None).unwrap_err();
        assert!(e.to_string().contains("recency must be between 0 and T"));
        assert!(RfmData::new(&[], &[], &[], None).is_err());
    }
}
