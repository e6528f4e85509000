//! Reading transaction logs into typed Arrow batches, row by row validated.
//!
//! Input: CSV with any of `,` `;` tab `|` delimiters or whitespace-aligned columns, with or
//! without a header, plain or gzip; or Parquet. Output: batches of [`transaction_schema`]. Every
//! row read ends in exactly one bucket of the [`IngestReport`]: used, rejected (malformed: with
//! its reason, fatal unless a bad-rows file is given) or excluded by a documented rule (no
//! customer id, negative amount, after the observation end). Nothing is dropped silently.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Date32Array, Float64Array, RecordBatch, UInt32Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::customers::CustomerIndex;
use crate::dates::{expected_text, parse_date, DateFormat, Period};
use crate::error::{DataError, Location, Result, RowError, RowProblem};
use crate::text::{detect, fields_of, find_column, BadRowSink, FileKind, Records, TextFile};
pub use crate::text::{Delimiter, HeaderMode};

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

/// How the amount of a transaction is read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, Default)]
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
}

/// What happened to every row read. `rows_read = rows_used + rows_rejected + excluded_*`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
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
    /// Where the rejected rows were written.
    pub bad_rows_file: Option<PathBuf>,
}

impl IngestReport {
    pub fn rows_excluded(&self) -> u64 {
        self.excluded_no_customer + self.excluded_negative_amount + self.excluded_after_end
    }
}

fn min_opt(a: Option<i32>, b: Option<i32>) -> Option<i32> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Reads one or more transaction files as a sequence of batches; see the module doc.
pub struct TransactionReader {
    files: Vec<PathBuf>,
    next_file: usize,
    options: ReadOptions,
    current: Option<FileReader>,
    report: IngestReport,
    bad_rows: Option<BadRowSink>,
    with_amount: Option<bool>,
    customers: CustomerIndex,
    done: bool,
}

impl TransactionReader {
    pub fn open(files: &[PathBuf], options: ReadOptions) -> Result<Self> {
        if files.is_empty() {
            return Err(DataError::Option("no transaction file given".into()));
        }
        let bad_rows = options
            .bad_rows
            .as_deref()
            .map(BadRowSink::create)
            .transpose()?;
        let mut reader = TransactionReader {
            files: files.to_vec(),
            next_file: 0,
            options,
            current: None,
            report: IngestReport::default(),
            bad_rows,
            with_amount: None,
            customers: CustomerIndex::new(),
            done: false,
        };
        reader.open_next()?;
        Ok(reader)
    }

    /// The schema of the batches (fixed by the first file; later files must agree).
    pub fn schema(&self) -> SchemaRef {
        transaction_schema(self.with_amount.unwrap_or(false))
    }

    /// The counts so far; complete once the reader returned `None`.
    pub fn report(&self) -> &IngestReport {
        &self.report
    }

    /// The customer ids, indexed by the codes of the `customer` column.
    pub fn customers(&self) -> &CustomerIndex {
        &self.customers
    }

    /// The report and the customer ids, once reading is done.
    pub fn into_parts(self) -> (IngestReport, CustomerIndex) {
        (self.report, self.customers)
    }

    fn open_next(&mut self) -> Result<bool> {
        let Some(path) = self.files.get(self.next_file).cloned() else {
            return Ok(false);
        };
        self.next_file += 1;
        let file = FileReader::open(&path, &self.options)?;
        match self.with_amount {
            None => self.with_amount = Some(file.has_amount()),
            Some(w) if w != file.has_amount() => {
                return Err(DataError::Format {
                    file: path,
                    message: "this file has no amount column but the first file had one (or the other way round)".into(),
                })
            }
            _ => {}
        }
        self.current = Some(file);
        Ok(true)
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            let Some(file) = self.current.as_mut() else {
                return Ok(None);
            };
            let mut rejected = Vec::new();
            let batch = file.read_batch(&mut rejected, &mut self.report, &mut self.customers)?;
            for error in rejected {
                self.report.rows_rejected += 1;
                match self.bad_rows.as_mut() {
                    Some(sink) => sink.write(&error)?,
                    None => return Err(DataError::BadRow(Box::new(error))),
                }
            }
            match batch {
                Some(batch) if batch.num_rows() > 0 => return Ok(Some(batch)),
                Some(_) => continue,
                None => {}
            }
            self.current = None;
            if !self.open_next()? {
                return Ok(None);
            }
        }
    }

    fn finish(&mut self) -> Result<()> {
        if let Some(sink) = self.bad_rows.take() {
            self.report.bad_rows_file = Some(sink.finish()?);
        }
        Ok(())
    }
}

impl Iterator for TransactionReader {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_batch() {
            Ok(Some(batch)) => Some(Ok(batch)),
            Ok(None) => {
                self.done = true;
                self.finish().err().map(Err)
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Reads all of a log into memory: for small inputs and tests.
pub fn read_all(files: &[PathBuf], options: ReadOptions) -> Result<Transactions> {
    let mut reader = TransactionReader::open(files, options)?;
    let mut batches = Vec::new();
    for batch in reader.by_ref() {
        batches.push(batch?);
    }
    let schema = reader.schema();
    let (report, customers) = reader.into_parts();
    Ok(Transactions {
        batches,
        schema,
        report,
        customers,
    })
}

/// A whole log in memory: for small inputs and tests.
pub struct Transactions {
    pub batches: Vec<RecordBatch>,
    pub schema: SchemaRef,
    pub report: IngestReport,
    /// Decodes the `customer` codes.
    pub customers: CustomerIndex,
}

// ---------------------------------------------------------------------------------------------
// One file

enum FileReader {
    Text(TextReader),
    Parquet(crate::parquet_in::ParquetReader),
}

impl FileReader {
    fn open(path: &Path, options: &ReadOptions) -> Result<Self> {
        Ok(match detect(path)? {
            FileKind::Parquet => {
                FileReader::Parquet(crate::parquet_in::ParquetReader::open(path, options)?)
            }
            FileKind::Text { gzip } => FileReader::Text(TextReader::open(path, options, gzip)?),
        })
    }

    fn has_amount(&self) -> bool {
        match self {
            FileReader::Text(t) => t.rules.amount.is_some(),
            FileReader::Parquet(p) => p.has_amount(),
        }
    }

    fn read_batch(
        &mut self,
        rejected: &mut Vec<RowError>,
        report: &mut IngestReport,
        customers: &mut CustomerIndex,
    ) -> Result<Option<RecordBatch>> {
        match self {
            FileReader::Text(t) => t.read_batch(rejected, report, customers),
            FileReader::Parquet(p) => p.read_batch(rejected, report, customers),
        }
    }
}

/// Where the amount of a row comes from, as field indexes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum AmountFields {
    Column(usize),
    Product(usize, usize),
}

/// Column indexes and names resolved against a header, plus the per-row rules: shared by the
/// text and Parquet readers so that both validate identically.
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
        if row.amount < 0.0 && !self.keep_negative {
            report.excluded_negative_amount += 1;
            return RowOutcome::Exclude;
        }
        if self.last_day.is_some_and(|last| row.day > last) {
            report.excluded_after_end += 1;
            return RowOutcome::Exclude;
        }
        RowOutcome::Use(row)
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
        self.codes.push(code);
        self.days.push(row.day);
        if self.period != Period::Day {
            self.periods.push(self.period.start(row.day));
        }
        if self.with_amount {
            self.amounts.push(row.amount);
            report.amount_total += row.amount;
        }
        report.rows_used += 1;
        report.first_day = min_opt(report.first_day, Some(row.day));
        report.last_day = report.last_day.max(Some(row.day));
        Ok(())
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

// ---------------------------------------------------------------------------------------------
// Text files

struct TextReader {
    records: Records,
    rules: RowRules,
    header: Option<csv::ByteRecord>,
    /// Fields of the header (or of the first row): every row must have as many.
    n_fields: usize,
    /// Without a bad-rows file the first rejected row ends the run: stop reading there.
    fail_fast: bool,
    record: csv::ByteRecord,
    /// A record read while sniffing the header that is data, to be processed first.
    pending: Option<(csv::ByteRecord, u64)>,
    builder: BatchBuilder,
    eof: bool,
}

impl TextReader {
    fn open(path: &Path, options: &ReadOptions, gzip: bool) -> Result<Self> {
        let file = TextFile::open(path, options.delimiter, gzip)?;
        let n_fields = file.first.len();

        let all_numbered = [&options.columns.customer, &options.columns.date]
            .into_iter()
            .chain(match &options.columns.amount {
                AmountSpec::Column(c) => vec![c],
                AmountSpec::Product { quantity, price } => vec![quantity, price],
                _ => vec![],
            })
            .all(|c| c.parse::<usize>().is_ok());
        let has_header = match options.header {
            HeaderMode::Present => true,
            HeaderMode::Absent => false,
            HeaderMode::Auto => {
                if !all_numbered {
                    true
                } else {
                    let date_idx = options
                        .columns
                        .date
                        .parse::<usize>()
                        .unwrap_or(1)
                        .saturating_sub(1);
                    file.first
                        .get(date_idx)
                        .and_then(|f| parse_date(f, &options.date_format))
                        .is_none()
                }
            }
        };

        let header_names = if has_header {
            Some(file.header_names(path)?)
        } else {
            None
        };
        let rules = RowRules::resolve(path, header_names.as_deref(), n_fields, options)?;
        let TextFile {
            records,
            first,
            first_line,
        } = file;
        let (header, pending) = if has_header {
            (Some(first), None)
        } else {
            (None, Some((first, first_line)))
        };
        let with_amount = rules.amount.is_some();
        let mut reader = TextReader {
            records,
            rules,
            header,
            n_fields,
            fail_fast: options.bad_rows.is_none(),
            record: csv::ByteRecord::new(),
            pending,
            builder: BatchBuilder::new(path, with_amount, options.period),
            eof: false,
        };
        // A header and nothing else is as good as empty: say so rather than summarise nothing.
        if has_header {
            let mut probe = csv::ByteRecord::new();
            match reader.records.next(&mut probe, path)? {
                Some(line) => reader.pending = Some((probe, line)),
                None => {
                    return Err(DataError::Empty {
                        file: path.into(),
                        what: "the file has a header but no data rows".into(),
                    })
                }
            }
        }
        Ok(reader)
    }

    fn read_batch(
        &mut self,
        rejected: &mut Vec<RowError>,
        report: &mut IngestReport,
        customers: &mut CustomerIndex,
    ) -> Result<Option<RecordBatch>> {
        if self.eof {
            return Ok(None);
        }
        if let Some((record, line)) = self.pending.take() {
            self.process(&record, line, rejected, report, customers)?;
        }
        while self.builder.len() < BATCH_ROWS {
            let mut record = std::mem::take(&mut self.record);
            let next = self.records.next(&mut record, &self.rules.file)?;
            match next {
                Some(line) => self.process(&record, line, rejected, report, customers)?,
                None => {
                    self.eof = true;
                    self.record = record;
                    break;
                }
            }
            self.record = record;
            if self.fail_fast && !rejected.is_empty() {
                break;
            }
        }
        Ok(match self.builder.finish() {
            Some(batch) => Some(batch),
            None if self.eof => None,
            // Rows were read but none kept yet: an empty batch lets the caller report rejects.
            None => Some(RecordBatch::new_empty(transaction_schema(
                self.rules.amount.is_some(),
            ))),
        })
    }

    fn process(
        &mut self,
        record: &csv::ByteRecord,
        line: u64,
        rejected: &mut Vec<RowError>,
        report: &mut IngestReport,
        customers: &mut CustomerIndex,
    ) -> Result<()> {
        report.rows_read += 1;
        let rules = &self.rules;
        if record.len() != self.n_fields {
            rejected.push(RowError {
                location: rules.location(line, None),
                problem: RowProblem::Ragged {
                    expected: self.n_fields,
                    found: record.len(),
                },
                record: fields_of(record),
            });
            return Ok(());
        }
        if self.header.as_ref().is_some_and(|h| h == record) {
            rejected.push(RowError {
                location: rules.location(line, None),
                problem: RowProblem::RepeatedHeader,
                record: fields_of(record),
            });
            return Ok(());
        }
        match rules.check(|i| &record[i], report) {
            RowOutcome::Use(row) => self.builder.push(&row, report, customers)?,
            RowOutcome::Exclude => {}
            RowOutcome::Reject(problem, column) => rejected.push(RowError {
                location: rules.location(line, Some(column)),
                problem,
                record: fields_of(record),
            }),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::Write;

    fn write(dir: &tempfile::TempDir, name: &str, content: &[u8]) -> PathBuf {
        let path = dir.path().join(name);
        File::create(&path).unwrap().write_all(content).unwrap();
        path
    }

    fn read(
        path: &Path,
        options: ReadOptions,
    ) -> Result<(Vec<RecordBatch>, IngestReport, SchemaRef)> {
        let t = read_all(&[path.to_path_buf()], options)?;
        Ok((t.batches, t.report, t.schema))
    }

    fn rows(batches: &[RecordBatch]) -> usize {
        batches.iter().map(|b| b.num_rows()).sum()
    }

    #[test]
    fn delimiters_are_sniffed() {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [
            (
                "comma.csv",
                "customer_id,date,amount\na,2020-01-01,1.5\nb,2020-01-02,2\n",
            ),
            (
                "semi.csv",
                "customer_id;date;amount\na;2020-01-01;1.5\nb;2020-01-02;2\n",
            ),
            (
                "tab.tsv",
                "customer_id\tdate\tamount\na\t2020-01-01\t1.5\nb\t2020-01-02\t2\n",
            ),
            (
                "space.txt",
                "customer_id   date     amount\r\n a  20200101   1.5\r\nb 20200102 2\r\n",
            ),
        ] {
            let path = write(&dir, name, text.as_bytes());
            let (batches, report, schema) = read(&path, ReadOptions::default()).unwrap();
            assert_eq!(rows(&batches), 2, "{name}");
            assert_eq!(report.rows_used, 2);
            assert_eq!(report.amount_total, 3.5, "{name}");
            assert_eq!(schema.fields().len(), 4);
        }
    }

    #[test]
    fn headerless_positional_columns_and_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let text = b" 00004 0001 19970101  2   29.33\r\n 00004 0001 19970118  2   29.73\r\n";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text).unwrap();
        let path = write(&dir, "cdnow.txt.gz", &gz.finish().unwrap());
        let options = ReadOptions {
            columns: TransactionColumns {
                customer: "2".into(),
                date: "3".into(),
                amount: AmountSpec::Column("5".into()),
            },
            ..Default::default()
        };
        let (batches, report, _) = read(&path, options).unwrap();
        assert_eq!(rows(&batches), 2);
        assert_eq!(report.rows_read, 2);
        assert!((report.amount_total - 59.06).abs() < 1e-9);
    }

    #[test]
    fn exclusions_are_counted_not_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "t.csv",
            b"InvoiceNo,CustomerID,InvoiceDate,Quantity,UnitPrice\n\
              1,17850,2010-12-01 08:26:00,6,2.55\n\
              C2,17850,2010-12-01 09:00:00,-6,2.55\n\
              3,,2010-12-01 09:00:00,1,1.00\n\
              4,12345,2011-12-31 09:00:00,1,1.00\n",
        );
        let options = ReadOptions {
            columns: TransactionColumns {
                customer: "CustomerID".into(),
                date: "InvoiceDate".into(),
                amount: AmountSpec::Product {
                    quantity: "Quantity".into(),
                    price: "UnitPrice".into(),
                },
            },
            last_day: Some(crate::dates::days_from_civil(2011, 12, 9)),
            ..Default::default()
        };
        let (batches, report, _) = read(&path, options).unwrap();
        assert_eq!(rows(&batches), 1);
        assert_eq!(report.rows_read, 4);
        assert_eq!(report.rows_used, 1);
        assert_eq!(report.excluded_negative_amount, 1);
        assert_eq!(report.excluded_no_customer, 1);
        assert_eq!(report.excluded_after_end, 1);
        assert_eq!(
            report.rows_used + report.rows_rejected + report.rows_excluded(),
            report.rows_read
        );
        assert!((report.amount_total - 15.3).abs() < 1e-12);
    }

    fn error_of(content: &[u8], options: ReadOptions) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "bad.csv", content);
        match read(&path, options) {
            Ok(_) => panic!(
                "expected an error for {:?}",
                String::from_utf8_lossy(content)
            ),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn missing_column_names_the_columns_and_a_near_match() {
        let msg = error_of(
            b"Customer_ID,date,amount\na,2020-01-01,1\n",
            ReadOptions::default(),
        );
        assert!(msg.contains("no column \"customer_id\""), "{msg}");
        assert!(msg.contains("did you mean \"Customer_ID\""), "{msg}");
        assert!(msg.contains("bad.csv"), "{msg}");
    }

    #[test]
    fn bad_date_names_file_line_column_expected_and_found() {
        let msg = error_of(
            b"customer_id,date,amount\na,2020-01-01,1\nb,2020-13-01,2\n",
            ReadOptions::default(),
        );
        assert!(
            msg.contains("bad.csv:3, column date: expected a date"),
            "{msg}"
        );
        assert!(msg.contains("found \"2020-13-01\""), "{msg}");
        assert!(msg.contains("--bad-rows"), "{msg}");
    }

    #[test]
    fn bad_number() {
        let msg = error_of(
            b"customer_id,date,amount\na,2020-01-01,1\nb,2020-01-02,12,5\n",
            ReadOptions::default(),
        );
        assert!(msg.contains("bad.csv:3: expected 3 fields"), "{msg}");
        let msg = error_of(
            b"customer_id;date;amount\na;2020-01-01;12,50\n",
            ReadOptions::default(),
        );
        assert!(
            msg.contains("bad.csv:2, column amount: expected a number"),
            "{msg}"
        );
        assert!(msg.contains("found \"12,50\""), "{msg}");
    }

    /// Found by `tests/fuzz.rs`: 2 × -1e308 was used as an amount of -inf.
    #[test]
    fn a_quantity_times_price_past_the_largest_number_is_rejected() {
        let options = ReadOptions {
            columns: TransactionColumns {
                amount: AmountSpec::Product {
                    quantity: "quantity".into(),
                    price: "price".into(),
                },
                ..Default::default()
            },
            keep_negative: true,
            ..Default::default()
        };
        let msg = error_of(
            b"customer_id,date,quantity,price\na,2020-01-01,2,-1e308\n",
            options,
        );
        assert!(
            msg.contains("bad.csv:2, column price: expected a quantity × unit price within"),
            "{msg}"
        );
        assert!(msg.contains("found \"2 × -1e308\""), "{msg}");
    }

    #[test]
    fn empty_files() {
        let msg = error_of(b"", ReadOptions::default());
        assert!(msg.contains("the file is empty"), "{msg}");
        let msg = error_of(b"customer_id,date,amount\n", ReadOptions::default());
        assert!(msg.contains("header but no data rows"), "{msg}");
    }

    #[test]
    fn ragged_row() {
        let msg = error_of(
            b"customer_id,date,amount\na,2020-01-01\n",
            ReadOptions::default(),
        );
        assert!(
            msg.contains("bad.csv:2: expected 3 fields (as in the header), found 2"),
            "{msg}"
        );
    }

    #[test]
    fn non_utf8() {
        let msg = error_of(
            b"customer_id,date,amount\nJos\xe9,2020-01-01,1\n",
            ReadOptions::default(),
        );
        assert!(
            msg.contains("bad.csv:2, column customer_id: expected UTF-8 text, found byte 0xE9"),
            "{msg}"
        );
        assert!(msg.contains("iconv"), "{msg}");
    }

    #[test]
    fn duplicate_header_and_repeated_header_line() {
        let msg = error_of(
            b"customer_id,date,date,amount\na,2020-01-01,2020-01-01,1\n",
            ReadOptions::default(),
        );
        assert!(
            msg.contains("names column \"date\" twice (fields 2 and 3)"),
            "{msg}"
        );
        let msg = error_of(
            b"customer_id,date,amount\na,2020-01-01,1\ncustomer_id,date,amount\n",
            ReadOptions::default(),
        );
        assert!(
            msg.contains("bad.csv:3: expected a data row, found the header line again"),
            "{msg}"
        );
    }

    #[test]
    fn bad_rows_file_collects_rejects_and_the_run_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "t.csv",
            b"customer_id,date,amount\na,2020-01-01,1\nb,not a date,2\nc,2020-01-03,x\nd,2020-01-04\ne,2020-01-05,5\n",
        );
        let bad = dir.path().join("bad.csv");
        let options = ReadOptions {
            bad_rows: Some(bad.clone()),
            ..Default::default()
        };
        let (batches, report, _) = read(&path, options).unwrap();
        assert_eq!(rows(&batches), 2);
        assert_eq!(
            (report.rows_read, report.rows_used, report.rows_rejected),
            (5, 2, 3)
        );
        let text = std::fs::read_to_string(&bad).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[1].contains(",3,date,") && lines[1].contains("not a date"),
            "{text}"
        );
        assert!(lines[2].contains(",4,amount,"), "{text}");
        assert!(lines[3].contains(",5,,\"expected 3 fields"), "{text}");
    }
}
