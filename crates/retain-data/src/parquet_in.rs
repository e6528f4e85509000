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
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};

use crate::arrow_days::{cell_text, DayColumn, DayValue};
use crate::customers::{CustomerIndex, INTERNED_BASE};
use crate::dates::{expected_text, parse_date, Period, ACCEPTED_DAYS};
use crate::error::{DataError, Result, RowError, RowProblem};
use crate::ingest::batch::{transaction_schema, BatchBuilder, BATCH_ROWS};
use crate::ingest::options::{IngestReport, ReadOptions};
use crate::ingest::parallel::{Parsed, PartSink};
use crate::ingest::rows::{parse_number, product_overflow, AmountFields, RowRules};

pub(crate) struct ParquetReader {
    reader: ParquetRecordBatchReader,
    rows: ArrowRows,
    /// What reading a row group on its own needs (`ParquetReader::row_groups`).
    row_groups: RowGroups,
}

/// A Parquet file read a row group at a time, by any thread: the decoded footer (read once),
/// the file's row rules, and the values of the `key=value` folders on its path (see
/// `crate::folders`) that are not columns of the file, appended to each batch as text columns.
#[derive(Clone)]
pub(crate) struct RowGroups {
    path: std::path::PathBuf,
    metadata: ArrowReaderMetadata,
    rules: RowRules,
    period: Period,
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
        let metadata =
            ArrowReaderMetadata::load(&file, ArrowReaderOptions::default()).map_err(format)?;
        let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, metadata.clone())
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
            rows: ArrowRows::new(rules.clone(), options.period),
            row_groups: RowGroups {
                path: path.into(),
                metadata,
                rules,
                period: options.period,
                partitions,
            },
        })
    }

    pub(crate) fn has_amount(&self) -> bool {
        self.rows.has_amount()
    }

    /// The file read a row group at a time, when it has more than one and enough rows to be
    /// worth several threads.
    pub(crate) fn row_groups(&self) -> Option<RowGroups> {
        /// Fewer rows are read faster than threads start.
        const PARALLEL_MIN_ROWS: i64 = 4 * BATCH_ROWS as i64;
        let meta = self.row_groups.metadata.metadata();
        (meta.num_row_groups() > 1 && meta.file_metadata().num_rows() >= PARALLEL_MIN_ROWS)
            .then(|| self.row_groups.clone())
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
        let batch = with_partitions(batch, &self.row_groups.partitions);
        self.rows
            .process(&batch, rejected, report, customers)
            .map(Some)
    }
}

impl RowGroups {
    /// Hands each row group to `sink`, with the number of rows before it.
    pub(crate) fn produce(&self, sink: &mut PartSink<(usize, u64)>) -> Result<()> {
        let mut rows_before = 0u64;
        for (group, meta) in self.metadata.metadata().row_groups().iter().enumerate() {
            if !sink.send((group, rows_before)) {
                break;
            }
            rows_before += meta.num_rows().max(0) as u64;
        }
        Ok(())
    }

    /// Reads and checks one row group; rows are numbered from `rows_before + 1`. With
    /// `fail_fast`, it stops at its first rejected row (which ends the run).
    pub(crate) fn read(&self, group: usize, rows_before: u64, fail_fast: bool) -> Result<Parsed> {
        decode(&self.path, || {
            let format = |e: datafusion::parquet::errors::ParquetError| DataError::Format {
                file: self.path.clone(),
                message: format!("not a readable Parquet file: {e}"),
            };
            let file = File::open(&self.path).map_err(|source| DataError::Io {
                path: self.path.clone(),
                source,
            })?;
            let reader =
                ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.metadata.clone())
                    .with_row_groups(vec![group])
                    .with_batch_size(BATCH_ROWS)
                    .build()
                    .map_err(format)?;
            let mut rows = ArrowRows::new(self.rules.clone(), self.period);
            rows.rows_seen = rows_before;
            let mut parsed = Parsed {
                customers: CustomerIndex::new(),
                ..Default::default()
            };
            for batch in reader {
                let batch = batch.map_err(|e| DataError::Format {
                    file: self.path.clone(),
                    message: e.to_string(),
                })?;
                let batch = with_partitions(batch, &self.partitions);
                let batch = rows.process(
                    &batch,
                    &mut parsed.rejected,
                    &mut parsed.report,
                    &mut parsed.customers,
                )?;
                if batch.num_rows() > 0 {
                    parsed.batches.push(batch);
                }
                if fail_fast && !parsed.rejected.is_empty() {
                    break;
                }
            }
            Ok(parsed)
        })
    }
}

/// `batch` with a constant text column for each partition value.
fn with_partitions(batch: RecordBatch, partitions: &[(String, Option<String>)]) -> RecordBatch {
    if partitions.is_empty() {
        return batch;
    }
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
    pub(crate) fn new(rules: RowRules, period: Period) -> Self {
        let with_amount = rules.amount.is_some();
        ArrowRows {
            builder: BatchBuilder::new(&rules.file, with_amount, period),
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
        let ids = IdColumn::new(batch.column(self.rules.customer)).map_err(engine)?;
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
            if ids.is_missing(row) {
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
            if self.rules.admits(day, amount, report) {
                let code = ids
                    .code(row, customers)
                    .map_err(|message| DataError::Format {
                        file: self.rules.file.clone(),
                        message,
                    })?;
                self.builder.push_code(code, day, amount, report);
            }
        }
        Ok(self
            .builder
            .finish()
            .unwrap_or_else(|| RecordBatch::new_empty(transaction_schema(self.has_amount()))))
    }
}

/// A customer id column: integers are coded as they are (a plain id below 2^29 is its own
/// code), anything else as text.
enum IdColumn {
    Integers(ArrayRef),
    Text(ArrayRef),
}

impl IdColumn {
    fn new(array: &ArrayRef) -> std::result::Result<Self, datafusion::arrow::error::ArrowError> {
        // u64 ids past i64 would not cast to i64: they go as text.
        Ok(
            if array.data_type().is_integer() && *array.data_type() != DataType::UInt64 {
                IdColumn::Integers(cast(array, &DataType::Int64)?)
            } else {
                IdColumn::Text(cast(array, &DataType::Utf8)?)
            },
        )
    }

    fn is_missing(&self, row: usize) -> bool {
        match self {
            IdColumn::Integers(a) => a.is_null(row),
            IdColumn::Text(a) => {
                a.is_null(row) || a.as_string::<i32>().value(row).trim().is_empty()
            }
        }
    }

    fn code(&self, row: usize, customers: &mut CustomerIndex) -> std::result::Result<u32, String> {
        match self {
            IdColumn::Integers(a) => {
                let id = a.as_primitive::<Int64Type>().value(row);
                match u32::try_from(id) {
                    Ok(code) if code < INTERNED_BASE => Ok(code),
                    _ => customers.code(&id.to_string()),
                }
            }
            IdColumn::Text(a) => customers.code(a.as_string::<i32>().value(row).trim()),
        }
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
