//! The Arrow side of ingestion: the schema of ingested transactions and the builder that
//! accumulates validated rows (customer codes, days, merge periods, amounts) into record
//! batches of it, counting each used row in the report. Shared by the CSV and Parquet readers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Date32Array, Float64Array, RecordBatch, UInt32Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::customers::CustomerIndex;
use crate::dates::Period;
use crate::error::{DataError, Result};

use super::options::IngestReport;
use super::rows::GoodRow;

/// Rows per Arrow batch.
pub const BATCH_ROWS: usize = 64 * 1024;

/// The schema of ingested transactions: the customer's code in the reader's [`CustomerIndex`],
/// the calendar day of the transaction, the first day of its merge period (equal to `day` for
/// daily merging) and, when the log has one, the amount.
pub fn transaction_schema(with_amount: bool) -> SchemaRef {
    let mut fields = vec![
        Field::new("customer", DataType::UInt32, false),
        Field::new("day", DataType::Date32, false),
        Field::new("period", DataType::Date32, false),
    ];
    if with_amount {
        fields.push(Field::new("amount", DataType::Float64, false));
    }
    Arc::new(Schema::new(fields))
}

fn min_opt(a: Option<i32>, b: Option<i32>) -> Option<i32> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Accumulates validated rows into Arrow arrays.
pub(crate) struct BatchBuilder {
    file: PathBuf,
    codes: Vec<u32>,
    days: Vec<i32>,
    periods: Vec<i32>,
    amounts: Vec<f64>,
    with_amount: bool,
    period: Period,
}

impl BatchBuilder {
    pub(crate) fn new(file: &Path, with_amount: bool, period: Period) -> Self {
        BatchBuilder {
            file: file.into(),
            codes: Vec::with_capacity(BATCH_ROWS),
            days: Vec::with_capacity(BATCH_ROWS),
            periods: if period == Period::Day {
                Vec::new()
            } else {
                Vec::with_capacity(BATCH_ROWS)
            },
            amounts: Vec::with_capacity(if with_amount { BATCH_ROWS } else { 0 }),
            with_amount,
            period,
        }
    }

    pub(crate) fn period(&self) -> Period {
        self.period
    }

    pub(crate) fn len(&self) -> usize {
        self.days.len()
    }

    pub(crate) fn push(
        &mut self,
        row: &GoodRow<'_>,
        report: &mut IngestReport,
        customers: &mut CustomerIndex,
    ) -> Result<()> {
        let code = customers
            .code(row.customer)
            .map_err(|message| DataError::Format {
                file: self.file.clone(),
                message,
            })?;
        self.push_code(code, row.day, row.amount, report);
        Ok(())
    }

    /// Adds a used row whose customer is already coded.
    pub(crate) fn push_code(
        &mut self,
        code: u32,
        day: i32,
        amount: f64,
        report: &mut IngestReport,
    ) {
        self.codes.push(code);
        self.days.push(day);
        if self.period != Period::Day {
            self.periods.push(self.period.start(day));
        }
        if self.with_amount {
            self.amounts.push(amount);
            report.add_amount(amount);
        }
        report.rows_used += 1;
        report.first_day = min_opt(report.first_day, Some(day));
        report.last_day = report.last_day.max(Some(day));
    }

    pub(crate) fn finish(&mut self) -> Option<RecordBatch> {
        if self.days.is_empty() {
            return None;
        }
        let days: ArrayRef = Arc::new(Date32Array::from(std::mem::take(&mut self.days)));
        let periods: ArrayRef = if self.period == Period::Day {
            days.clone()
        } else {
            Arc::new(Date32Array::from(std::mem::take(&mut self.periods)))
        };
        let codes = UInt32Array::from(std::mem::replace(
            &mut self.codes,
            Vec::with_capacity(BATCH_ROWS),
        ));
        let mut columns: Vec<ArrayRef> = vec![Arc::new(codes), days, periods];
        if self.with_amount {
            columns.push(Arc::new(Float64Array::from(std::mem::take(
                &mut self.amounts,
            ))));
        }
        let batch = RecordBatch::try_new(transaction_schema(self.with_amount), columns)
            .expect("columns built to the transaction schema");
        self.days.reserve(BATCH_ROWS);
        Some(batch)
    }
}
