//! Parquet transaction logs: the columns are found by name (or 1-based number), cast to the
//! transaction schema where Arrow can (integers to text ids, timestamps to days, numbers to
//! floats), parsed where they are text, and then put through the same row rules as CSV.
//! It takes the row rules and the batch builder from `ingest::rows` and `ingest::batch`, as the
//! CSV reader does; `ingest` picks the reader by the file's kind.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema};
use datafusion::parquet::arrow::arrow_reader::{
    ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};

use crate::arrow_days::{cell_text, DayColumn, DayValue};
use crate::customers::CustomerIndex;
use crate::dates::{expected_text, parse_date, ACCEPTED_DAYS};
use crate::error::{DataError, Result, RowError, RowProblem};
use crate::ingest::batch::{transaction_schema, BatchBuilder, BATCH_ROWS};
use crate::ingest::options::{IngestReport, ReadOptions};
use crate::ingest::rows::{
    parse_number, product_overflow, AmountFields, GoodRow, RowOutcome, RowRules,
};

pub(crate) struct ParquetReader {
    reader: ParquetRecordBatchReader,
    rows: ArrowRows,
    /// Values of the `key=value` folders on the file's path (see `crate::folders`) that are not
    /// columns of the file: appended to each batch as text columns.
    partitions: Vec<(String, Option<String>)>,
}

/// The row rules applied to typed Arrow batches, whatever they came from (a Parquet file, a
/// database query): columns cast or parsed as the module doc says, rows numbered from 1.
pub(crate) struct ArrowRows {
    pub rules: RowRules,
    builder: BatchBuilder,
    rows_seen: u64,
}

/// Runs a step of the Parquet decoder with its panics turned into a format error: arrow-rs
/// panics on some corrupted files (a malformed Arrow schema in the footer is one, found by
/// `tests/fuzz.rs`), and a bad file must be an error that names it, not a crash.
pub(crate) fn decode<T>(file: &Path, step: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(step)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("no reason given");
        Err(DataError::Format {
            file: file.into(),
            message: format!(
                "not a readable Parquet file: the Parquet decoder failed on it ({why})"
            ),
        })
    })
}

impl ParquetReader {
    pub(crate) fn open(path: &Path, options: &ReadOptions) -> Result<Self> {
        decode(path, || Self::open_unguarded(path, options))
    }

    fn open_unguarded(path: &Path, options: &ReadOptions) -> Result<Self> {
        let file = File::open(path).map_err(|source| DataError::Io {
            path: path.into(),
            source,
        })?;
        let format = |e: datafusion::parquet::errors::ParquetError| DataError::Format {
            file: path.into(),
            message: format!("not a readable Parquet file: {e}"),
        };
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(format)?
            .with_batch_size(BATCH_ROWS);
        let mut names: Vec<String> = builder
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let partitions: Vec<_> = crate::folders::partition_values(path)
            .into_iter()
            .filter(|(key, _)| !names.contains(key))
            .collect();
        names.extend(partitions.iter().map(|(key, _)| key.clone()));
        let mut rules = RowRules::resolve(path, Some(&names), names.len(), options)?;
        rules.rows_are_lines = false;
        if builder.metadata().file_metadata().num_rows() == 0 {
            return Err(DataError::Empty {
                file: path.into(),
                what: "the Parquet file has no rows".into(),
            });
        }
        let reader = builder.build().map_err(format)?;
        Ok(ParquetReader {
            reader,
            rows: ArrowRows::new(rules, options),
            partitions,
        })
    }

    pub(crate) fn has_amount(&self) -> bool {
        self.rows.has_amount()
    }

    pub(crate) fn read_batch(
        &mut self,
        rejected: &mut Vec<RowError>,
        report: &mut IngestReport,
        customers: &mut CustomerIndex,
    ) -> Result<Option<RecordBatch>> {
        let file = self.rows.rules.file.clone();
        let Some(batch) = decode(&file, || Ok(self.reader.next()))? else {
            return Ok(None);
        };
        let batch = batch.map_err(|e| DataError::Format {
            file,
            message: e.to_string(),
        })?;
        let batch = if self.partitions.is_empty() {
            batch
        } else {
            with_partitions(batch, &self.partitions)
        };
        self.rows
            .process(&batch, rejected, report, customers)
            .map(Some)
    }
}

/// `batch` with a constant text column for each partition value.
fn with_partitions(batch: RecordBatch, partitions: &[(String, Option<String>)]) -> RecordBatch {
    let n = batch.num_rows();
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut columns = batch.columns().to_vec();
    for (key, value) in partitions {
        fields.push(Field::new(key, DataType::Utf8, true));
        columns.push(Arc::new(StringArray::from(vec![value.as_deref(); n])));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .expect("constant columns of the batch's length")
}

impl ArrowRows {
    /// `rules` resolved against the batches' column names, with `rows_are_lines` off.
    pub(crate) fn new(rules: RowRules, options: &ReadOptions) -> Self {
        let with_amount = rules.amount.is_some();
        ArrowRows {
            builder: BatchBuilder::new(&rules.file, with_amount, options.period),
            rules,
            rows_seen: 0,
        }
    }

    pub(crate) fn has_amount(&self) -> bool {
        self.rules.amount.is_some()
    }

    /// Validates a batch's rows; the used ones come back in the transaction schema.
    pub(crate) fn process(
        &mut self,
        batch: &RecordBatch,
        rejected: &mut Vec<RowError>,
        report: &mut IngestReport,
        customers: &mut CustomerIndex,
    ) -> Result<RecordBatch> {
        let engine = |e: datafusion::arrow::error::ArrowError| DataError::Format {
            file: self.rules.file.clone(),
            message: format!("cannot convert a column: {e}"),
        };
        let ids = cast(batch.column(self.rules.customer), &DataType::Utf8).map_err(engine)?;
        let ids = ids.as_string::<i32>();
        let dates = DateColumn::new(batch.column(self.rules.date)).map_err(engine)?;
        let amounts: Option<Vec<NumberColumn>> = match self.rules.amount {
            None => None,
            Some(AmountFields::Column(i)) => {
                Some(vec![NumberColumn::new(batch.column(i), i).map_err(engine)?])
            }
            Some(AmountFields::Product(q, p)) => Some(vec![
                NumberColumn::new(batch.column(q), q).map_err(engine)?,
                NumberColumn::new(batch.column(p), p).map_err(engine)?,
            ]),
        };
        for row in 0..batch.num_rows() {
            self.rows_seen += 1;
            report.rows_read += 1;
            let line = self.rows_seen;
            let reject = |problem, column| RowError {
                location: self.rules.location(line, Some(column)),
                problem,
                record: (0..batch.num_columns())
                    .map(|c| cell_text(batch.column(c), row))
                    .collect(),
            };
            if ids.is_null(row) || ids.value(row).trim().is_empty() {
                report.excluded_no_customer += 1;
                continue;
            }
            let day = match dates.day(row, &self.rules) {
                Ok(d) => d,
                Err(problem) => {
                    rejected.push(reject(problem, self.rules.date));
                    continue;
                }
            };
            let mut amount = 1.0;
            if let Some(columns) = &amounts {
                let mut failed = None;
                for column in columns {
                    match column.value(row) {
                        Ok(v) => amount *= v,
                        Err(problem) => {
                            failed = Some((problem, column.index));
                            break;
                        }
                    }
                }
                // Each value is finite; their product (quantity × price) may not be.
                if let (None, [quantity, price]) = (&failed, columns.as_slice()) {
                    if !amount.is_finite() {
                        // Large values in exponent form: 1e200, not 201 digits.
                        let value = |c: &NumberColumn| match c.value(row) {
                            Ok(v) if v.abs() >= 1e15 => format!("{v:e}"),
                            Ok(v) => v.to_string(),
                            Err(_) => String::new(),
                        };
                        let problem = product_overflow(&value(quantity), &value(price));
                        failed = Some((problem, price.index));
                    }
                }
                if let Some((problem, index)) = failed {
                    rejected.push(reject(problem, index));
                    continue;
                }
            } else {
                amount = 0.0;
            }
            let good = GoodRow {
                customer: ids.value(row).trim(),
                day,
                amount,
            };
            if let RowOutcome::Use(good) = self.rules.admit(good, report) {
                self.builder.push(&good, report, customers)?;
            }
        }
        Ok(self
            .builder
            .finish()
            .unwrap_or_else(|| RecordBatch::new_empty(transaction_schema(self.has_amount()))))
    }
}

/// A date column as days, whatever its Parquet type.
enum DateColumn {
    /// Date32, Date64 or Timestamp.
    Days(DayColumn),
    Text(ArrayRef),
}

impl DateColumn {
    fn new(array: &ArrayRef) -> std::result::Result<Self, datafusion::arrow::error::ArrowError> {
        Ok(match DayColumn::new(array) {
            Some(days) => DateColumn::Days(days?),
            None => DateColumn::Text(cast(array, &DataType::Utf8)?),
        })
    }

    fn day(&self, row: usize, rules: &RowRules) -> std::result::Result<i32, RowProblem> {
        let missing = || RowProblem::BadValue {
            expected: expected_text(&rules.date_format),
            found: String::new(),
        };
        match self {
            DateColumn::Days(days) => match days.value(row) {
                DayValue::Day(day) => Ok(day),
                DayValue::Missing => Err(missing()),
                DayValue::OutOfRange { found } => Err(RowProblem::BadValue {
                    expected: ACCEPTED_DAYS.into(),
                    found,
                }),
            },
            DateColumn::Text(a) if a.is_null(row) => Err(missing()),
            DateColumn::Text(a) => {
                let text = a.as_string::<i32>().value(row);
                parse_date(text.as_bytes(), &rules.date_format).ok_or_else(|| {
                    RowProblem::BadValue {
                        expected: expected_text(&rules.date_format),
                        found: text.to_string(),
                    }
                })
            }
        }
    }
}

/// A numeric column as f64, whatever its Parquet type.
struct NumberColumn {
    array: ArrayRef,
    numeric: bool,
    index: usize,
}

impl NumberColumn {
    fn new(
        array: &ArrayRef,
        index: usize,
    ) -> std::result::Result<Self, datafusion::arrow::error::ArrowError> {
        let numeric = array.data_type().is_numeric();
        let array = if numeric {
            cast(array, &DataType::Float64)?
        } else {
            cast(array, &DataType::Utf8)?
        };
        Ok(NumberColumn {
            array: Arc::clone(&array),
            numeric,
            index,
        })
    }

    fn value(&self, row: usize) -> std::result::Result<f64, RowProblem> {
        let bad = |found: String| RowProblem::BadValue {
            expected: "a number".into(),
            found,
        };
        if self.array.is_null(row) {
            return Err(bad(String::new()));
        }
        if self.numeric {
            let v = self.array.as_primitive::<Float64Type>().value(row);
            return if v.is_finite() {
                Ok(v)
            } else {
                Err(bad(v.to_string()))
            };
        }
        let text = self.array.as_string::<i32>().value(row);
        parse_number(text.as_bytes()).ok_or_else(|| bad(text.to_string()))
    }
}
