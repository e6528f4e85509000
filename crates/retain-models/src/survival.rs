//! How long customers stay: Kaplan-Meier survival curves with Greenwood confidence intervals,
//! median lifetimes, and the log-rank test of whether groups differ. The estimates are those of
//! lifelines (`KaplanMeierFitter`, `multivariate_logrank_test`), formula for formula, so that
//! results compare one to one.

use serde::Serialize;
use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};

use crate::linalg::invert;
use crate::ModelError;

/// One step of a Kaplan-Meier curve: at `time`, `at_risk` customers were still observed,
/// `events` churned and `censored` left observation; `survival` is the estimate just after.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurvePoint {
    pub time: f64,
    pub at_risk: u64,
    pub events: u64,
    pub censored: u64,
    pub survival: f64,
    /// Pointwise confidence interval of `survival` (exponential Greenwood).
    pub lower: f64,
    pub upper: f64,
}

/// A fitted Kaplan-Meier curve.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KaplanMeier {
    pub n: u64,
    pub events: u64,
    /// One point per distinct time (events or censoring), from the earliest; time 0 is always
    /// present (survival 1 before any event), as in lifelines.
    pub curve: Vec<CurvePoint>,
    /// The first time the survival estimate is at or below one half; `None` when it never is.
    pub median: Option<f64>,
    /// The same time read off the lower and upper confidence bands.
    pub median_lower: Option<f64>,
    pub median_upper: Option<f64>,
    pub confidence: f64,
}

impl KaplanMeier {
    /// Fits the curve to durations (≥ 0) with their event flags (true: churned at that time;
    /// false: still a customer when last observed). `confidence` is the intervals' level, e.g.
    /// 0.95.
    pub fn fit(time: &[f64], event: &[bool], confidence: f64) -> Result<KaplanMeier, ModelError> {
        check(time, event)?;
        if !(confidence > 0.0 && confidence < 1.0) {
            return Err(ModelError::InvalidData(format!(
                "the confidence level must be between 0 and 1, found {confidence}"
            )));
        }
        let table = event_table(time, event, None, 1);
        let z = Normal::standard().inverse_cdf(0.5 + confidence / 2.0);
        let mut n = time.len() as u64;
        let (mut ln_survival, mut greenwood) = (0.0f64, 0.0f64);
        let mut curve = Vec::with_capacity(table.len());
        for row in &table {
            let (d, c) = (row.events[0], row.censored[0]);
            // lifelines: log S = Σ ln(n-d) - ln n; Greenwood's sum skips n = d (S is 0 then).
            ln_survival += ((n - d) as f64).ln() - (n as f64).ln();
            if d > 0 && n > d {
                greenwood += d as f64 / (n as f64 * (n - d) as f64);
            }
            let survival = ln_survival.exp();
            let (lower, upper) = log_log_bounds(ln_survival, greenwood, z);
            curve.push(CurvePoint {
                time: row.time,
                at_risk: n,
                events: d,
                censored: c,
                survival,
                lower,
                upper,
            });
            n -= d + c;
        }
        let first_at_or_below_half =
            |value: fn(&CurvePoint) -> f64| curve.iter().find(|p| value(p) <= 0.5).map(|p| p.time);
        let median = first_at_or_below_half(|p| p.survival);
        let median_lower = first_at_or_below_half(|p| p.lower);
        let median_upper = first_at_or_below_half(|p| p.upper);
        Ok(KaplanMeier {
            n: time.len() as u64,
            events: event.iter().filter(|&&e| e).count() as u64,
            median,
            median_lower,
            median_upper,
            curve,
            confidence,
        })
    }

    /// The estimate at `t`: the survival of the last step at or before `t` (1 before the first).
    pub fn survival_at(&self, t: f64) -> f64 {
        let after = self.curve.partition_point(|p| p.time <= t);
        if after == 0 {
            1.0
        } else {
            self.curve[after - 1].survival
        }
    }
}

/// The exponential Greenwood interval: symmetric on the log(-log S) scale, so it stays in
/// [0, 1]; where S = 1 (no event yet) the interval is the point 1, as lifelines fills it.
fn log_log_bounds(ln_survival: f64, greenwood: f64, z: f64) -> (f64, f64) {
    let v = ln_survival;
    if v == 0.0 {
        return (1.0, 1.0);
    }
    if v == f64::NEG_INFINITY {
        return (0.0, 0.0);
    }
    let spread = z * greenwood.sqrt() / v;
    let bound = |s: f64| (-((-v).ln() + s).exp()).exp();
    (bound(-spread), bound(spread))
}

/// The log-rank test of equal survival across groups.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LogRank {
    /// Chi-square statistic with `df` = groups - 1 degrees of freedom.
    pub statistic: f64,
    pub df: u32,
    pub p_value: f64,
}

/// Compares the survival of `groups` (each row's group, 0..n_groups) with the log-rank test:
/// at every event time, observed against expected events per group given who was at risk
/// (lifelines' `multivariate_logrank_test`; with two groups, `logrank_test`).
pub fn log_rank(
    time: &[f64],
    event: &[bool],
    group: &[usize],
    n_groups: usize,
) -> Result<LogRank, ModelError> {
    check(time, event)?;
    if group.len() != time.len() || group.iter().any(|&g| g >= n_groups) {
        return Err(ModelError::InvalidData(
            "group labels differ in length from the durations, or exceed the group count".into(),
        ));
    }
    if n_groups < 2 {
        return Err(ModelError::InvalidData(
            "the log-rank test needs at least two groups".into(),
        ));
    }
    let table = event_table(time, event, Some(group), n_groups);
    let k = n_groups - 1;
    let mut at_risk = vec![0u64; n_groups];
    for &g in group {
        at_risk[g] += 1;
    }
    let mut observed_minus_expected = vec![0.0; k];
    let mut variance = vec![0.0; k * k];
    for row in &table {
        let n: u64 = at_risk.iter().sum();
        let d: u64 = row.events.iter().sum();
        // With one customer at risk, observed equals expected and the variance term is 0.
        if d > 0 && n > 1 {
            let (n, d) = (n as f64, d as f64);
            let spread = d * (n - d) / (n - 1.0);
            for i in 0..k {
                let share_i = at_risk[i] as f64 / n;
                observed_minus_expected[i] += row.events[i] as f64 - d * share_i;
                for j in 0..k {
                    let share_j = at_risk[j] as f64 / n;
                    let same = if i == j { 1.0 } else { 0.0 };
                    variance[i * k + j] += spread * share_i * (same - share_j);
                }
            }
        }

        for ((n, d), c) in at_risk.iter_mut().zip(&row.events).zip(&row.censored) {
            *n -= d + c;
        }
    }
    let inverse = invert(&variance, k).ok_or_else(|| {
        ModelError::InvalidData(
            "the log-rank test is undefined here: a group has no customer at risk at any event time"
                .into(),
        )
    })?;
    let mut statistic = 0.0;
    for i in 0..k {
        for j in 0..k {
            statistic +=
                observed_minus_expected[i] * inverse[i * k + j] * observed_minus_expected[j];
        }
    }
    let p_value = ChiSquared::new(k as f64)
        .expect("k >= 1")
        .sf(statistic)
        .clamp(0.0, 1.0);
    Ok(LogRank {
        statistic,
        df: k as u32,
        p_value,
    })
}

fn check(time: &[f64], event: &[bool]) -> Result<(), ModelError> {
    if time.len() != event.len() {
        return Err(ModelError::InvalidData(
            "durations and event flags differ in length".into(),
        ));
    }
    if time.is_empty() {
        return Err(ModelError::InvalidData("no customers".into()));
    }
    if let Some(row) = time.iter().position(|t| !(t.is_finite() && *t >= 0.0)) {
        return Err(ModelError::InvalidRow {
            row: row + 1,
            message: format!("duration must be a number >= 0, found {}", time[row]),
        });
    }
    Ok(())
}

/// Events and censorings per distinct time (and per group), from the earliest, with time 0
/// first even when nobody has duration 0.
struct TableRow {
    time: f64,
    events: Vec<u64>,
    censored: Vec<u64>,
}

fn event_table(
    time: &[f64],
    event: &[bool],
    group: Option<&[usize]>,
    n_groups: usize,
) -> Vec<TableRow> {
    let mut order: Vec<usize> = (0..time.len()).collect();
    order.sort_by(|&a, &b| time[a].total_cmp(&time[b]));
    let mut table: Vec<TableRow> = Vec::new();
    let empty = |t| TableRow {
        time: t,
        events: vec![0; n_groups],
        censored: vec![0; n_groups],
    };
    if time[order[0]] > 0.0 {
        table.push(empty(0.0));
    }
    for i in order {
        if table.last().is_none_or(|r| r.time != time[i]) {
            table.push(empty(time[i]));
        }
        let row = table.last_mut().expect("pushed");
        let g = group.map_or(0, |g| g[i]);
        if event[i] {
            row.events[g] += 1;
        } else {
            row.censored[g] += 1;
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_product_limit_by_hand() {
        // Durations 1, 2+, 3, 3, 4+ (+: censored). S(1) = 4/5, S(2) = 4/5,
        // S(3) = 4/5 · 1/3 (3 at risk, 2 events), S(4) = S(3).
        let km = KaplanMeier::fit(
            &[1.0, 2.0, 3.0, 3.0, 4.0],
            &[true, false, true, true, false],
            0.95,
        )
        .unwrap();
        let times: Vec<f64> = km.curve.iter().map(|p| p.time).collect();
        assert_eq!(times, [0.0, 1.0, 2.0, 3.0, 4.0]);
        let s: Vec<f64> = km.curve.iter().map(|p| p.survival).collect();
        let want = [1.0, 0.8, 0.8, 0.8 / 3.0, 0.8 / 3.0];
        for (a, b) in s.iter().zip(want) {
            assert!((a - b).abs() < 1e-15, "{s:?}");
        }
        let at_risk: Vec<u64> = km.curve.iter().map(|p| p.at_risk).collect();
        assert_eq!(at_risk, [5, 5, 4, 3, 1]);
        assert_eq!(km.median, Some(3.0));
        assert_eq!((km.n, km.events), (5, 3));
        assert_eq!(km.survival_at(2.5), 0.8);
        assert_eq!(km.survival_at(-1.0), 1.0);
        // Greenwood at t = 1: d/(n(n-d)) = 1/20; the log(-log) interval contains S.
        let p = km.curve[1];
        assert!(p.lower < 0.8 && 0.8 < p.upper);
        let v: f64 = 0.8f64.ln();
        let z = 1.959963984540054;
        let lower = (-((-v).ln() - z * (0.05f64).sqrt() / v).exp()).exp();
        assert!((p.lower - lower).abs() < 1e-12);
    }

    #[test]
    fn everyone_churns() {
        let km = KaplanMeier::fit(&[2.0, 2.0], &[true, true], 0.95).unwrap();
        let last = km.curve.last().unwrap();
        assert_eq!((last.survival, last.lower, last.upper), (0.0, 0.0, 0.0));
        assert_eq!(km.median, Some(2.0));
    }

    #[test]
    fn log_rank_of_identical_groups_is_zero() {
        let time = [1.0, 2.0, 3.0, 1.0, 2.0, 3.0];
        let event = [true, false, true, true, false, true];
        let test = log_rank(&time, &event, &[0, 0, 0, 1, 1, 1], 2).unwrap();
        assert!(test.statistic.abs() < 1e-12);
        assert!((test.p_value - 1.0).abs() < 1e-12);
        assert_eq!(test.df, 1);
    }

    #[test]
    fn log_rank_two_groups_by_hand() {
        // Group 0 churns at 1 and 2, group 1 at 3 and 4 (no censoring). At t = 1: n = 4,
        // n0 = 2, O-E = 1 - 1/2, V = 1·3/3·(1/2)(1/2) = 1/4; t = 2: n = 3, n0 = 1,
        // O-E = 1 - 1/3, V = (1/3)(2/3) = 2/9; later group 0 has nobody at risk.
        let test = log_rank(&[1.0, 2.0, 3.0, 4.0], &[true; 4], &[0, 0, 1, 1], 2).unwrap();
        let oe: f64 = 0.5 + 2.0 / 3.0;
        let v = 0.25 + 2.0 / 9.0;
        assert!((test.statistic - oe * oe / v).abs() < 1e-12);
    }

    #[test]
    fn bad_input_is_named() {
        let e = KaplanMeier::fit(&[1.0, -2.0], &[true, false], 0.95).unwrap_err();
        assert!(e.to_string().contains("row 2"), "{e}");
        assert!(KaplanMeier::fit(&[], &[], 0.95).is_err());
        assert!(log_rank(&[1.0, 2.0], &[true, true], &[0, 0], 1).is_err());
    }
}
