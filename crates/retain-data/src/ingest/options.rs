//! What decides how a transaction log is read ([`ReadOptions`]: columns, dialect, date format,
//! merge period, exclusion rules) and what reading it did to every row ([`IngestReport`]). The
//! leaf of the ingest modules: the row rules, the batch builder and both file readers take these
//! from here.

use std::path::PathBuf;

use crate::dates::{DateFormat, Period};
use crate::text::{Delimiter, HeaderMode};

/// How the amount of a transaction is read.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum AmountSpec {
    /// The column `amount` if the header has one, else no amounts.
    #[default]
    Auto,
    None,
    Column(String),
    /// Quantity times unit price (order-line logs such as UCI Online Retail).
    Product {
        quantity: String,
        price: String,
    },
}

/// Which columns hold the customer, the date and the amount: header names, or 1-based column
/// numbers (as `cut` and `awk` count) for header-less files.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TransactionColumns {
    pub customer: String,
    pub date: String,
    pub amount: AmountSpec,
}

impl Default for TransactionColumns {
    fn default() -> Self {
        TransactionColumns {
            customer: "customer_id".into(),
            date: "date".into(),
            amount: AmountSpec::Auto,
        }
    }
}

/// Everything that decides how a transaction log is read.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ReadOptions {
    pub columns: TransactionColumns,
    pub delimiter: Delimiter,
    pub header: HeaderMode,
    pub date_format: DateFormat,
    pub period: Period,
    /// Keep transactions with a negative amount (returns, cancellations) instead of excluding them.
    pub keep_negative: bool,
    /// Exclude transactions dated after this day (the observation end).
    pub last_day: Option<i32>,
    /// Where rejected rows go; `None` makes the first rejected row an error.
    pub bad_rows: Option<PathBuf>,
    /// Read the log from this PostgreSQL table or query instead of files. Never taken from
    /// serialized options (a request, a cluster task): only the code that builds the options
    /// sets it.
    #[serde(skip)]
    pub database: Option<crate::database::DatabaseSource>,
}

/// What happened to every row read. `rows_read = rows_used + rows_rejected + excluded_*`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IngestReport {
    pub rows_read: u64,
    pub rows_used: u64,
    pub rows_rejected: u64,
    /// Rows with an empty customer id (anonymous or guest purchases).
    pub excluded_no_customer: u64,
    /// Rows with a negative amount (returns, cancellations, adjustments).
    pub excluded_negative_amount: u64,
    /// Rows dated after the observation end.
    pub excluded_after_end: u64,
    /// Calendar days of the first and last used rows.
    pub first_day: Option<i32>,
    pub last_day: Option<i32>,
    /// Sum of the amounts of the used rows.
    pub amount_total: f64,
    /// The same sum in millionths, exact: what `amount_total` is computed from, so that reports
    /// of parts (files, a cluster's tasks) add up to the report of the whole, digit for digit.
    #[serde(default)]
    pub amount_micros: i128,
    /// Where the rejected rows were written.
    pub bad_rows_file: Option<PathBuf>,
}

impl IngestReport {
    /// Adds a used row's amount to the exact total; `amount_total` follows at
    /// [`IngestReport::settle`].
    pub(crate) fn add_amount(&mut self, amount: f64) {
        self.amount_micros += crate::summary::to_micros(amount);
    }

    /// Brings `amount_total` up to the exact total (once a batch, not once a row).
    pub(crate) fn settle(&mut self) {
        self.amount_total = crate::summary::from_micros(self.amount_micros);
    }

    /// Adds the counts of another part of the same log (a file, a cluster task) read after this
    /// one: the sums add exactly (amounts in millionths), the days widen.
    pub(crate) fn absorb(&mut self, part: &IngestReport) {
        self.rows_read += part.rows_read;
        self.rows_used += part.rows_used;
        self.rows_rejected += part.rows_rejected;
        self.excluded_no_customer += part.excluded_no_customer;
        self.excluded_negative_amount += part.excluded_negative_amount;
        self.excluded_after_end += part.excluded_after_end;
        self.amount_micros += part.amount_micros;
        self.amount_total = crate::summary::from_micros(self.amount_micros);
        self.first_day = match (self.first_day, part.first_day) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_day = self.last_day.max(part.last_day);
    }

    pub fn rows_excluded(&self) -> u64 {
        self.excluded_no_customer + self.excluded_negative_amount + self.excluded_after_end
    }
}

/// What happened to every input row, for people: "rows read 541,909: used 397,924, …", the
/// reasons for the excluded rows, and where the rejected ones were written.
impl std::fmt::Display for IngestReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rows read {}: used {}, rejected {}, excluded {}",
            thousands(self.rows_read),
            thousands(self.rows_used),
            thousands(self.rows_rejected),
            thousands(self.rows_excluded())
        )?;
        let reasons: Vec<String> = [
            (self.excluded_no_customer, "without a customer id"),
            (
                self.excluded_negative_amount,
                "with a negative amount (returns, cancellations)",
            ),
            (self.excluded_after_end, "after the observation end"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, why)| format!("{} {why}", thousands(*n)))
        .collect();
        if !reasons.is_empty() {
            write!(f, "\n  excluded: {}", reasons.join("; "))?;
        }
        if let Some(path) = &self.bad_rows_file {
            write!(f, "\n  rejected rows written to {}", path.display())?;
        }
        Ok(())
    }
}

/// 1234567 -> "1,234,567".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
