//! The CSV (and other delimited text) reader: plain or gzip, any of the sniffed delimiters,
//! with or without a header (decided from the options and the first line), each record put
//! through the shared row rules into batches; ragged rows and repeated header lines are rejected
//! here, as only text files have them.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;

use crate::customers::CustomerIndex;
use crate::dates::parse_date;
use crate::error::{DataError, Result, RowError, RowProblem};
use crate::text::{fields_of, Delimiter, HeaderMode, Records, TextFile};

use super::batch::{transaction_schema, BatchBuilder, BATCH_ROWS};
use super::options::{AmountSpec, IngestReport, ReadOptions};
use super::rows::{RowOutcome, RowRules};

pub(super) struct TextReader {
    records: Records,
    rules: Arc<RowRules>,
    header: Option<csv::ByteRecord>,
    /// The sniffed delimiter, for readers of parts of the same file.
    delimiter: Delimiter,
    /// Lines of the file before this reader's input (a part read by `parallel`).
    line_offset: u64,
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
    pub(super) fn open(
        path: &Path,
        options: &ReadOptions,
        gzip: bool,
        fail_fast: bool,
    ) -> Result<Self> {
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
            delimiter,
        } = file;
        let (header, pending) = if has_header {
            (Some(first), None)
        } else {
            (None, Some((first, first_line)))
        };
        let with_amount = rules.amount.is_some();
        let mut reader = TextReader {
            records,
            rules: Arc::new(rules),
            header,
            delimiter,
            line_offset: 0,
            n_fields,
            fail_fast,
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

    pub(super) fn has_amount(&self) -> bool {
        self.rules.amount.is_some()
    }

    /// What reading a part of this file takes (for `parallel`): its rules, header and dialect.
    pub(super) fn part_reader(&self) -> PartReader {
        PartReader {
            rules: self.rules.clone(),
            header: self.header.clone(),
            delimiter: self.delimiter,
            n_fields: self.n_fields,
            fail_fast: self.fail_fast,
            period: self.builder.period(),
        }
    }

    pub(super) fn read_batch(
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
                Some(line) => {
                    let line = self.line_offset + line;
                    self.process(&record, line, rejected, report, customers)?
                }
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

/// A file's rules, header and dialect, to read parts of it on other threads.
#[derive(Clone)]
pub(super) struct PartReader {
    rules: Arc<RowRules>,
    header: Option<csv::ByteRecord>,
    delimiter: Delimiter,
    n_fields: usize,
    fail_fast: bool,
    period: crate::dates::Period,
}

impl PartReader {
    /// A reader of `input`, whole records of the file whose first is on line `line_offset + 1`;
    /// `skip_header` drops that first record (the header, in the first part). Rows are coded in
    /// the caller's own `CustomerIndex`.
    pub(super) fn open(
        &self,
        input: Box<dyn std::io::Read + Send>,
        line_offset: u64,
        skip_header: bool,
    ) -> Result<TextReader> {
        let mut records = Records::new(input, self.delimiter);
        if skip_header {
            let mut header = csv::ByteRecord::new();
            records.next(&mut header, &self.rules.file)?;
        }
        Ok(TextReader {
            records,
            rules: self.rules.clone(),
            header: self.header.clone(),
            delimiter: self.delimiter,
            line_offset,
            n_fields: self.n_fields,
            fail_fast: self.fail_fast,
            record: csv::ByteRecord::new(),
            pending: None,
            builder: BatchBuilder::new(&self.rules.file, self.has_amount(), self.period),
            eof: false,
        })
    }

    pub(super) fn has_header(&self) -> bool {
        self.header.is_some()
    }

    pub(super) fn has_amount(&self) -> bool {
        self.rules.amount.is_some()
    }

    pub(super) fn delimiter(&self) -> Delimiter {
        self.delimiter
    }

    pub(super) fn fails_fast(&self) -> bool {
        self.fail_fast
    }
}
