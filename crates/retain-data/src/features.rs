//! Per-customer behaviour at a cutoff date, read from purchases on or before it only (recency,
//! frequency, spend, tenure, inter-purchase times, spend trend), and what happened in the window
//! after it (whether the customer bought, what they spent): the features and labels of
//! supervised churn and value models, built so that no feature sees the future.

use crate::history::PurchaseHistory;

/// Names of the behaviour features, in column order.
pub const BEHAVIOUR_FEATURES: [&str; 11] = [
    "recency_days",
    "tenure_days",
    "purchase_days",
    "total_spend",
    "avg_order_value",
    "ipt_mean_days",
    "ipt_sd_days",
    "purchases_recent",
    "spend_recent",
    "spend_before",
    "spend_trend",
];

/// Behaviour features of the customers acquired on or before the cutoff.
#[derive(Debug, Clone, PartialEq)]
pub struct BehaviourFeatures {
    pub cutoff: i32,
    /// Days in the recent window (and in the window before it) of the trend features.
    pub trend_days: i32,
    /// Each row's customer, an index into the history.
    pub customers: Vec<usize>,
    /// One column per name of [`BEHAVIOUR_FEATURES`]; NaN where a feature is undefined (the
    /// inter-purchase times of a customer with one or two purchase days, the trend of a customer
    /// who spent nothing in either window).
    pub columns: Vec<Vec<f64>>,
}

/// Features at the end of day `cutoff` (days since 1970-01-01) of every customer whose first
/// purchase was on or before it. Purchases after the cutoff are never read.
pub fn behaviour_features(
    history: &PurchaseHistory,
    cutoff: i32,
    trend_days: i32,
) -> BehaviourFeatures {
    let mut customers = Vec::new();
    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); BEHAVIOUR_FEATURES.len()];
    for k in 0..history.len() {
        let all_days = history.days(k);
        // Days ascend: the purchases up to the cutoff are a prefix.
        let seen = all_days.partition_point(|&d| d <= cutoff);
        if seen == 0 {
            continue;
        }
        let (days, amounts) = (&all_days[..seen], &history.amounts(k)[..seen]);
        let (first, last) = (days[0], days[seen - 1]);
        let total: f64 = amounts.iter().sum();
        let gaps: Vec<f64> = days.windows(2).map(|w| f64::from(w[1] - w[0])).collect();
        let (gap_mean, gap_sd) = mean_sd(&gaps);
        let window = |from: i32, to: i32| -> (f64, f64) {
            days.iter()
                .zip(amounts)
                .filter(|(&d, _)| d > from && d <= to)
                .fold((0.0, 0.0), |(n, s), (_, &a)| (n + 1.0, s + a))
        };
        let (recent_purchases, recent) = window(cutoff - trend_days, cutoff);
        let (_, before) = window(cutoff - 2 * trend_days, cutoff - trend_days);
        let trend = if recent + before > 0.0 {
            (recent - before) / (recent + before)
        } else {
            f64::NAN
        };
        let values = [
            f64::from(cutoff - last),
            f64::from(cutoff - first),
            seen as f64,
            total,
            total / seen as f64,
            gap_mean,
            gap_sd,
            recent_purchases,
            recent,
            before,
            trend,
        ];
        for (column, value) in columns.iter_mut().zip(values) {
            column.push(value);
        }
        customers.push(k);
    }
    BehaviourFeatures {
        cutoff,
        trend_days,
        customers,
        columns,
    }
}

/// Mean (NaN below one value) and sample standard deviation (NaN below two).
fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, f64::NAN);
    }
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// The "buy till you die" summary of customers at the end of a day: repeat purchase days x, the
/// time t_x from the first purchase to the last and T from the first purchase to the day (in
/// units of `unit_days`), and the mean spend of the repeat purchase days (0 without).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RepeatSummary {
    pub x: Vec<f64>,
    pub t_x: Vec<f64>,
    pub t: Vec<f64>,
    pub monetary: Vec<f64>,
}

/// The summary at `day` of `customers` (indices into the history, each with a purchase on or
/// before the day).
pub fn repeat_summary(
    history: &PurchaseHistory,
    customers: &[usize],
    day: i32,
    unit_days: f64,
) -> RepeatSummary {
    let mut s = RepeatSummary::default();
    for &k in customers {
        let days = history.days(k);
        let seen = days.partition_point(|&d| d <= day);
        let repeat = &history.amounts(k)[1..seen];
        s.x.push(repeat.len() as f64);
        s.t_x.push(f64::from(days[seen - 1] - days[0]) / unit_days);
        s.t.push(f64::from(day - days[0]) / unit_days);
        s.monetary.push(if repeat.is_empty() {
            0.0
        } else {
            repeat.iter().sum::<f64>() / repeat.len() as f64
        });
    }
    s
}

/// What each customer did in the `horizon_days` after the cutoff.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcomes {
    /// Bought at least once in the window.
    pub purchased: Vec<bool>,
    /// Spent in the window.
    pub spend: Vec<f64>,
}

impl Outcomes {
    /// 1 for customers who did not buy in the window (churned), else 0.
    pub fn churned(&self) -> Vec<f64> {
        self.purchased
            .iter()
            .map(|&p| f64::from(u8::from(!p)))
            .collect()
    }

    /// 1 for customers whose spend in the window is among the top `share` (ties at the
    /// threshold included; nobody who spent nothing), else 0.
    pub fn top_value(&self, share: f64) -> Vec<f64> {
        let mut sorted = self.spend.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let take = ((sorted.len() as f64 * share).ceil() as usize).clamp(1, sorted.len());
        let threshold = sorted[take - 1];
        self.spend
            .iter()
            .map(|&s| f64::from(u8::from(s > 0.0 && s >= threshold)))
            .collect()
    }
}

/// Outcomes of `customers` (indices into the history) in the days `cutoff + 1 ..= cutoff +
/// horizon_days`.
pub fn outcomes(
    history: &PurchaseHistory,
    customers: &[usize],
    cutoff: i32,
    horizon_days: i32,
) -> Outcomes {
    let (mut purchased, mut spend) = (
        Vec::with_capacity(customers.len()),
        Vec::with_capacity(customers.len()),
    );
    for &k in customers {
        let days = history.days(k);
        let from = days.partition_point(|&d| d <= cutoff);
        let to = days.partition_point(|&d| d <= cutoff + horizon_days);
        purchased.push(to > from);
        spend.push(history.amounts(k)[from..to].iter().sum());
    }
    Outcomes { purchased, spend }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(extra_after_cutoff: bool) -> PurchaseHistory {
        let mut a = vec![(0, 10.0), (10, 20.0), (40, 30.0)];
        let mut b = vec![(35, 5.0)];
        let c = vec![(60, 100.0)];
        if extra_after_cutoff {
            a.extend([(51, 1_000.0), (70, 7.0)]);
            b.push((55, 1.0));
        }
        PurchaseHistory::from_customers(vec![("a".into(), a), ("b".into(), b), ("c".into(), c)])
    }

    #[test]
    fn features_by_hand() {
        let f = behaviour_features(&history(false), 50, 20);
        // c's first purchase is after the cutoff: not a customer yet.
        assert_eq!(f.customers, vec![0, 1]);
        let row = |k: usize| -> Vec<f64> { f.columns.iter().map(|c| c[k]).collect() };
        let a = row(0);
        assert_eq!(&a[..5], &[10.0, 50.0, 3.0, 60.0, 20.0]);
        assert_eq!(a[5], 20.0); // gaps 10 and 30
        assert!((a[6] - 200f64.sqrt()).abs() < 1e-12);
        // Recent window (30, 50]: the purchase on day 40; before (10, 30]: none (day 10 is not after 10).
        assert_eq!(&a[7..], &[1.0, 30.0, 0.0, 1.0]);
        let b = row(1);
        assert_eq!(&b[..5], &[15.0, 15.0, 1.0, 5.0, 5.0]);
        assert!(b[5].is_nan() && b[6].is_nan());

        let s = repeat_summary(&history(true), &f.customers, 50, 7.0);
        assert_eq!(s.x, [2.0, 0.0]);
        assert_eq!(s.t_x, [40.0 / 7.0, 0.0]);
        assert_eq!(s.t, [50.0 / 7.0, 15.0 / 7.0]);
        assert_eq!(s.monetary, [25.0, 0.0]);
    }

    #[test]
    fn no_feature_reads_after_the_cutoff() {
        // The same customers with more (and larger) purchases after the cutoff: every feature
        // is the same, and only the outcomes see them.
        let (before, after) = (history(false), history(true));
        let (fb, fa) = (
            behaviour_features(&before, 50, 20),
            behaviour_features(&after, 50, 20),
        );
        assert_eq!(fb.customers, fa.customers);
        for (cb, ca) in fb.columns.iter().zip(&fa.columns) {
            for (x, y) in cb.iter().zip(ca) {
                assert!(x == y || (x.is_nan() && y.is_nan()));
            }
        }
        let o = outcomes(&after, &fa.customers, 50, 15);
        assert_eq!(o.purchased, vec![true, true]);
        assert_eq!(o.spend, vec![1_000.0, 1.0]);
        assert_eq!(o.churned(), vec![0.0, 0.0]);
        let o = outcomes(&before, &fb.customers, 50, 15);
        assert_eq!(o.churned(), vec![1.0, 1.0]);
        // Day 70 is outside a 15-day window after day 50.
        assert_eq!(outcomes(&after, &[0], 50, 19).spend, vec![1_000.0]);
        assert_eq!(outcomes(&after, &[0], 50, 20).spend, vec![1_007.0]);
    }

    #[test]
    fn top_value_takes_the_top_share_of_spenders() {
        let o = Outcomes {
            purchased: vec![true; 5],
            spend: vec![10.0, 0.0, 50.0, 20.0, 50.0],
        };
        assert_eq!(o.top_value(0.2), vec![0.0, 0.0, 1.0, 0.0, 1.0]);
        assert_eq!(o.top_value(0.6), vec![0.0, 0.0, 1.0, 1.0, 1.0]);
        let nobody = Outcomes {
            purchased: vec![false; 2],
            spend: vec![0.0, 0.0],
        };
        assert_eq!(nobody.top_value(0.5), vec![0.0, 0.0]);
    }
}
