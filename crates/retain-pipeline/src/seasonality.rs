//! Seasonality: purchase and churn rates by calendar month and by weekday, each read against
//! its exposure in customer-days, as rates per 1,000 customer-days and as an index to the
//! overall rate, with the likelihood-ratio test of whether the month (and the weekday) matters.
//! The counts are `retain_data::seasonality`'s; churn is `survival`'s from a log (no purchase
//! for `inactive_days`).

use retain_data::dates::format_day;
use retain_data::seasonality::{seasonal_counts, SeasonCell, SeasonalCounts};
use retain_data::PurchaseHistory;
use retain_models::seasonality::{equal_rates_test, RateTest};
use serde::Serialize;

use crate::error::invalid;
use crate::source::Log;
use crate::Result;

/// The window and the definition of churn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeasonalityOptions {
    /// End of observation; `None`: the last purchase.
    pub observation_end: Option<i32>,
    /// A customer has churned after this many days without a purchase.
    pub inactive_days: i32,
}

impl Default for SeasonalityOptions {
    fn default() -> Self {
        SeasonalityOptions {
            observation_end: None,
            inactive_days: 180,
        }
    }
}

pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
pub const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// One season's rates, per 1,000 customer-days, and their index against the overall rate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeasonRates {
    pub season: &'static str,
    #[serde(flatten)]
    pub counts: SeasonCell,
    pub purchase_rate: Option<f64>,
    pub purchase_index: Option<f64>,
    pub churn_rate: Option<f64>,
    pub churn_index: Option<f64>,
}

/// Rates by season and the tests of equal rates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Seasonality {
    pub months: Vec<SeasonRates>,
    pub weekdays: Vec<SeasonRates>,
    pub purchases_by_month: RateTest,
    pub purchases_by_weekday: RateTest,
    /// `None` when nobody churned.
    pub churn_by_month: Option<RateTest>,
    pub churn_by_weekday: Option<RateTest>,
    pub days_observed: u64,
    /// The first purchase of the log.
    #[serde(skip)]
    pub first_day: i32,
    #[serde(skip)]
    pub observation_end: i32,
}

/// Rates and tests of a purchase history.
///
/// ```
/// use retain_data::PurchaseHistory;
/// use retain_pipeline::seasonality::{seasonality, SeasonalityOptions};
///
/// // 2024-01-01 is day 19723; two customers buying in January and March.
/// let history = PurchaseHistory::from_customers(vec![
///     ("a".into(), vec![(19723, 1.0), (19730, 1.0), (19790, 1.0)]),
///     ("b".into(), vec![(19725, 1.0), (19800, 1.0)]),
/// ]);
/// let s = seasonality(&history, &SeasonalityOptions::default())?;
/// // First purchases open the exposure and are not counted.
/// assert_eq!(s.months[0].counts.purchases, 1);
/// assert_eq!(s.months[2].counts.purchases, 2);
/// # Ok::<(), retain_pipeline::PipelineError>(())
/// ```
pub fn seasonality(history: &PurchaseHistory, options: &SeasonalityOptions) -> Result<Seasonality> {
    if options.inactive_days < 1 {
        return Err(invalid!(
            "inactive_days must be at least 1, found {}",
            options.inactive_days
        ));
    }
    let Some((first, last)) = history.span() else {
        return Err(invalid!("the log has no usable transactions"));
    };
    let end = options.observation_end.unwrap_or(last);
    let Some(counts) = seasonal_counts(history, end, options.inactive_days) else {
        return Err(invalid!(
            "the observation end {} is before the first purchase {}",
            format_day(end),
            format_day(first)
        ));
    };
    let mut rates = rates(&counts)?;
    rates.first_day = first;
    rates.observation_end = end;
    Ok(rates)
}

/// [`seasonality`] of a transaction log.
///
/// ```no_run
/// use retain_pipeline::seasonality::{seasonality_of_log, SeasonalityOptions};
/// use retain_pipeline::source::Log;
///
/// let log = Log { files: vec!["transactions.csv".into()], ..Default::default() };
/// let s = seasonality_of_log(&log, &SeasonalityOptions::default())?;
/// println!("month effect on purchases: p = {}", s.purchases_by_month.p_value);
/// # Ok::<(), retain_pipeline::PipelineError>(())
/// ```
pub fn seasonality_of_log(log: &Log, options: &SeasonalityOptions) -> Result<Seasonality> {
    let (history, _) = log.history()?;
    seasonality(&history, options)
}

/// Rates, indices and tests of the counts (the window's days left at 0).
fn rates(counts: &SeasonalCounts) -> Result<Seasonality> {
    let rates = |cells: &[SeasonCell], names: &[&'static str]| -> Vec<SeasonRates> {
        let total = |f: fn(&SeasonCell) -> (u64, u64)| {
            let (n, e) = cells
                .iter()
                .map(f)
                .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
            (e > 0).then(|| 1000.0 * n as f64 / e as f64)
        };
        let overall_purchase = total(|c| (c.purchases, c.customer_days));
        let overall_churn = total(|c| (c.churned, c.alive_days));
        cells
            .iter()
            .zip(names)
            .map(|(c, &name)| {
                let rate = |n: u64, e: u64| (e > 0).then(|| 1000.0 * n as f64 / e as f64);
                let index = |r: Option<f64>, o: Option<f64>| match (r, o) {
                    (Some(r), Some(o)) if o > 0.0 => Some(r / o),
                    _ => None,
                };
                let purchase_rate = rate(c.purchases, c.customer_days);
                let churn_rate = rate(c.churned, c.alive_days);
                SeasonRates {
                    season: name,
                    counts: *c,
                    purchase_rate,
                    purchase_index: index(purchase_rate, overall_purchase),
                    churn_rate,
                    churn_index: index(churn_rate, overall_churn),
                }
            })
            .collect()
    };
    let test = |cells: &[SeasonCell], f: fn(&SeasonCell) -> (u64, u64)| {
        let (n, e): (Vec<f64>, Vec<f64>) = cells
            .iter()
            .map(|c| {
                let (n, e) = f(c);
                (n as f64, e as f64)
            })
            .unzip();
        equal_rates_test(&n, &e)
    };
    let purchases = |c: &SeasonCell| (c.purchases, c.customer_days);
    let churn = |c: &SeasonCell| (c.churned, c.alive_days);
    let any_churn = counts.months.iter().any(|c| c.churned > 0);
    Ok(Seasonality {
        months: rates(&counts.months, &MONTHS),
        weekdays: rates(&counts.weekdays, &WEEKDAYS),
        purchases_by_month: test(&counts.months, purchases)?,
        purchases_by_weekday: test(&counts.weekdays, purchases)?,
        churn_by_month: if any_churn {
            Some(test(&counts.months, churn)?)
        } else {
            None
        },
        churn_by_weekday: if any_churn {
            Some(test(&counts.weekdays, churn)?)
        } else {
            None
        },
        days_observed: counts.days,
        first_day: 0,
        observation_end: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use retain_data::dates::days_from_civil;

    #[test]
    fn rates_are_counts_over_exposure() {
        let day = |m: u32, d: u32| days_from_civil(2023, m, d);
        // a: first purchase Jan 1, repeats Jan 11 and Feb 5, then nothing (churns on Feb 5
        // with 30 inactive days); b: first Jan 21, repeats Feb 15 and Mar 10, still active on
        // Mar 31.
        let history = PurchaseHistory::from_customers(vec![
            (
                "a".into(),
                vec![(day(1, 1), 5.0), (day(1, 11), 5.0), (day(2, 5), 5.0)],
            ),
            (
                "b".into(),
                vec![(day(1, 21), 5.0), (day(2, 15), 5.0), (day(3, 10), 5.0)],
            ),
        ]);
        let options = SeasonalityOptions {
            observation_end: Some(day(3, 31)),
            inactive_days: 30,
        };
        let s = seasonality(&history, &options).unwrap();
        assert_eq!((s.first_day, s.observation_end), (day(1, 1), day(3, 31)));
        assert_eq!(s.days_observed, 90);
        let purchases: Vec<u64> = s.months.iter().map(|m| m.counts.purchases).collect();
        assert_eq!(purchases[..3], [1, 2, 1]);
        assert!(purchases[3..].iter().all(|&p| p == 0));
        // Each month's rate is its purchases per 1,000 of its customer-days.
        for m in &s.months[..3] {
            let want = 1000.0 * m.counts.purchases as f64 / m.counts.customer_days as f64;
            assert!((m.purchase_rate.unwrap() - want).abs() < 1e-12);
        }
        // Customer-days: both customers from their first purchase to the end.
        let exposure: u64 = s.months.iter().map(|m| m.counts.customer_days).sum();
        assert_eq!(exposure, 90 + 70);
        assert_eq!(s.months[5].purchase_rate, None);
        // Three months with exposure.
        assert_eq!(s.purchases_by_month.df, 2);
        assert_eq!(s.purchases_by_weekday.df, 6);
        // a churned (no purchase for 30 days after Feb 5), in February.
        let churned: Vec<u64> = s.months.iter().map(|m| m.counts.churned).collect();
        assert_eq!(churned[..3], [0, 1, 0]);
        assert_eq!(churned.iter().sum::<u64>(), 1);
        assert!(s.churn_by_month.is_some());

        let early = SeasonalityOptions {
            observation_end: Some(day(1, 1) - 1),
            ..options
        };
        let error = seasonality(&history, &early).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the observation end 2022-12-31 is before the first purchase 2023-01-01"
        );
    }

    #[test]
    fn from_a_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.csv");
        std::fs::write(
            &path,
            "customer_id,date\n1,2023-01-02\n1,2023-02-06\n2,2023-01-03\n",
        )
        .unwrap();
        let log = Log {
            files: vec![path],
            ..Default::default()
        };
        let s = seasonality_of_log(&log, &SeasonalityOptions::default()).unwrap();
        // One repeat purchase, on a Monday in February; nobody churned within 180 days.
        assert_eq!(s.months[1].counts.purchases, 1);
        assert_eq!(s.weekdays[0].counts.purchases, 1);
        assert_eq!(s.churn_by_month, None);
        assert_eq!(s.days_observed, 36);
    }
}
