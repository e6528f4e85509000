//! Customer tables: one row per customer with attributes (demographics, plan, loyalty tier,
//! support contacts, a churn flag, ...), read into one typed Arrow batch.
//!
//! From CSV, each column's type is inferred from its values: integer, float, boolean
//! (true/false), date, or text (categorical). A blank field, or one of the `na_values`, is
//! missing (null) and counted per column. The id column must be present and unique in every
//! row: a row without an id or with an id seen before is rejected with both line numbers.
//! From Parquet, the file's own types are kept.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;

use foldhash::fast::FixedState;
use hashbrown::HashTable;

/// Hash collections for the text of a table: foldhash, several times faster than SipHash on
/// short strings, and no untrusted keys to defend against here.
type FastMap<K, V> = HashMap<K, V, FixedState>;
type FastSet<K> = HashSet<K, FixedState>;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch,
    StringArray, StringBuilder,
};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::arrow_days::{DayColumn, DayValue};
use crate::dates::{parse_date, DateFormat, ACCEPTED_DAYS};
use crate::error::{DataError, Location, Result, RowError, RowProblem};
use crate::ingest::batch::BATCH_ROWS;
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
}

/// A column's profile and its number of distinct present values (counted by value: `1.0` and
/// `1` in a float column are one value), for describing a table.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ColumnDescription {
    #[serde(flatten)]
    pub profile: ColumnProfile,
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

    /// The number of distinct present values of column `index` (of [`Self::columns`]), counted
    /// when asked: reading a table does not pay for it.
    pub fn distinct(&self, index: usize) -> u64 {
        count_distinct(self.batch.column(index))
    }

    /// Every column's profile with its distinct values, the columns counted on all cores.
    pub fn describe(&self) -> Vec<ColumnDescription> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let n = self.columns.len();
        let mut distinct = vec![0u64; n];
        std::thread::scope(|scope| {
            for (t, chunk) in distinct.chunks_mut(n.div_ceil(threads).max(1)).enumerate() {
                let first = t * n.div_ceil(threads).max(1);
                scope.spawn(move || {
                    for (k, d) in chunk.iter_mut().enumerate() {
                        *d = self.distinct(first + k);
                    }
                });
            }
        });
        self.columns
            .iter()
            .zip(distinct)
            .map(|(profile, distinct)| ColumnDescription {
                profile: profile.clone(),
                distinct,
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
    let mut columns: Vec<TextColumn> = (0..names.len()).map(|_| TextColumn::new()).collect();
    let mut ids = IdSet::default();
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
        let mut problem = check_row(&record, &header, names.len(), id);
        if let (None, Some(id)) = (&problem, id) {
            let value = std::str::from_utf8(&record[id]).expect("checked").trim();
            if let Some(first) = ids.row_of(value, &columns[id].text) {
                problem = Some((
                    RowProblem::BadValue {
                        expected: format!(
                            "a customer id not seen before (this one is on line {} too)",
                            lines[first]
                        ),
                        found: value.into(),
                    },
                    Some(id),
                ));
            }
        }
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
                if let Some(id) = id {
                    let value = std::str::from_utf8(&record[id]).expect("checked").trim();
                    ids.insert(lines.len(), value, &columns[id].text);
                }
                lines.push(line);
                for (column, field) in columns.iter_mut().zip(record.iter()) {
                    let value = std::str::from_utf8(field).expect("checked").trim();
                    column.push((!is_missing(value)).then_some(value));
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
    let mut columns: Vec<Option<TextColumn>> = columns.into_iter().map(Some).collect();
    let (batch, columns) = assemble(&names, id, |c| {
        let column = columns[c].take().expect("each column once");
        let (array, kind) = column.finish(Some(c) == id);
        let profile = ColumnProfile {
            name: names[c].clone(),
            kind,
            missing: array.null_count() as u64,
        };
        Ok((array, profile))
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
    // One check of the whole record (and that no field boundary splits a character: two
    // invalid halves can make a valid whole); each field only when it fails.
    let utf8 = std::str::from_utf8(record.as_slice()).is_ok_and(|whole| {
        (0..record.len()).all(|i| {
            record
                .range(i)
                .is_some_and(|r| whole.is_char_boundary(r.start) && whole.is_char_boundary(r.end))
        })
    });
    for (c, field) in record.iter().enumerate().filter(|_| !utf8) {
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
    None
}

/// One CSV column as it is read: its text, and its values as numbers for as long as every
/// present value is one, so that a numeric column is parsed once, as it is read.
struct TextColumn {
    text: StringBuilder,
    numbers: Numbers,
    present: bool,
}

/// The values of a column read so far as numbers (missing ones as 0, masked by the text's nulls).
enum Numbers {
    Integers(Vec<i64>),
    Floats(Vec<f64>),
    Neither,
}

impl TextColumn {
    fn new() -> Self {
        TextColumn {
            text: StringBuilder::new(),
            numbers: Numbers::Integers(Vec::new()),
            present: false,
        }
    }

    fn push(&mut self, value: Option<&str>) {
        let Some(value) = value else {
            self.text.append_null();
            match &mut self.numbers {
                Numbers::Integers(v) => v.push(0),
                Numbers::Floats(v) => v.push(0.0),
                Numbers::Neither => {}
            }
            return;
        };
        self.present = true;
        self.text.append_value(value);
        match &mut self.numbers {
            Numbers::Integers(v) => match value.parse::<i64>() {
                Ok(i) => v.push(i),
                // Integers are exactly their decimal text as a float, rounded the same way.
                Err(_) => match parse_number(value.as_bytes()) {
                    Some(f) => {
                        let mut floats: Vec<f64> = v.iter().map(|&i| i as f64).collect();
                        floats.push(f);
                        self.numbers = Numbers::Floats(floats);
                    }
                    None => self.numbers = Numbers::Neither,
                },
            },
            Numbers::Floats(v) => match parse_number(value.as_bytes()) {
                Some(f) => v.push(f),
                None => self.numbers = Numbers::Neither,
            },
            Numbers::Neither => {}
        }
    }

    /// The column typed: integers, floats, else as [`infer_text`] finds (always text for the id).
    fn finish(mut self, is_id: bool) -> (ArrayRef, ColumnKind) {
        let text = self.text.finish();
        if is_id || !self.present {
            return (text_array(&text), ColumnKind::Text);
        }
        let nulls = text.nulls().cloned();
        match self.numbers {
            Numbers::Integers(v) => (
                Arc::new(Int64Array::new(v.into(), nulls)),
                ColumnKind::Integer,
            ),
            Numbers::Floats(v) => (
                Arc::new(Float64Array::new(v.into(), nulls)),
                ColumnKind::Float,
            ),
            Numbers::Neither => infer_text(&text),
        }
    }
}

/// The ids of the rows kept so far, found by their text in the id column being built.
#[derive(Default)]
struct IdSet {
    rows: HashTable<u32>,
    hasher: FixedState,
}

impl IdSet {
    fn text(column: &StringBuilder, row: u32) -> &[u8] {
        let offsets = column.offsets_slice();
        let (start, end) = (offsets[row as usize], offsets[row as usize + 1]);
        &column.values_slice()[start as usize..end as usize]
    }

    /// The kept row with this id, if any.
    fn row_of(&self, id: &str, column: &StringBuilder) -> Option<usize> {
        let hash = self.hasher.hash_one(id.as_bytes());
        self.rows
            .find(hash, |&row| Self::text(column, row) == id.as_bytes())
            .map(|&row| row as usize)
    }

    /// Notes `row`'s id, before its text is added to `column`.
    fn insert(&mut self, row: usize, id: &str, column: &StringBuilder) {
        let hash = self.hasher.hash_one(id.as_bytes());
        let hasher = &self.hasher;
        self.rows.insert_unique(hash, row as u32, |&r| {
            hasher.hash_one(Self::text(column, r))
        });
    }
}

fn text_array(values: &StringArray) -> ArrayRef {
    Arc::new(values.clone())
}

/// The narrowest type every present value of a column that is not all numbers reads as:
/// boolean (true/false), date, else text.
fn infer_text(values: &StringArray) -> (ArrayRef, ColumnKind) {
    let present = || values.iter().flatten();
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

/// The number of distinct present values of an array, by value for numbers and dates.
fn count_distinct(array: &ArrayRef) -> u64 {
    fn count<T: std::hash::Hash + Eq>(values: impl Iterator<Item = T>) -> u64 {
        values.collect::<FastSet<T>>().len() as u64
    }
    let data_type = array.data_type();
    let as_integers = data_type.is_integer()
        || matches!(
            data_type,
            DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
        );
    if as_integers && *data_type != DataType::UInt64 {
        if let Ok(values) = cast(array, &DataType::Int64) {
            return count(values.as_primitive::<Int64Type>().iter().flatten());
        }
    }
    if data_type.is_floating() {
        if let Ok(values) = cast(array, &DataType::Float64) {
            // One value for 0 and -0, and for every NaN.
            let key = |v: f64| match v {
                0.0 => 0,
                v if v.is_nan() => u64::MAX,
                v => v.to_bits(),
            };
            return count(
                values
                    .as_primitive::<Float64Type>()
                    .iter()
                    .flatten()
                    .map(key),
            );
        }
    }
    if let Some(values) = array.as_boolean_opt() {
        return count(values.iter().flatten());
    }
    match cast(array, &DataType::Utf8) {
        Ok(text) => count(text.as_string::<i32>().iter().flatten()),
        Err(_) => 0,
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
        // Large batches: the table is concatenated into one anyway.
        let builder = builder.with_batch_size(BATCH_ROWS);
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
        let profile = ColumnProfile {
            name: names[c].clone(),
            kind: ColumnKind::of(array.data_type()),
            missing: array.null_count() as u64,
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
        let described = t.describe();
        let col = |name: &str| {
            &described
                .iter()
                .find(|c| c.profile.name == name)
                .unwrap()
                .profile
        };
        let distinct = |name: &str| t.distinct(t.column_index(name, "x").unwrap());
        assert_eq!(col("customerID").kind, ColumnKind::Text);
        assert_eq!(distinct("customerID"), 7043);
        assert_eq!(distinct("tenure"), 73);
        assert_eq!(col("tenure").kind, ColumnKind::Integer);
        assert_eq!(col("SeniorCitizen").kind, ColumnKind::Integer);
        assert_eq!(col("MonthlyCharges").kind, ColumnKind::Float);
        // TotalCharges is a single space for 11 new customers (data/telco_churn/README.md).
        assert_eq!(
            (col("TotalCharges").kind, col("TotalCharges").missing),
            (ColumnKind::Float, 11)
        );
        assert_eq!(
            (col("Churn").kind, distinct("Churn")),
            (ColumnKind::Text, 2)
        );
        assert_eq!(
            (col("Contract").kind, distinct("Contract")),
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

        // Types decided by every value, however late the one that decides: integers until a
        // float (then all floats, by value), numbers until a word (then text).
        let mut text = String::from("id,late_float,late_word,ints\n");
        for i in 0..5000 {
            let (f, w) = match i {
                4998 => ("2.5".to_string(), "n/a".to_string()),
                _ => (format!("{}", i % 7), format!("{i}")),
            };
            text.push_str(&format!("c{i},{f},{w},{}\n", i % 3 - 1));
        }
        let path = write(&dir, &text);
        let options = CustomerTableOptions {
            id_col: Some("id".into()),
            ..Default::default()
        };
        let t = read_customer_table(&path, &options).unwrap();
        let kinds: Vec<ColumnKind> = t.columns.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [Text, Float, Text, Integer]);
        let floats = t.batch.column(1).as_primitive::<Float64Type>();
        assert_eq!((floats.value(6), floats.value(4998)), (6.0, 2.5));
        let words = t.batch.column(2).as_string::<i32>();
        assert_eq!((words.value(10), words.value(4998)), ("10", "n/a"));
        let distinct: Vec<u64> = t.describe().iter().map(|c| c.distinct).collect();
        assert_eq!(distinct, [5000, 8, 5000, 3]);
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
        assert_eq!(from_parquet.describe(), from_csv.describe());
    }
}
