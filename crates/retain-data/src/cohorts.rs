//! Acquisition cohorts and retention by period: the cohort table (of each cohort, how many
//! customers were active, and what they spent, in each period since acquisition) and the
//! retention and churn rates of each calendar period.
//!
//! Definitions (documented in the README):
//! - A customer's cohort is the period of their first purchase (non-contractual) or of their
//!   start date (contractual).
//! - Non-contractual: a customer is active in a period with at least one purchase in it. The
//!   retention rate of period t is the share of customers active in t-1 who are active in t;
//!   the churn rate is 1 minus it.
//! - Contractual (start and end dates): a customer is active in a period when their contract
//!   covers any day of it (started on or before its last day, ended on or after its first, or
//!   not ended). The churn rate of period t is the share of customers active at its start
//!   whose contract ends within it; the retention rate is 1 minus it.
//!
//! Periods after the observation end are not counted; a last period cut short by the
//! observation end is flagged `partial`.

use serde::Serialize;

use crate::history::PurchaseHistory;
use crate::Period;

/// One acquisition cohort's row of the table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cohort {
    /// The cohort's period, as people name it (e.g. 1997-01).
    pub cohort: String,
    /// Customers acquired in the period.
    pub size: u64,
    /// Customers active in each period since acquisition, the acquisition period first.
    pub active: Vec<u64>,
    /// `active` over `size`.
    pub share: Vec<f64>,
    /// What the cohort spent in each period since acquisition.
    pub revenue: Vec<f64>,
}

/// Retention in one calendar period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodRates {
    pub period: String,
    /// Customers acquired in the period.
    pub new: u64,
    /// Customers active in the period.
    pub active: u64,
    /// The base of the rates: non-contractual, customers active in the previous period;
    /// contractual, customers active at the period's start.
    pub base: u64,
    /// Of `base`, customers still active (non-contractual: active in this period too;
    /// contractual: not ended within it).
    pub retained: u64,
    /// `retained / base`; `None` when the base is empty.
    pub retention_rate: Option<f64>,
    pub churn_rate: Option<f64>,
    pub revenue: f64,
    /// The observation end cuts the period short.
    pub partial: bool,
}

/// The cohort table and the per-period rates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CohortTable {
    pub period: Period,
    /// "purchases" (non-contractual) or "contracts".
    pub basis: &'static str,
    pub cohorts: Vec<Cohort>,
    pub rates: Vec<PeriodRates>,
}

/// The observed periods: ordinals from `first` to `last`, and whether the last is cut short.
struct Span {
    period: Period,
    first: i32,
    last: i32,
    partial: bool,
}

impl Span {
    fn new(period: Period, first_day: i32, end_day: i32) -> Span {
        let last = period.ordinal(end_day);
        Span {
            period,
            first: period.ordinal(first_day),
            last,
            partial: period.first_day(last + 1) - 1 > end_day,
        }
    }

    fn len(&self) -> usize {
        (self.last - self.first + 1).max(0) as usize
    }

    fn label(&self, index: usize) -> String {
        self.period.label(self.first + index as i32)
    }
}

/// Accumulates per-cohort and per-period counts, then shapes them into a [`CohortTable`].
struct Tally {
    span: Span,
    size: Vec<u64>,
    active: Vec<Vec<u64>>,
    revenue: Vec<Vec<f64>>,
    rates: Vec<PeriodRates>,
}

impl Tally {
    fn new(span: Span) -> Tally {
        let n = span.len();
        let rates = (0..n)
            .map(|i| PeriodRates {
                period: span.label(i),
                new: 0,
                active: 0,
                base: 0,
                retained: 0,
                retention_rate: None,
                churn_rate: None,
                revenue: 0.0,
                partial: span.partial && i + 1 == n,
            })
            .collect();
        // A cohort's row is allocated when its first customer joins: a log whose dates span
        // millennia (one customer in year 1, one in 9999) has two rows, not n² cells.
        Tally {
            size: vec![0; n],
            active: vec![Vec::new(); n],
            revenue: vec![Vec::new(); n],
            rates,
            span,
        }
    }

    /// A customer joins `cohort` (the period's index).
    fn join(&mut self, cohort: usize) {
        if self.size[cohort] == 0 {
            let periods = self.span.len() - cohort;
            self.active[cohort] = vec![0; periods];
            self.revenue[cohort] = vec![0.0; periods];
        }
        self.size[cohort] += 1;
        self.rates[cohort].new += 1;
    }

    fn finish(self, basis: &'static str) -> CohortTable {
        let Tally {
            span,
            size,
            active,
            revenue,
            mut rates,
        } = self;
        for r in &mut rates {
            if r.base > 0 {
                let retention = r.retained as f64 / r.base as f64;
                r.retention_rate = Some(retention);
                r.churn_rate = Some(1.0 - retention);
            }
        }
        let cohorts = (0..span.len())
            .filter(|&c| size[c] > 0)
            .map(|c| Cohort {
                cohort: span.label(c),
                size: size[c],
                share: active[c]
                    .iter()
                    .map(|&a| a as f64 / size[c] as f64)
                    .collect(),
                active: active[c].clone(),
                revenue: revenue[c].clone(),
            })
            .collect();
        CohortTable {
            period: span.period,
            basis,
            cohorts,
            rates,
        }
    }
}

/// The cohort table of a purchase log up to `end_day` (default: the last purchase).
pub fn purchase_cohorts(
    history: &PurchaseHistory,
    period: Period,
    end_day: Option<i32>,
) -> Option<CohortTable> {
    let (first_day, last_day) = history.span()?;
    let span = Span::new(period, first_day, end_day.unwrap_or(last_day));
    let mut tally = Tally::new(span);
    let mut periods: Vec<(usize, f64)> = Vec::new();
    for k in 0..history.len() {
        // (period index, spend) of the customer's purchase days up to the end, merged per period.
        periods.clear();
        for (&day, &amount) in history.days(k).iter().zip(history.amounts(k)) {
            let p = tally.span.period.ordinal(day);
            if p > tally.span.last {
                break;
            }
            let i = (p - tally.span.first) as usize;
            match periods.last_mut() {
                Some(last) if last.0 == i => last.1 += amount,
                _ => periods.push((i, amount)),
            }
        }
        let Some(&(cohort, _)) = periods.first() else {
            continue;
        };
        tally.join(cohort);
        for (j, &(i, spend)) in periods.iter().enumerate() {
            tally.active[cohort][i - cohort] += 1;
            tally.revenue[cohort][i - cohort] += spend;
            tally.rates[i].active += 1;
            tally.rates[i].revenue += spend;
            if i + 1 < tally.rates.len() {
                tally.rates[i + 1].base += 1;
                if periods.get(j + 1).is_some_and(|next| next.0 == i + 1) {
                    tally.rates[i + 1].retained += 1;
                }
            }
        }
    }
    Some(tally.finish("purchases"))
}

/// The cohort table of contracts: each customer's start day and end day (`None`: still a
/// customer), observed to `end_day` (default: the last start or end date). Contracts ending
/// before they start are the caller's to reject.
pub fn contract_cohorts(
    starts: &[i32],
    ends: &[Option<i32>],
    period: Period,
    end_day: Option<i32>,
) -> Option<CohortTable> {
    let first_day = *starts.iter().min()?;
    let last_seen = starts.iter().chain(ends.iter().flatten()).max().copied()?;
    let span = Span::new(period, first_day, end_day.unwrap_or(last_seen));
    let mut tally = Tally::new(span);
    for (&start, &end) in starts.iter().zip(ends) {
        let p = tally.span.period.ordinal(start);
        if p > tally.span.last {
            continue;
        }
        let cohort = (p - tally.span.first) as usize;
        tally.join(cohort);
        // Ends after the observation end are not known yet: still a customer.
        let end_period = end
            .map(|e| tally.span.period.ordinal(e))
            .filter(|&e| e <= tally.span.last)
            .map(|e| (e - tally.span.first) as usize);
        let last_active = end_period.unwrap_or(tally.rates.len() - 1);
        for i in cohort..=last_active {
            tally.active[cohort][i - cohort] += 1;
            tally.rates[i].active += 1;
            if i > cohort {
                tally.rates[i].base += 1;
                if end_period != Some(i) {
                    tally.rates[i].retained += 1;
                }
            }
        }
    }
    Some(tally.finish("contracts"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dates::days_from_civil;

    fn day(m: u32, d: u32) -> i32 {
        days_from_civil(2020, m, d)
    }

    #[test]
    fn purchase_cohorts_by_hand() {
        // a: Jan, Feb, Apr; b: Jan only; c: Feb, Mar. Observed to Apr 15 (April partial).
        let history = PurchaseHistory::from_customers(vec![
            (
                "a".into(),
                vec![(day(1, 3), 10.0), (day(2, 1), 5.0), (day(4, 2), 1.0)],
            ),
            ("b".into(), vec![(day(1, 20), 7.0), (day(1, 21), 1.0)]),
            ("c".into(), vec![(day(2, 10), 2.0), (day(3, 31), 3.0)]),
        ]);
        let t = purchase_cohorts(&history, Period::Month, Some(day(4, 15))).unwrap();
        assert_eq!(t.cohorts.len(), 2);
        let jan = &t.cohorts[0];
        assert_eq!((jan.cohort.as_str(), jan.size), ("2020-01", 2));
        assert_eq!(jan.active, [2, 1, 0, 1]);
        assert_eq!(jan.share, [1.0, 0.5, 0.0, 0.5]);
        assert_eq!(jan.revenue, [18.0, 5.0, 0.0, 1.0]);
        let feb = &t.cohorts[1];
        assert_eq!((feb.cohort.as_str(), feb.size), ("2020-02", 1));
        assert_eq!(feb.active, [1, 1, 0]);
        // Feb: base = Jan's 2 active, retained a; Mar: base a, c -> c; Apr: base c -> none.
        let rates: Vec<(u64, u64, u64)> = t
            .rates
            .iter()
            .map(|r| (r.active, r.base, r.retained))
            .collect();
        assert_eq!(rates, [(2, 0, 0), (2, 2, 1), (1, 2, 1), (1, 1, 0)]);
        assert_eq!(t.rates[1].churn_rate, Some(0.5));
        assert_eq!(t.rates[0].retention_rate, None);
        assert!(t.rates[3].partial && !t.rates[2].partial);
        assert_eq!(t.rates.iter().map(|r| r.new).sum::<u64>(), 3);
    }

    #[test]
    fn contract_cohorts_by_hand() {
        // x: Jan 10 .. Feb 20; y: Jan 5, open; z: Feb 1 .. Feb 2. Observed through March.
        let starts = [day(1, 10), day(1, 5), day(2, 1)];
        let ends = [Some(day(2, 20)), None, Some(day(2, 2))];
        let t = contract_cohorts(&starts, &ends, Period::Month, Some(day(3, 31))).unwrap();
        assert_eq!(t.cohorts[0].active, [2, 2, 1]);
        assert_eq!(t.cohorts[1].active, [1, 0]);
        // Feb: 2 active at its start (x, y), x ends -> churn 1/2. Mar: y only, stays.
        assert_eq!(t.rates[1].base, 2);
        assert_eq!(t.rates[1].churn_rate, Some(0.5));
        assert_eq!(t.rates[2].churn_rate, Some(0.0));
        assert_eq!(t.rates[1].active, 3);
        assert!(!t.rates[2].partial);
    }
}
