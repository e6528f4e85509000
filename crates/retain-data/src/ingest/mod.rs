//! Reading transaction logs into typed Arrow batches, row by row validated.
//!
//! Input: CSV with any of `,` `;` tab `|` delimiters or whitespace-aligned columns, with or
//! without a header, plain or gzip; or Parquet; or a PostgreSQL table or query
//! (`crate::database`, set in [`ReadOptions::database`]). Output: batches of [`transaction_schema`]. Every
//! row read ends in exactly one bucket of the [`IngestReport`]: used, rejected (malformed: with
//! its reason, fatal unless a bad-rows file is given) or excluded by a documented rule (no
//! customer id, negative amount, after the observation end). Nothing is dropped silently.
//!
//! The entry points are here ([`TransactionReader`], [`read_all`]), with the public options
//! re-exported; the work is split by job: `options` (what decides how a log is read, and the
//! report), `rows` (the per-row rules), `batch` (the Arrow batch builder), `csv` (the text
//! reader) and `crate::parquet_in` (the Parquet reader). Imports run one way: `options` <-
//! `rows` <- `batch` <- the two readers <- this module; the readers share `rows` and `batch` and
//! know nothing of each other.

pub(crate) mod batch;
mod csv;
pub(crate) mod options;
pub(crate) mod parallel;
pub(crate) mod rows;

use std::path::{Path, PathBuf};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;

use crate::customers::CustomerIndex;
use crate::database::DatabaseReader;
use crate::error::{DataError, Result, RowError};
use crate::parquet_in::ParquetReader;
use crate::text::{detect, BadRowSink, FileKind};

pub use crate::text::{Delimiter, HeaderMode};
pub use batch::{transaction_schema, BATCH_ROWS};
use csv::TextReader;
pub use options::{thousands, AmountSpec, IngestReport, ReadOptions, TransactionColumns};
use parallel::{ParallelParts, PARALLEL_MIN_BYTES};

/// Reads one or more transaction files as a sequence of batches; see the module doc.
pub struct TransactionReader {
    files: Vec<PathBuf>,
    next_file: usize,
    options: ReadOptions,
    current: Option<FileReader>,
    report: IngestReport,
    rejected: Rejected,
    with_amount: Option<bool>,
    customers: CustomerIndex,
    done: bool,
    /// Threads that parse a large text file (1: the reading thread alone).
    workers: usize,
}

/// Where rejected rows go: nowhere (the first one is an error), the bad-rows file, or back to
/// the caller (a cluster executor, whose client writes the file).
enum Rejected {
    Fatal,
    File(Box<BadRowSink>),
    Collect(Vec<RowError>),
}

impl TransactionReader {
    pub fn open(files: &[PathBuf], options: ReadOptions) -> Result<Self> {
        let rejected = match options.bad_rows.as_deref() {
            Some(path) => Rejected::File(Box::new(BadRowSink::create(path)?)),
            None => Rejected::Fatal,
        };
        Self::open_with(files, options, rejected, default_workers())
    }

    /// A reader that keeps rejected rows for [`TransactionReader::take_rejected`] instead of
    /// failing on the first or writing them (`options.bad_rows` is ignored).
    pub(crate) fn open_collecting(files: &[PathBuf], options: ReadOptions) -> Result<Self> {
        Self::open_with(
            files,
            options,
            Rejected::Collect(Vec::new()),
            default_workers(),
        )
    }

    fn open_with(
        files: &[PathBuf],
        options: ReadOptions,
        rejected: Rejected,
        workers: usize,
    ) -> Result<Self> {
        match (files.is_empty(), &options.database) {
            (true, None) => return Err(DataError::Option("no transaction file given".into())),
            (false, Some(source)) => {
                return Err(DataError::Option(format!(
                    "transactions come from files or from {}, not both",
                    source.name()
                )))
            }
            _ => {}
        }
        for file in files {
            crate::database::refuse_url(file)?;
        }
        // A database is one source, read where files would be.
        let files = match &options.database {
            Some(source) => vec![PathBuf::from(source.name())],
            None => crate::folders::expand_folders(files)?,
        };
        let mut reader = TransactionReader {
            files,
            next_file: 0,
            options,
            current: None,
            report: IngestReport::default(),
            rejected,
            with_amount: None,
            customers: CustomerIndex::new(),
            done: false,
            workers,
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

    /// The rejected rows kept so far (only a reader opened to collect them keeps any).
    pub(crate) fn take_rejected(&mut self) -> Vec<RowError> {
        match &mut self.rejected {
            Rejected::Collect(rows) => std::mem::take(rows),
            _ => Vec::new(),
        }
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
        let fail_fast = matches!(self.rejected, Rejected::Fatal);
        let file = match &self.options.database {
            Some(source) => FileReader::Database(DatabaseReader::open(source, &self.options)?),
            None => FileReader::open(&path, &self.options, fail_fast, self.workers)?,
        };
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
            self.report.settle();
            for error in rejected {
                self.report.rows_rejected += 1;
                match &mut self.rejected {
                    Rejected::File(sink) => sink.write(&error)?,
                    Rejected::Collect(rows) => rows.push(error),
                    Rejected::Fatal => return Err(DataError::BadRow(Box::new(error))),
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
        if let Rejected::File(sink) = std::mem::replace(&mut self.rejected, Rejected::Fatal) {
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

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
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
    Parallel(ParallelParts),
    Parquet(Box<ParquetReader>),
    Database(DatabaseReader),
}

impl FileReader {
    fn open(path: &Path, options: &ReadOptions, fail_fast: bool, workers: usize) -> Result<Self> {
        Ok(match detect(path)? {
            FileKind::Parquet => {
                let parquet = ParquetReader::open(path, options)?;
                match parquet.row_groups().filter(|_| workers > 1) {
                    Some(groups) => FileReader::Parallel(ParallelParts::start(
                        path,
                        parquet.has_amount(),
                        workers,
                        {
                            let groups = groups.clone();
                            move |sink| groups.produce(sink)
                        },
                        move |_, (group, rows_before)| groups.read(group, rows_before, fail_fast),
                    )),
                    None => FileReader::Parquet(Box::new(parquet)),
                }
            }
            FileKind::Text { gzip } => {
                // The serial reader sniffs the dialect and checks the header either way.
                let text = TextReader::open(path, options, gzip, fail_fast)?;
                // Compressed text is about a quarter of its size.
                let size =
                    std::fs::metadata(path).map_or(0, |m| m.len()) * if gzip { 4 } else { 1 };
                if workers > 1 && size >= PARALLEL_MIN_BYTES {
                    FileReader::Parallel(ParallelParts::text(path, gzip, text, workers)?)
                } else {
                    FileReader::Text(text)
                }
            }
        })
    }

    fn has_amount(&self) -> bool {
        match self {
            FileReader::Text(t) => t.has_amount(),
            FileReader::Parallel(t) => t.has_amount(),
            FileReader::Parquet(p) => p.has_amount(),
            FileReader::Database(d) => d.has_amount(),
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
            FileReader::Parallel(t) => t.read_batch(rejected, report, customers),
            FileReader::Parquet(p) => p.read_batch(rejected, report, customers),
            FileReader::Database(d) => d.read_batch(rejected, report, customers),
        }
    }
}

#[cfg(test)]
mod tests;
