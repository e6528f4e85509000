//! Each customer's purchase days in order, with what was spent each day: the shape that cohort
//! tables, survival from a log, seasonality and lifecycle stages read. Transactions of one
//! customer on one day are merged (the summaries' convention); the ingest report accounts for
//! every row read.

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::{Date32Type, Float64Type, UInt32Type};

use crate::error::Result;
use crate::ingest::{IngestReport, ReadOptions, TransactionReader};
use crate::summary::{from_micros, to_micros};
use crate::Period;

/// Purchase days per customer, customers ordered by id (numerically when ids are integers).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PurchaseHistory {
    ids: Vec<String>,
    /// Customer k's days are `days[offsets[k]..offsets[k + 1]]`, ascending and distinct.
    offsets: Vec<usize>,
    days: Vec<i32>,
    /// Spend per purchase day (0 when the log has no amounts).
    amounts: Vec<f64>,
    pub has_amounts: bool,
    pub report: IngestReport,
}

impl PurchaseHistory {
    /// Reads a transaction log (merging each customer's transactions per calendar day,
    /// whatever `read.period` says).
    pub fn read(files: &[std::path::PathBuf], read: ReadOptions) -> Result<PurchaseHistory> {
        let mut reader = TransactionReader::open(
            files,
            ReadOptions {
                period: Period::Day,
                ..read
            },
        )?;
        let has_amounts = reader.schema().fields().len() > 3;
        let mut rows: Vec<(u32, i32, f64)> = Vec::new();
        for batch in reader.by_ref() {
            let batch = batch?;
            let customers = batch.column(0).as_primitive::<UInt32Type>().values();
            let days = batch.column(1).as_primitive::<Date32Type>().values();
            if has_amounts {
                let amounts = batch.column(3).as_primitive::<Float64Type>().values();
                rows.extend(
                    customers
                        .iter()
                        .zip(days.iter())
                        .zip(amounts.iter())
                        .map(|((&c, &d), &a)| (c, d, a)),
                );
            } else {
                rows.extend(
                    customers
                        .iter()
                        .zip(days.iter())
                        .map(|(&c, &d)| (c, d, 0.0)),
                );
            }
        }
        let report = reader.report().clone();
        let (_, index) = reader.into_parts();
        Ok(Self::from_rows(rows, &index, report, has_amounts))
    }

    /// Reads a log where `engine` says: here (as [`PurchaseHistory::read`], on a blocking
    /// thread), or on a Ballista cluster whose executors read the files and merge each
    /// customer's day, sending back one row per customer and day.
    pub async fn load(
        files: &[std::path::PathBuf],
        read: ReadOptions,
        engine: &crate::Engine,
    ) -> Result<PurchaseHistory> {
        match engine {
            crate::Engine::Local => {
                let files = files.to_vec();
                tokio::task::spawn_blocking(move || Self::read(&files, read))
                    .await
                    .map_err(|e| crate::DataError::Engine(format!("reading the log: {e}")))?
            }
            crate::Engine::Ballista { host, port } => {
                let session = crate::cluster::client(host, *port, |c| c).await?;
                let days = crate::cluster::purchase_days(
                    session,
                    files,
                    ReadOptions {
                        period: Period::Day,
                        ..read
                    },
                )
                .await?;
                Ok(Self::from_rows(
                    days.rows,
                    &days.customers,
                    days.ingest,
                    days.with_amount,
                ))
            }
        }
    }

    /// [`PurchaseHistory::load`] for callers that are not async (it waits for the cluster).
    pub fn read_on(
        files: &[std::path::PathBuf],
        read: ReadOptions,
        engine: &crate::Engine,
    ) -> Result<PurchaseHistory> {
        if *engine == crate::Engine::Local {
            return Self::read(files, read);
        }
        let load = Self::load(files, read, engine);
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => tokio::task::block_in_place(|| handle.block_on(load)),
            Err(_) => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| crate::DataError::Engine(format!("starting a runtime: {e}")))?
                .block_on(load),
        }
    }

    /// From (customer code, day, amount) rows in any order.
    pub(crate) fn from_rows(
        mut rows: Vec<(u32, i32, f64)>,
        index: &crate::customers::CustomerIndex,
        report: IngestReport,
        has_amounts: bool,
    ) -> PurchaseHistory {
        // Customers in id order, each one's days ascending.
        rows.sort_unstable_by_key(|&(c, d, _)| (c, d));
        let mut starts: Vec<usize> = (0..rows.len())
            .filter(|&i| i == 0 || rows[i].0 != rows[i - 1].0)
            .collect();
        index.sort_by_id(&mut starts, |&i| rows[i].0);
        let mut history = PurchaseHistory {
            has_amounts,
            report,
            offsets: vec![0],
            ..Default::default()
        };
        // A day's amounts are added in millionths, as the summaries add them: exactly, so
        // neither the sort above nor a cluster's merging order changes a digit.
        let mut day_total: i128 = 0;
        for start in starts {
            let code = rows[start].0;
            history.ids.push(index.id(code).into_owned());
            for &(c, day, amount) in rows[start..].iter().take_while(|r| r.0 == code) {
                debug_assert_eq!(c, code);
                if history.days.len() > *history.offsets.last().expect("0 first")
                    && history.days.last() == Some(&day)
                {
                    day_total += to_micros(amount);
                    *history.amounts.last_mut().expect("a day") = from_micros(day_total);
                } else {
                    day_total = to_micros(amount);
                    history.days.push(day);
                    history.amounts.push(from_micros(day_total));
                }
            }
            history.offsets.push(history.days.len());
        }
        history
    }

    /// From each customer's (day, amount) purchases, in any order (merged per day): for tests
    /// and callers that hold the data already.
    pub fn from_customers(customers: Vec<(String, Vec<(i32, f64)>)>) -> PurchaseHistory {
        let mut history = PurchaseHistory {
            has_amounts: true,
            offsets: vec![0],
            ..Default::default()
        };
        for (id, mut purchases) in customers {
            purchases.sort_by_key(|p| p.0);
            history.ids.push(id);
            let start = history.days.len();
            for (day, amount) in purchases {
                if history.days.len() > start && history.days.last() == Some(&day) {
                    *history.amounts.last_mut().expect("a day") += amount;
                } else {
                    history.days.push(day);
                    history.amounts.push(amount);
                }
            }
            history.offsets.push(history.days.len());
        }
        history
    }

    /// Number of customers.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn id(&self, customer: usize) -> &str {
        &self.ids[customer]
    }

    /// The customer's purchase days, ascending.
    pub fn days(&self, customer: usize) -> &[i32] {
        &self.days[self.offsets[customer]..self.offsets[customer + 1]]
    }

    /// What the customer spent on each of [`PurchaseHistory::days`].
    pub fn amounts(&self, customer: usize) -> &[f64] {
        &self.amounts[self.offsets[customer]..self.offsets[customer + 1]]
    }

    /// Each customer's lifetime in the log, for survival analysis, as (customer, duration in
    /// `unit_days`-day units, churned). A customer churns at the last purchase before the
    /// first stretch of `inactive_days` or more without a purchase (the stretch may run to
    /// `end_day`); the lifetime runs from the first purchase to that last one. A customer
    /// with no such stretch is still a customer, censored at `end_day`. Purchases after
    /// `end_day` are not seen; customers whose first purchase is after it are left out.
    pub fn lifetimes(
        &self,
        inactive_days: i32,
        end_day: i32,
        unit_days: f64,
    ) -> Vec<(usize, f64, bool)> {
        let mut out = Vec::with_capacity(self.len());
        for k in 0..self.len() {
            let days = self.days(k);
            let seen = days.partition_point(|&d| d <= end_day);
            if seen == 0 {
                continue;
            }
            let days = &days[..seen];
            let lapse = (0..seen).find(|&i| {
                let next = days.get(i + 1).copied().unwrap_or(end_day);
                next - days[i] >= inactive_days
            });
            let (until, churned) = match lapse {
                Some(i) => (days[i], true),
                None => (end_day, false),
            };
            out.push((k, f64::from(until - days[0]) / unit_days, churned));
        }
        out
    }

    /// The customers (indices) who had bought by the end of `day`.
    pub fn customers_by(&self, day: i32) -> Vec<usize> {
        (0..self.len())
            .filter(|&k| self.days(k).first().is_some_and(|&d| d <= day))
            .collect()
    }

    /// The first and last purchase days of the whole log.
    pub fn span(&self) -> Option<(i32, i32)> {
        let first = (0..self.len()).map(|k| self.days(k)[0]).min()?;
        let last = (0..self.len())
            .map(|k| *self.days(k).last().expect("a day"))
            .max()?;
        Some((first, last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::TransactionColumns;
    use std::io::Write;

    #[test]
    fn reads_merges_and_orders() {
        let dir = std::env::temp_dir().join(format!("retain-history-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log.csv");
        let mut f = std::fs::File::create(&path).unwrap();
        writeln!(f, "customer_id,date,amount").unwrap();
        for line in [
            "10,2020-01-05,3",
            "2,2020-01-02,1",
            "10,2020-01-01,2",
            "2,2020-01-02,4",
            "10,2020-01-05,1",
        ] {
            writeln!(f, "{line}").unwrap();
        }
        drop(f);
        let h = PurchaseHistory::read(
            &[path],
            ReadOptions {
                columns: TransactionColumns::default(),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!((h.id(0), h.id(1)), ("2", "10"));
        let day = |m, d| crate::dates::days_from_civil(2020, m, d);
        assert_eq!(h.days(0), [day(1, 2)]);
        assert_eq!(h.amounts(0), [5.0]);
        assert_eq!(h.days(1), [day(1, 1), day(1, 5)]);
        assert_eq!(h.amounts(1), [2.0, 4.0]);
        assert_eq!(h.span(), Some((day(1, 1), day(1, 5))));
        assert_eq!(h.report.rows_used, 5);
        // Inactive for 3 days = churned. Customer 2 bought on Jan 2 only: censored while the end
        // is under 3 days later. Customer 10: Jan 1 and 5 (a 4-day gap): churned at Jan 1.
        assert_eq!(
            h.lifetimes(3, day(1, 4), 1.0),
            [(0, 2.0, false), (1, 0.0, true)]
        );
        assert_eq!(
            h.lifetimes(5, day(1, 6), 1.0),
            [(0, 4.0, false), (1, 5.0, false)]
        );
        assert_eq!(
            h.lifetimes(5, day(1, 10), 7.0),
            [(0, 0.0, true), (1, 4.0 / 7.0, true)]
        );
        assert_eq!(h.lifetimes(5, day(1, 1), 1.0), [(1, 0.0, false)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
