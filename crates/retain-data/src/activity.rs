//! Activity of a transaction log over time, for tracking a purchase model against the actual
//! repeat transactions (Fader, Hardie & Lee 2005, figure 2; lifetimes'
//! `expected_cumulative_transactions`): how many customers made their first transaction in
//! each period, and how many repeat transactions (a customer's periods with a transaction
//! after their first) fell in each.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::{Date32Type, UInt32Type};

use crate::error::Result;
use crate::ingest::{IngestReport, ReadOptions, TransactionReader};

/// Per period (keyed by the period's first day): first transactions and repeat transactions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Activity {
    /// Customers whose first transaction is in the period.
    pub first_purchases: BTreeMap<i32, u64>,
    /// Repeat transactions in the period: one per customer with a transaction there who had
    /// one in an earlier period.
    pub repeat_purchases: BTreeMap<i32, u64>,
    pub report: IngestReport,
}

impl Activity {
    /// The first day with a transaction.
    pub fn first_day(&self) -> Option<i32> {
        self.first_purchases.keys().next().copied()
    }
}

/// Reads the log (merging each customer's transactions of one period, as the summaries do) and
/// counts first and repeat transactions per period.
pub fn activity(files: &[PathBuf], read: ReadOptions) -> Result<Activity> {
    let mut reader = TransactionReader::open(files, read)?;
    let mut seen: HashSet<(u32, i32)> = HashSet::new();
    // Keyed by code: codes are sparse (plain integer ids are their own codes).
    let mut first: HashMap<u32, i32> = HashMap::new();
    for batch in reader.by_ref() {
        let batch = batch?;
        let customers = batch.column(0).as_primitive::<UInt32Type>();
        let periods = batch.column(2).as_primitive::<Date32Type>();
        for (&c, &p) in customers.values().iter().zip(periods.values()) {
            if seen.insert((c, p)) {
                let day = first.entry(c).or_insert(p);
                *day = (*day).min(p);
            }
        }
    }
    let mut activity = Activity {
        report: reader.report().clone(),
        ..Default::default()
    };
    for &day in first.values() {
        *activity.first_purchases.entry(day).or_default() += 1;
    }
    for &(c, p) in &seen {
        if first[&c] != p {
            *activity.repeat_purchases.entry(p).or_default() += 1;
        }
    }
    Ok(activity)
}
