//! Purchases and churn by calendar month and by weekday, with the exposure each count is to be
//! read against, so that rates compare across months of different length and a growing or
//! shrinking customer base.
//!
//! - Purchases: repeat purchase days (customer-days with a purchase after the customer's
//!   first; the first purchase opens the exposure, so counting it would credit acquisition
//!   months with purchases that were certain). Exposure: customer-days in the base, a customer
//!   being in the base from their first purchase to the observation end.
//! - Churn (a customer churns at their last purchase before `inactive_days` without one, as
//!   `PurchaseHistory::lifetimes` defines it): churn events by the month and weekday of that
//!   last purchase. Exposure: customer-days alive, from the first purchase to the churn (or to
//!   the observation end for customers still active).

use serde::Serialize;

use crate::dates::civil_from_days;
use crate::history::PurchaseHistory;
use chrono::Datelike;

/// Counts and exposures of one calendar month or weekday.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct SeasonCell {
    /// Repeat purchase days.
    pub purchases: u64,
    /// Customer-days in the base.
    pub customer_days: u64,
    pub churned: u64,
    /// Customer-days alive (before churning).
    pub alive_days: u64,
}

/// By calendar month (January first) and by weekday (Monday first).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeasonalCounts {
    pub months: [SeasonCell; 12],
    pub weekdays: [SeasonCell; 7],
    /// Calendar days observed, first purchase to observation end.
    pub days: u64,
}

/// Counts purchases and churn of the log up to `end_day`.
pub fn seasonal_counts(
    history: &PurchaseHistory,
    end_day: i32,
    inactive_days: i32,
) -> Option<SeasonalCounts> {
    let (first_day, _) = history.span()?;
    if end_day < first_day {
        return None;
    }
    let span = (end_day - first_day + 1) as usize;
    // Per calendar day: customers entering the base, and leaving the alive set (the day after
    // their churn); summed into running totals below.
    let mut joining = vec![0i64; span + 1];
    let mut leaving = vec![0i64; span + 1];
    let mut counts = SeasonalCounts {
        months: [SeasonCell::default(); 12],
        weekdays: [SeasonCell::default(); 7],
        days: span as u64,
    };
    let (month, weekday) = (
        |day: i32| civil_from_days(day).month0() as usize,
        |day: i32| (day + 3).rem_euclid(7) as usize,
    );
    for (k, duration, churned) in history.lifetimes(inactive_days, end_day, 1.0) {
        let days = history.days(k);
        let first = days[0];
        joining[(first - first_day) as usize] += 1;
        for &d in days.iter().skip(1).take_while(|&&d| d <= end_day) {
            counts.months[month(d)].purchases += 1;
            counts.weekdays[weekday(d)].purchases += 1;
        }
        if churned {
            let churn_day = first + duration as i32;
            counts.months[month(churn_day)].churned += 1;
            counts.weekdays[weekday(churn_day)].churned += 1;
            leaving[(churn_day - first_day) as usize + 1] += 1;
        }
    }
    let (mut base, mut alive) = (0i64, 0i64);
    for i in 0..span {
        base += joining[i];
        alive += joining[i] - leaving[i];
        let day = first_day + i as i32;
        for cell in [
            &mut counts.months[month(day)],
            &mut counts.weekdays[weekday(day)],
        ] {
            cell.customer_days += base as u64;
            cell.alive_days += alive as u64;
        }
    }
    Some(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dates::days_from_civil;

    #[test]
    fn counts_and_exposures_by_hand() {
        // 2020-01-30 (Thursday) .. 2020-02-03 (Monday), observed to Feb 3; churn after 3 days.
        let d = |m, day| days_from_civil(2020, m, day);
        let history = PurchaseHistory::from_customers(vec![
            ("a".into(), vec![(d(1, 30), 1.0), (d(2, 1), 1.0)]),
            ("b".into(), vec![(d(1, 31), 1.0)]),
        ]);
        let c = seasonal_counts(&history, d(2, 3), 3).unwrap();
        assert_eq!(c.days, 5);
        // Repeat purchases: a's on Feb 1 (first purchases open the exposure).
        assert_eq!((c.months[0].purchases, c.months[1].purchases), (0, 1));
        // Base: Jan 30: 1, Jan 31: 2, Feb 1..3: 2 each.
        assert_eq!(
            (c.months[0].customer_days, c.months[1].customer_days),
            (3, 6)
        );
        // b churns at Jan 31 (nothing Feb 1..3); a's gaps are 2 days: still active.
        assert_eq!((c.months[0].churned, c.months[1].churned), (1, 0));
        // Alive: Jan 30: a; Jan 31: a, b; Feb 1..3: a.
        assert_eq!((c.months[0].alive_days, c.months[1].alive_days), (3, 3));
        // Weekdays (Monday = 0): Thursday Jan 30, Friday Jan 31, Saturday Feb 1.
        assert_eq!(c.weekdays[5].purchases, 1);
        assert_eq!(c.weekdays[4].churned, 1);
        assert_eq!(c.weekdays[0].customer_days, 2);
    }
}
