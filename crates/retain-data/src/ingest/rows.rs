//! The per-row rules shared by the CSV and Parquet readers, so that both validate identically:
//! the customer, date and amount columns resolved against a file's header ([`RowRules`]), a
//! row's checks (customer id, date, amount, quantity × unit price) and the documented exclusions
//! (no customer id, negative amount, after the observation end).

use std::path::{Path, PathBuf};

use crate::dates::{expected_text, parse_date, DateFormat};
use crate::error::{Location, Result, RowProblem};
use crate::text::find_column;

use super::options::{AmountSpec, IngestReport, ReadOptions};

/// Where the amount of a row comes from, as field indexes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum AmountFields {
    Column(usize),
    Product(usize, usize),
}

/// Column indexes and names resolved against a header, plus the per-row rules: shared by the
/// text and Parquet readers so that both validate identically.
#[derive(Clone)]
pub(crate) struct RowRules {
    pub file: PathBuf,
    pub customer: usize,
    pub date: usize,
    pub amount: Option<AmountFields>,
    /// Names of all columns (header names, or numbers as text).
    pub names: Vec<String>,
    pub date_format: DateFormat,
    pub keep_negative: bool,
    pub last_day: Option<i32>,
    /// Data rows are text lines (CSV) or rows (Parquet), for locations.
    pub rows_are_lines: bool,
}

/// A customer's validated transaction.
pub(crate) struct GoodRow<'a> {
    pub customer: &'a str,
    pub day: i32,
    pub amount: f64,
}

pub(crate) enum RowOutcome<'a> {
    Use(GoodRow<'a>),
    Exclude,
    Reject(RowProblem, usize),
}

impl RowRules {
    pub(crate) fn resolve(
        file: &Path,
        header: Option<&[String]>,
        n_fields: usize,
        options: &ReadOptions,
    ) -> Result<RowRules> {
        let names: Vec<String> = match header {
            Some(h) => h.to_vec(),
            None => (1..=n_fields).map(|i| i.to_string()).collect(),
        };
        let find = |wanted: &str, flag: &str| -> Result<usize> {
            find_column(file, header, &names, wanted, flag)
        };
        let customer = find(&options.columns.customer, "customer-col")?;
        let date = find(&options.columns.date, "date-col")?;
        let amount = match &options.columns.amount {
            AmountSpec::None => None,
            AmountSpec::Auto => match header {
                Some(h) => h
                    .iter()
                    .position(|n| n == "amount")
                    .map(AmountFields::Column),
                None => None,
            },
            AmountSpec::Column(c) => Some(AmountFields::Column(find(c, "amount-col")?)),
            AmountSpec::Product { quantity, price } => Some(AmountFields::Product(
                find(quantity, "quantity-col")?,
                find(price, "price-col")?,
            )),
        };
        Ok(RowRules {
            file: file.into(),
            customer,
            date,
            amount,
            names,
            date_format: options.date_format.clone(),
            keep_negative: options.keep_negative,
            last_day: options.last_day,
            rows_are_lines: true,
        })
    }

    /// Validates one row given its fields; `Reject` carries the problem and the field index.
    pub(crate) fn check<'a>(
        &self,
        field: impl Fn(usize) -> &'a [u8],
        report: &mut IngestReport,
    ) -> RowOutcome<'a> {
        let raw_id = field(self.customer).trim_ascii();
        if raw_id.is_empty() {
            report.excluded_no_customer += 1;
            return RowOutcome::Exclude;
        }
        let customer = match std::str::from_utf8(raw_id) {
            Ok(s) => s,
            Err(e) => {
                let at = e.valid_up_to();
                return RowOutcome::Reject(
                    RowProblem::NotUtf8 {
                        byte_offset: at,
                        bytes: raw_id[at..].to_vec(),
                    },
                    self.customer,
                );
            }
        };
        let raw_date = field(self.date);
        let Some(day) = parse_date(raw_date, &self.date_format) else {
            return RowOutcome::Reject(
                bad_value(expected_text(&self.date_format), raw_date),
                self.date,
            );
        };
        let amount = match self.amount {
            None => 0.0,
            Some(AmountFields::Column(i)) => match parse_number(field(i)) {
                Some(v) => v,
                None => {
                    return RowOutcome::Reject(
                        bad_value("a number (e.g. 12.50)".into(), field(i)),
                        i,
                    )
                }
            },
            Some(AmountFields::Product(q, p)) => {
                let Some(qv) = parse_number(field(q)) else {
                    return RowOutcome::Reject(
                        bad_value("a number (quantity)".into(), field(q)),
                        q,
                    );
                };
                let Some(pv) = parse_number(field(p)) else {
                    return RowOutcome::Reject(
                        bad_value("a number (unit price)".into(), field(p)),
                        p,
                    );
                };
                let amount = qv * pv;
                if !amount.is_finite() {
                    let text =
                        |i: usize| String::from_utf8_lossy(field(i).trim_ascii()).into_owned();
                    return RowOutcome::Reject(product_overflow(&text(q), &text(p)), p);
                }
                amount
            }
        };
        self.admit(
            GoodRow {
                customer,
                day,
                amount,
            },
            report,
        )
    }

    /// The exclusion rules for a well-formed row.
    pub(crate) fn admit<'a>(&self, row: GoodRow<'a>, report: &mut IngestReport) -> RowOutcome<'a> {
        if self.admits(row.day, row.amount, report) {
            RowOutcome::Use(row)
        } else {
            RowOutcome::Exclude
        }
    }

    /// Whether a well-formed row on `day` of `amount` is used; an excluded one is counted.
    pub(crate) fn admits(&self, day: i32, amount: f64, report: &mut IngestReport) -> bool {
        if amount < 0.0 && !self.keep_negative {
            report.excluded_negative_amount += 1;
            return false;
        }
        if self.last_day.is_some_and(|last| day > last) {
            report.excluded_after_end += 1;
            return false;
        }
        true
    }

    pub(crate) fn location(&self, line: u64, column: Option<usize>) -> Location {
        Location {
            file: self.file.clone(),
            line: Some(line),
            column: column.map(|c| {
                self.names
                    .get(c)
                    .cloned()
                    .unwrap_or_else(|| (c + 1).to_string())
            }),
            is_row: !self.rows_are_lines,
        }
    }
}

fn bad_value(expected: String, found: &[u8]) -> RowProblem {
    RowProblem::BadValue {
        expected,
        found: String::from_utf8_lossy(found).into_owned(),
    }
}

/// Why a quantity × unit price row is rejected when the product of two finite numbers is not
/// finite (1e200 × 1e200): an amount of infinity would poison every sum it enters.
pub(crate) fn product_overflow(quantity: &str, price: &str) -> RowProblem {
    RowProblem::BadValue {
        expected: format!("a quantity × unit price within ±{:e}", f64::MAX),
        found: format!("{quantity} × {price}"),
    }
}

/// A finite decimal number, surrounding spaces allowed.
pub(crate) fn parse_number(field: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(field.trim_ascii()).ok()?;
    let v: f64 = s.parse().ok()?;
    v.is_finite().then_some(v)
}
