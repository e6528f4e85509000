//! Customer tables: one row per customer with attributes (demographics, plan, loyalty tier,
//! support contacts, a churn flag, ...), read into one typed Arrow batch.
//!
//! From CSV, each column's type is inferred from its values: integer, float, boolean
//! (true/false), date, or text (categorical). A blank field, or one of the `na_values`, is
//! missing (null) and counted per column. The id column must be present and unique in every
//! row: a row without an id or with an id seen before is rejected with both line numbers.
//! From Parquet, the file's own types are kept.

use std::collections::{HashMap, HashSet};

use foldhash::fast::FixedState;

/// Hash collections for the text of a table: foldhash, several times faster than SipHash on
/// short strings, and no untrusted keys to defend against here.
type FastMap<K, V> = HashMap<K, V, FixedState>;
type FastSet<K> = HashSet<K, FixedState>;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    StringBuilder,
};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::arrow_days::{DayColumn, DayValue};
use crate::dates::{parse_date, DateFormat, ACCEPTED_DAYS};
use crate::error::{DataError, Location, Result, RowError, RowProblem};
use crate::ingest::rows::parse_number;
use crate::text::{detect, fields_of, find_column, BadRowSink, Delimiter, FileKind, TextFile};

/// How a customer table is read.
#[derive(Debug, Clone)]
pub struct CustomerTableOptions {
    /// The customer id column (header name, or 1-based number): unique and present in every
    /// row, and first in the result. `None` reads a plain table (such as collapsed summaries).
    pub id_col: Option<String>,
    pub delimiter: Delimiter,
    /// Field values read as missing besides the blank field, e.g. `NA`, `NULL`.
    pub na_values: Vec<String>,
    /// Where rejected rows go; `None` makes the first rejected row an error.
    pub bad_rows: Option<PathBuf>,
    /// Read the table from this PostgreSQL table or query instead of the path (which then only
    /// names it). Set only by the code that builds the options, never from a request.
    pub database: Option<crate::database::DatabaseSource>,
}

impl Default for CustomerTableOptions {
    fn default() -> Self {
        CustomerTableOptions {
            id_col: Some("customer_id".into()),
            delimiter: Delimiter::Auto,
            na_values: Vec::new(),
            bad_rows: None,
            database: None,
        }
    }
}

/// The type a column was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    Integer,
    Float,
    Boolean,
    Date,
    /// Categorical or free text.
    Text,
    /// Any other Arrow type (from Parquet).
    Other,
}

impl ColumnKind {
    fn of(data_type: &DataType) -> ColumnKind {
        match data_type {
            t if t.is_integer() => ColumnKind::Integer,
            t if t.is_floating() => ColumnKind::Float,
            DataType::Boolean => ColumnKind::Boolean,
            DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _) => ColumnKind::Date,
            DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Dictionary(_, _) => ColumnKind::Text,
            _ => ColumnKind::Other,
        }
    }
}

/// One column of a customer table as read.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ColumnProfile {
    pub name: String,
    pub kind: ColumnKind,
    /// Missing values (blank, an NA value, or null).
    pub missing: u64,
    pub distinct: u64,
}

/// A customer table: the id column first (text), then the attributes in file order.
#[derive(Debug, Clone)]
pub struct CustomerTable {
    pub batch: RecordBatch,
    pub columns: Vec<ColumnProfile>,
    pub rows_read: u64,
    pub rows_rejected: u64,
    pub bad_rows_file: Option<PathBuf>,
    /// The file read.
    pub source: PathBuf,
    /// Each row's line in the CSV file (rejected rows leave gaps); `None` for Parquet, whose
    /// rows number themselves.
    lines: Option<Vec<u64>>,
    has_ids: bool,
}

impl CustomerTable {
    /// Where row `row` of the batch was read, in column `column`: a line of the CSV file, or a
    /// row of the Parquet file.
    pub fn location(&self, row: usize, column: &str) -> Location {
        Location {
            file: self.source.clone(),
            line: Some(match &self.lines {
                Some(lines) => lines[row],
                None => row as u64 + 1,
            }),
            column: Some(column.into()),
            is_row: self.lines.is_none(),
        }
    }

    /// The position of the column `name` in the batch; the error lists the columns and names
    /// the command-line flag `flag` that chooses another.
    pub fn column_index(&self, name: &str, flag: &str) -> Result<usize> {
        self.columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| DataError::MissingColumn {
                file: self.source.clone(),
                wanted: name.into(),
                available: self
                    .columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                hint: format!(" (choose one with --{flag})"),
            })
    }

    /// The column's values as text (missing values are `None`), whatever its type.
    pub fn text(&self, name: &str, flag: &str) -> Result<Vec<Option<String>>> {
        let text = cast(
            self.batch.column(self.column_index(name, flag)?),
            &DataType::Utf8,
        )?;
        let text = text.as_any().downcast_ref::<StringArray>().expect("Utf8");
        Ok(text.iter().map(|v| v.map(str::to_string)).collect())
    }

    /// A numeric column (missing values are `None`). A column read as anything but numbers is
    /// an error naming the first value that is not a number.
    pub fn numbers(&self, name: &str, flag: &str) -> Result<Vec<Option<f64>>> {
        let i = self.column_index(name, flag)?;
        if !matches!(
            self.columns[i].kind,
            ColumnKind::Integer | ColumnKind::Float
        ) {
            return Err(self.first_unreadable(name, flag, "a number", |v| {
                parse_number(v.as_bytes()).is_some()
            }));
        }
        let values = cast(self.batch.column(i), &DataType::Float64)?;
        let values = values
            .as_any()
            .downcast_ref::<Float64Array>()
            .expect("Float64");
        Ok(values.iter().collect())
    }

    /// A date column as day numbers (missing values are `None`). A column read as anything
    /// but dates is an error naming the first value that is not a date; so is a date outside
    /// the accepted days (years 1 to 9999).
    pub fn days(&self, name: &str, flag: &str) -> Result<Vec<Option<i32>>> {
        let i = self.column_index(name, flag)?;
        let days = match DayColumn::new(self.batch.column(i)) {
            Some(days) if self.columns[i].kind == ColumnKind::Date => days?,
            _ => {
                return Err(self.first_unreadable(
                    name,
                    flag,
                    "a date (YYYY-MM-DD, YYYYMMDD or an ISO date-time)",
                    |v| parse_date(v.as_bytes(), &DateFormat::Auto).is_some(),
                ))
            }
        };
        (0..self.batch.num_rows())
            .map(|row| match days.value(row) {
                DayValue::Missing => Ok(None),
                DayValue::Day(day) => Ok(Some(day)),
                DayValue::OutOfRange { found } => Err(DataError::BadField {
                    location: self.location(row, name),
                    expected: ACCEPTED_DAYS.into(),
                    found,
                }),
            })
            .collect()
    }

    /// The error for a column asked for as `expected` but read as something else: it names the
    /// first value that `reads` rejects.
    fn first_unreadable(
        &self,
        name: &str,
        flag: &str,
        expected: &str,
        reads: impl Fn(&str) -> bool,
    ) -> DataError {
        let text = match self.text(name, flag) {
            Ok(text) => text,
            Err(e) => return e,
        };
        let row = text
            .iter()
            .position(|v| v.as_deref().is_some_and(|v| !reads(v)))
            .unwrap_or(0);
        DataError::BadField {
            location: self.location(row, name),
            expected: expected.into(),
            found: text[row].clone().unwrap_or_default(),
        }
    }

    /// A numeric column without missing values; the error names the first missing one.
    pub fn required_numbers(&self, name: &str, flag: &str) -> Result<Vec<f64>> {
        let values = self.numbers(name, flag)?;
        if let Some(row) = values.iter().position(Option::is_none) {
            return Err(DataError::BadField {
                location: self.location(row, name),
                expected: format!(
                    "a number in every row ({} of {} are missing)",
                    values.iter().filter(|v| v.is_none()).count(),
                    values.len()
                ),
                found: String::new(),
            });
        }
        Ok(values.into_iter().map(|v| v.expect("checked")).collect())
    }

    /// A yes/no column such as a churn flag: 1/0, true/false, yes/no or y/n in any case. A
    /// missing or other value is an error naming its line.
    pub fn flags(&self, name: &str, flag: &str) -> Result<Vec<bool>> {
        let text = self.text(name, flag)?;
        text.iter()
            .enumerate()
            .map(|(row, v)| {
                let v = v.as_deref().unwrap_or("");
                match v.to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" | "y" => Ok(true),
                    "0" | "false" | "no" | "n" => Ok(false),
                    _ => Err(DataError::BadField {
                        location: self.location(row, name),
                        expected: "a yes/no flag (1/0, true/false, yes/no)".into(),
                        found: v.into(),
                    }),
                }
            })
            .collect()
    }

    /// The ids, when the table was read with an id column (it is then the first column).
    pub fn ids(&self) -> Option<&StringArray> {
        self.has_ids.then(|| {
            self.batch
                .column(0)
                .as_any()
                .downcast_ref()
                .expect("the id column is text")
        })
    }
}

/// Reads a customer table from CSV (any common delimiter, plain or gzip) or Parquet.
pub fn read_customer_table(path: &Path, options: &CustomerTableOptions) -> Result<CustomerTable> {
    if let Some(source) = &options.database {
        let (schema, batches) = crate::database::read_typed(source)?;
        return typed_table(&PathBuf::from(source.name()), &schema, &batches, options);
    }
    crate::database::refuse_url(path)?;
    match detect(path)? {
        FileKind::Parquet => read_parquet(path, options),
        FileKind::Text { gzip } => read_text(path, options, gzip),
    }
}

fn read_text(path: &Path, options: &CustomerTableOptions, gzip: bool) -> Result<CustomerTable> {
    let mut file = TextFile::open(path, options.delimiter, gzip)?;
    // An unnamed column (pandas writes its index so) gets a name from its position.
    let names: Vec<String> = file
        .header_names(path)?
        .into_iter()
        .enumerate()
        .map(|(i, n)| {
            if n.is_empty() {
                format!("column_{}", i + 1)
            } else {
                n
            }
        })
        .collect();
    // Every column of a customer table is an attribute: a name used twice is ambiguous.
    let mut seen: FastMap<&str, usize> = FastMap::default();
    for (i, name) in names.iter().enumerate() {
        if let Some(first) = seen.insert(name, i) {
            return Err(DataError::DuplicateHeader {
                file: path.into(),
                name: name.clone(),
                first: first + 1,
                second: i + 1,
                hint: String::new(),
            });
        }
    }
    let id = options
        .id_col
        .as_deref()
        .map(|c| find_column(path, Some(&names), &names, c, "id-col"))
        .transpose()?;
    let mut sink = options
        .bad_rows
        .as_deref()
        .map(BadRowSink::create)
        .transpose()?;
    let is_missing = |v: &str| v.is_empty() || options.na_values.iter().any(|na| na == v);
    // One Arrow string builder a column: the text in one buffer, not a String a cell.
    let mut cells: Vec<StringBuilder> = (0..names.len()).map(|_| StringBuilder::new()).collect();
    let mut first_line_of: FastMap<String, u64> = FastMap::default();
    let (mut rows_read, mut rows_rejected) = (0u64, 0u64);
    let mut lines = Vec::new();
    let mut record = csv::ByteRecord::new();
    let header = file.first.clone();
    let location = |line: u64, column: Option<usize>| Location {
        file: path.into(),
        line: Some(line),
        column: column.map(|c| names[c].clone()),
        is_row: false,
    };
    while let Some(line) = file.records.next(&mut record, path)? {
        rows_read += 1;
        let problem = check_row(&record, &header, names.len(), id, &first_line_of);
        match problem {
            Some((problem, column)) => {
                rows_rejected += 1;
                let error = RowError {
                    location: location(line, column),
                    problem,
                    record: fields_of(&record),
                };
                match sink.as_mut() {
                    Some(sink) => sink.write(&error)?,
                    None => return Err(DataError::BadRow(Box::new(error))),
                }
            }
            None => {
                lines.push(line);
                for (c, field) in record.iter().enumerate() {
                    let value = std::str::from_utf8(field).expect("checked").trim();
                    if is_missing(value) {
                        cells[c].append_null();
                    } else {
                        cells[c].append_value(value);
                    }
                }
                if let Some(id) = id {
                    let value = std::str::from_utf8(&record[id]).expect("checked").trim();
                    first_line_of.insert(value.to_string(), line);
                }
            }
        }
    }
    let bad_rows_file = sink.map(BadRowSink::finish).transpose()?;
    if rows_read == rows_rejected {
        return Err(DataError::Empty {
            file: path.into(),
            what: if rows_read == 0 {
                "the file has a header but no data rows".into()
            } else {
                "every row was rejected".into()
            },
        });
    }
    let (batch, columns) = assemble(&names, id, |c| {
        let values = cells[c].finish();
        let (array, kind) = if Some(c) == id {
            (text_array(&values), ColumnKind::Text)
        } else {
            infer(&values)
        };
        Ok((array, profile(&names[c], kind, &values)))
    })?;
    Ok(CustomerTable {
        batch,
        columns,
        rows_read,
        rows_rejected,
        bad_rows_file,
        source: path.into(),
        lines: Some(lines),
        has_ids: id.is_some(),
    })
}

/// The table's batch: the id column first (not nullable), then the attributes in file order,
/// each column's array and profile made by `column(index)`.
fn assemble(
    names: &[String],
    id: Option<usize>,
    mut column: impl FnMut(usize) -> Result<(ArrayRef, ColumnProfile)>,
) -> Result<(RecordBatch, Vec<ColumnProfile>)> {
    let order = id
        .into_iter()
        .chain((0..names.len()).filter(|&c| Some(c) != id));
    let (mut fields, mut arrays, mut profiles) = (vec![], vec![], vec![]);
    for c in order {
        let (array, profile) = column(c)?;
        fields.push(Field::new(
            &names[c],
            array.data_type().clone(),
            Some(c) != id,
        ));
        arrays.push(array);
        profiles.push(profile);
    }
    Ok((
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?,
        profiles,
    ))
}

/// Why a row cannot be used, and at which column, if it cannot.
fn check_row(
    record: &csv::ByteRecord,
    header: &csv::ByteRecord,
    n_fields: usize,
    id: Option<usize>,
    first_line_of: &FastMap<String, u64>,
) -> Option<(RowProblem, Option<usize>)> {
    if record.len() != n_fields {
        return Some((
            RowProblem::Ragged {
                expected: n_fields,
                found: record.len(),
            },
            None,
        ));
    }
    if record == header {
        return Some((RowProblem::RepeatedHeader, None));
    }
    for (c, field) in record.iter().enumerate() {
        if let Err(e) = std::str::from_utf8(field) {
            let at = e.valid_up_to();
            return Some((
                RowProblem::NotUtf8 {
                    byte_offset: at,
                    bytes: field[at..].to_vec(),
                },
                Some(c),
            ));
        }
    }
    let id = id?;
    let value = std::str::from_utf8(&record[id]).expect("checked").trim();
    if value.is_empty() {
        return Some((
            RowProblem::BadValue {
                expected: "a customer id".into(),
                found: String::new(),
            },
            Some(id),
        ));
    }
    if let Some(first) = first_line_of.get(value) {
        return Some((
            RowProblem::BadValue {
                expected: format!(
                    "a customer id not seen before (this one is on line {first} too)"
                ),
                found: value.into(),
            },
            Some(id),
        ));
    }
    None
}

fn text_array(values: &StringArray) -> ArrayRef {
    Arc::new(values.clone())
}

/// The narrowest type every present value parses as: integer, float, boolean, date, else text.
fn infer(values: &StringArray) -> (ArrayRef, ColumnKind) {
    let present = || values.iter().flatten();
    if present().next().is_none() {
        return (text_array(values), ColumnKind::Text);
    }
    if present().all(|v| v.parse::<i64>().is_ok()) {
        let array: Int64Array = values
            .iter()
            .map(|v| v.map(|s| s.parse::<i64>().expect("checked")))
            .collect();
        return (Arc::new(array), ColumnKind::Integer);
    }
    if present().all(|v| parse_number(v.as_bytes()).is_some()) {
        let array: Float64Array = values
            .iter()
            .map(|v| v.and_then(|s| parse_number(s.as_bytes())))
            .collect();
        return (Arc::new(array), ColumnKind::Float);
    }
    let boolean = |s: &str| match s.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    };
    if present().all(|v| boolean(v).is_some()) {
        let array: BooleanArray = values.iter().map(|v| v.and_then(boolean)).collect();
        return (Arc::new(array), ColumnKind::Boolean);
    }
    let date = |s: &str| parse_date(s.as_bytes(), &DateFormat::Auto);
    if present().all(|v| date(v).is_some()) {
        let array: Date32Array = values.iter().map(|v| v.and_then(date)).collect();
        return (Arc::new(array), ColumnKind::Date);
    }
    (text_array(values), ColumnKind::Text)
}

fn profile(name: &str, kind: ColumnKind, values: &StringArray) -> ColumnProfile {
    let distinct: FastSet<&str> = values.iter().flatten().collect();
    ColumnProfile {
        name: name.into(),
        kind,
        missing: values.null_count() as u64,
        distinct: distinct.len() as u64,
    }
}

fn read_parquet(path: &Path, options: &CustomerTableOptions) -> Result<CustomerTable> {
    let format = |e: &dyn std::fmt::Display| DataError::Format {
        file: path.into(),
        message: format!("not a readable Parquet file: {e}"),
    };
    let file = std::fs::File::open(path).map_err(|source| DataError::Io {
        path: path.into(),
        source,
    })?;
    let (schema, batches) = crate::parquet_in::decode(path, || {
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| format(&e))?;
        let schema = builder.schema().clone();
        let batches: Vec<RecordBatch> = builder
            .build()
            .map_err(|e| format(&e))?
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| format(&e))?;
        Ok((schema, batches))
    })?;
    typed_table(path, &schema, &batches, options)
}

/// A table whose columns arrive typed (a Parquet file, a PostgreSQL table): the types are kept;
/// dates must be within the calendar and ids present and unique.
fn typed_table(
    path: &Path,
    schema: &datafusion::arrow::datatypes::SchemaRef,
    batches: &[RecordBatch],
    options: &CustomerTableOptions,
) -> Result<CustomerTable> {
    let all = concat_batches(schema, batches)?;
    if all.num_rows() == 0 {
        return Err(DataError::Empty {
            file: path.into(),
            what: "the table has no rows".into(),
        });
    }
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    check_parquet_dates(path, &names, &all)?;
    let id = options
        .id_col
        .as_deref()
        .map(|c| find_column(path, Some(&names), &names, c, "id-col"))
        .transpose()?;
    let mut ids: Option<ArrayRef> = None;
    if let Some(id) = id {
        let text = cast(all.column(id), &DataType::Utf8)?;
        check_parquet_ids(
            path,
            &names[id],
            text.as_any().downcast_ref().expect("cast to Utf8"),
        )?;
        ids = Some(text);
    }
    let (batch, columns) = assemble(&names, id, |c| {
        let array = match (&ids, Some(c) == id) {
            (Some(ids), true) => ids.clone(),
            _ => all.column(c).clone(),
        };
        let text = cast(&array, &DataType::Utf8)?;
        let text = text
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("cast to Utf8");
        let distinct: FastSet<&str> = text.iter().flatten().collect();
        let profile = ColumnProfile {
            name: names[c].clone(),
            kind: ColumnKind::of(array.data_type()),
            missing: array.null_count() as u64,
            distinct: distinct.len() as u64,
        };
        Ok((array, profile))
    })?;
    Ok(CustomerTable {
        batch,
        columns,
        rows_read: all.num_rows() as u64,
        rows_rejected: 0,
        bad_rows_file: None,
        source: path.into(),
        lines: None,
        has_ids: id.is_some(),
    })
}

/// Every date of a date or timestamp column an accepted day (years 1 to 9999), or an error
/// naming the first row and column that is not: checked once on reading, so that no later use of
/// the table (as dates, as text) meets a date outside any calendar.
fn check_parquet_dates(path: &Path, names: &[String], all: &RecordBatch) -> Result<()> {
    for (c, array) in all.columns().iter().enumerate() {
        let Some(days) = DayColumn::new(array) else {
            continue;
        };
        let days = days?;
        for row in 0..all.num_rows() {
            if let DayValue::OutOfRange { found } = days.value(row) {
                return Err(DataError::BadField {
                    location: Location {
                        file: path.into(),
                        line: Some(row as u64 + 1),
                        column: Some(names[c].clone()),
                        is_row: true,
                    },
                    expected: ACCEPTED_DAYS.into(),
                    found,
                });
            }
        }
    }
    Ok(())
}

/// Every id present and unique, or an error naming the row.
fn check_parquet_ids(path: &Path, column: &str, ids: &StringArray) -> Result<()> {
    let mut first_row_of: FastMap<&str, usize> = FastMap::default();
    for row in 0..ids.len() {
        let reject = |problem| {
            DataError::BadRow(Box::new(RowError {
                location: Location {
                    file: path.into(),
                    line: Some(row as u64 + 1),
                    column: Some(column.into()),
                    is_row: true,
                },
                problem,
                record: vec![],
            }))
        };
        if ids.is_null(row) || ids.value(row).trim().is_empty() {
            return Err(reject(RowProblem::BadValue {
                expected: "a customer id".into(),
                found: String::new(),
            }));
        }
        if let Some(first) = first_row_of.insert(ids.value(row), row) {
            return Err(reject(RowProblem::BadValue {
                expected: format!(
                    "a customer id not seen before (this one is in row {} too)",
                    first + 1
                ),
                found: ids.value(row).into(),
            }));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Float64Type;

    fn telco() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../data/telco_churn/Telco-Customer-Churn.csv")
    }

    fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
        let path = dir.path().join("customers.csv");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn telco_types_and_blanks() {
        let options = CustomerTableOptions {
            id_col: Some("customerID".into()),
            ..Default::default()
        };
        let t = read_customer_table(&telco(), &options).unwrap();
        assert_eq!(
            (t.rows_read, t.rows_rejected, t.batch.num_rows()),
            (7043, 0, 7043)
        );
        assert_eq!(t.batch.num_columns(), 21);
        let col = |name: &str| t.columns.iter().find(|c| c.name == name).unwrap();
        assert_eq!(col("customerID").kind, ColumnKind::Text);
        assert_eq!(col("customerID").distinct, 7043);
        assert_eq!(col("tenure").kind, ColumnKind::Integer);
        assert_eq!(col("SeniorCitizen").kind, ColumnKind::Integer);
        assert_eq!(col("MonthlyCharges").kind, ColumnKind::Float);
        // TotalCharges is a single space for 11 new customers (data/telco_churn/README.md).
        assert_eq!(
            (col("TotalCharges").kind, col("TotalCharges").missing),
            (ColumnKind::Float, 11)
        );
        assert_eq!(
            (col("Churn").kind, col("Churn").distinct),
            (ColumnKind::Text, 2)
        );
        assert_eq!(
            (col("Contract").kind, col("Contract").distinct),
            (ColumnKind::Text, 3)
        );
        let total = t
            .batch
            .column_by_name("TotalCharges")
            .unwrap()
            .as_primitive::<Float64Type>();
        assert_eq!(total.null_count(), 11);
        assert_eq!(t.ids().unwrap().value(0), "7590-VHVEG");
    }

    #[test]
    fn inferred_kinds_and_na_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "id;n;x;flag;since;tier\na;1;1.5;true;2020-01-01;gold\nb;NA;2;FALSE;;NA\nc;3;;true;2021-06-30;silver\n");
        let options = CustomerTableOptions {
            id_col: Some("id".into()),
            na_values: vec!["NA".into()],
            ..Default::default()
        };
        let t = read_customer_table(&path, &options).unwrap();
        let kinds: Vec<ColumnKind> = t.columns.iter().map(|c| c.kind).collect();
        use ColumnKind::*;
        assert_eq!(kinds, [Text, Integer, Float, Boolean, Date, Text]);
        let missing: Vec<u64> = t.columns.iter().map(|c| c.missing).collect();
        assert_eq!(missing, [0, 1, 1, 0, 1, 1]);
    }

    #[test]
    fn duplicate_and_missing_ids_are_rejected_with_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "customer_id,plan\na,basic\nb,pro\na,pro\n,basic\n");
        let error = read_customer_table(&path, &CustomerTableOptions::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains("customers.csv:4, column customer_id: expected a customer id not seen before (this one is on line 2 too), found \"a\""), "{error}");
        let bad = dir.path().join("bad.csv");
        let options = CustomerTableOptions {
            bad_rows: Some(bad.clone()),
            ..Default::default()
        };
        let t = read_customer_table(&path, &options).unwrap();
        assert_eq!(
            (t.rows_read, t.rows_rejected, t.batch.num_rows()),
            (4, 2, 2)
        );
        let text = std::fs::read_to_string(&bad).unwrap();
        assert!(
            text.contains(",5,customer_id,\"expected a customer id"),
            "{text}"
        );
    }

    #[test]
    fn unnamed_columns_get_a_name_and_duplicates_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, ",customer_id,plan\n0,a,basic\n1,b,pro\n");
        let t = read_customer_table(&path, &CustomerTableOptions::default()).unwrap();
        assert_eq!(t.columns[1].name, "column_1");
        let path = write(&dir, "customer_id,plan,plan\na,basic,pro\n");
        let error = read_customer_table(&path, &CustomerTableOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("names column \"plan\" twice (fields 2 and 3)"),
            "{error}"
        );
    }

    #[test]
    fn parquet_dates_outside_the_calendar_are_an_error_naming_row_and_column() {
        use datafusion::arrow::array::TimestampSecondArray;
        use datafusion::arrow::datatypes::DataType as T;
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, since: ArrayRef| {
            let batch = RecordBatch::try_new(
                Arc::new(Schema::new(vec![
                    Field::new("customer_id", T::Utf8, false),
                    Field::new("since", since.data_type().clone(), true),
                ])),
                vec![Arc::new(StringArray::from(vec!["a", "b", "c"])), since],
            )
            .unwrap();
            let path = dir.path().join(name);
            crate::output::write_table(&batch, &path).unwrap();
            path
        };
        let good = write(
            "good.parquet",
            Arc::new(Date32Array::from(vec![Some(0), None, Some(10_000)])),
        );
        let t = read_customer_table(&good, &CustomerTableOptions::default()).unwrap();
        assert_eq!(
            t.days("since", "since-col").unwrap(),
            [Some(0), None, Some(10_000)]
        );
        for (name, since, found) in [
            (
                "date32.parquet",
                Arc::new(Date32Array::from(vec![Some(0), Some(2_000_000_000), None])) as ArrayRef,
                "2000000000 (days since 1970-01-01)",
            ),
            (
                "zoned.parquet",
                Arc::new(
                    TimestampSecondArray::from(vec![Some(0), Some(i64::MIN), None])
                        .with_timezone("+02:00"),
                ),
                "-9223372036854775808 (seconds since 1970-01-01)",
            ),
        ] {
            let path = write(name, since);
            let error = read_customer_table(&path, &CustomerTableOptions::default())
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(&format!(
                    "{name}, row 2, column since: expected a date from 0001-01-01 to 9999-12-31, \
                     found {found:?}"
                )),
                "{error}"
            );
        }
    }

    #[test]
    fn csv_dates_outside_the_years_1_to_9999_are_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "customer_id,since\na,0000-12-31\nb,1999-01-01\n");
        let t = read_customer_table(&path, &CustomerTableOptions::default()).unwrap();
        assert_eq!(t.columns[1].kind, ColumnKind::Text);
        let error = t.days("since", "since-col").unwrap_err().to_string();
        assert!(
            error.contains("customers.csv:2, column since: expected a date"),
            "{error}"
        );
        assert!(error.contains("found \"0000-12-31\""), "{error}");
    }

    #[test]
    fn parquet_keeps_its_types() {
        let dir = tempfile::tempdir().unwrap();
        let options = CustomerTableOptions {
            id_col: Some("customerID".into()),
            ..Default::default()
        };
        let from_csv = read_customer_table(&telco(), &options).unwrap();
        let pq = dir.path().join("telco.parquet");
        crate::output::write_table(&from_csv.batch, &pq).unwrap();
        let from_parquet = read_customer_table(&pq, &options).unwrap();
        assert_eq!(from_parquet.batch, from_csv.batch);
        assert_eq!(from_parquet.columns, from_csv.columns);
    }
}
