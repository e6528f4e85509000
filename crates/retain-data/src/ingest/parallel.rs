//! A file read by several threads. A producer cuts it into parts (a text file into
//! [`PART_BYTES`] or so of whole records, decompressed for gzip, with their first line numbers;
//! a Parquet file into its row groups, with the number of rows before each); workers parse and
//! check the parts with the file's own rules; the consumer takes the parts back in file order.
//! So everything the serial readers guarantee holds: rejected rows come in file order (the
//! first one is the error without a bad-rows file), customer codes are given in order of first
//! appearance, and the report adds up part by part.
//!
//! Each part codes its customers in its own [`CustomerIndex`]; the consumer maps the part's
//! interned ids to the reader's (plain-integer ids are their own codes everywhere). At most
//! [`PARTS_IN_FLIGHT`] parts per worker exist at once, read or parsed, so memory stays bounded
//! however the workers' speeds differ.

use std::collections::{BTreeMap, VecDeque};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::datatypes::UInt32Type;

use crate::customers::{CustomerIndex, INTERNED_BASE};
use crate::error::{DataError, Result, RowError};
use crate::text::{open_text, Delimiter};

use super::csv::{PartReader, TextReader};
use super::options::IngestReport;

/// Bytes of a text part: about 80,000 rows of a typical log, several batches of work per part.
pub(super) const PART_BYTES: usize = 2 << 20;
/// Parts per worker that may be in memory at once.
const PARTS_IN_FLIGHT: usize = 3;

/// A text file worth splitting: smaller ones are read faster than threads start.
pub(super) const PARALLEL_MIN_BYTES: u64 = 4 * PART_BYTES as u64;

/// What a worker made of one part.
#[derive(Default)]
pub(crate) struct Parsed {
    pub batches: Vec<RecordBatch>,
    pub rejected: Vec<RowError>,
    pub report: IngestReport,
    pub customers: CustomerIndex,
}

enum Message {
    Part(u64, Box<Result<Parsed>>),
    /// The producer is done: this many parts in all.
    End(u64),
}

/// Where a producer hands parts to the workers, each once a permit is free.
pub(crate) struct PartSink<J> {
    permits: Receiver<()>,
    parts: SyncSender<(u64, J)>,
    seq: u64,
}

impl<J> PartSink<J> {
    /// Hands over the next part; false once the reader is gone (the producer should stop).
    pub(crate) fn send(&mut self, part: J) -> bool {
        if self.permits.recv().is_err() || self.parts.send((self.seq, part)).is_err() {
            return false;
        }
        self.seq += 1;
        true
    }
}

/// A file read in parallel; see the module doc.
pub(crate) struct ParallelParts {
    results: Receiver<Message>,
    /// Returned once a part is consumed, letting the producer hand over another.
    permits: SyncSender<()>,
    waiting: BTreeMap<u64, Result<Parsed>>,
    next: u64,
    parts: Option<u64>,
    ready: VecDeque<RecordBatch>,
    has_amount: bool,
    path: PathBuf,
}

impl ParallelParts {
    /// Starts `produce` on a thread of its own and `workers` threads that run `work` on each
    /// part it hands over (with the part's sequence number, 0 for the first).
    pub(crate) fn start<J: Send + 'static>(
        path: &Path,
        has_amount: bool,
        workers: usize,
        produce: impl FnOnce(&mut PartSink<J>) -> Result<()> + Send + 'static,
        work: impl Fn(u64, J) -> Result<Parsed> + Send + Sync + 'static,
    ) -> ParallelParts {
        let workers = workers.max(1);
        let in_flight = PARTS_IN_FLIGHT * workers;
        let (permits, permits_rx) = sync_channel::<()>(in_flight);
        for _ in 0..in_flight {
            permits.send(()).expect("the receiver is here");
        }
        let (parts_tx, parts_rx) = sync_channel::<(u64, J)>(workers);
        let (results_tx, results) = sync_channel::<Message>(in_flight + 1);
        {
            let results_tx = results_tx.clone();
            std::thread::spawn(move || {
                let mut sink = PartSink {
                    permits: permits_rx,
                    parts: parts_tx,
                    seq: 0,
                };
                let outcome = produce(&mut sink);
                let mut parts = sink.seq;
                if let Err(error) = outcome {
                    let _ = results_tx.send(Message::Part(parts, Box::new(Err(error))));
                    parts += 1;
                }
                let _ = results_tx.send(Message::End(parts));
            });
        }
        let parts_rx = Arc::new(Mutex::new(parts_rx));
        let work = Arc::new(work);
        for _ in 0..workers {
            let parts_rx = parts_rx.clone();
            let results_tx = results_tx.clone();
            let work = work.clone();
            std::thread::spawn(move || loop {
                let part = parts_rx.lock().expect("parts lock").recv();
                let Ok((seq, part)) = part else {
                    return;
                };
                let parsed = work(seq, part);
                if results_tx
                    .send(Message::Part(seq, Box::new(parsed)))
                    .is_err()
                {
                    return;
                }
            });
        }
        ParallelParts {
            results,
            permits,
            waiting: BTreeMap::new(),
            next: 0,
            parts: None,
            ready: VecDeque::new(),
            has_amount,
            path: path.to_path_buf(),
        }
    }

    /// Reads text `path` (already opened serially by `first`, which sniffed its delimiter and
    /// header and checked it has data) on `workers` threads.
    pub(super) fn text(
        path: &Path,
        gzip: bool,
        first: TextReader,
        workers: usize,
    ) -> Result<ParallelParts> {
        let input = open_text(path, gzip)?;
        let template = first.part_reader();
        let quoted = matches!(template.delimiter(), Delimiter::Byte(_));
        let has_amount = template.has_amount();
        let file = path.to_path_buf();
        Ok(ParallelParts::start(
            path,
            has_amount,
            workers,
            move |sink| cut(input, &file, quoted, sink),
            move |seq, (line_offset, bytes)| parse(&template, bytes, line_offset, seq == 0),
        ))
    }

    pub(super) fn has_amount(&self) -> bool {
        self.has_amount
    }

    /// The next batch in file order, as the serial readers give them.
    pub(super) fn read_batch(
        &mut self,
        rejected: &mut Vec<RowError>,
        report: &mut IngestReport,
        customers: &mut CustomerIndex,
    ) -> Result<Option<RecordBatch>> {
        if let Some(batch) = self.ready.pop_front() {
            return Ok(Some(batch));
        }
        let parsed = loop {
            if self.parts == Some(self.next) {
                return Ok(None);
            }
            if let Some(parsed) = self.waiting.remove(&self.next) {
                break parsed?;
            }
            match self.results.recv() {
                Ok(Message::Part(seq, parsed)) => {
                    self.waiting.insert(seq, *parsed);
                }
                Ok(Message::End(parts)) => self.parts = Some(parts),
                Err(_) => {
                    return Err(DataError::Engine(
                        "a reading thread stopped without a result".into(),
                    ))
                }
            }
        };
        self.next += 1;
        // The producer may hand over another part; it is gone once the file is cut.
        let _ = self.permits.try_send(());
        report.absorb(&parsed.report);
        rejected.extend(parsed.rejected);
        let codes = recode(&parsed.customers, customers, &self.path)?;
        for batch in parsed.batches {
            self.ready.push_back(match &codes {
                Some(codes) => with_codes(batch, codes)?,
                None => batch,
            });
        }
        // A part with no rows kept still returns, so that its rejected rows are reported.
        Ok(Some(self.ready.pop_front().unwrap_or_else(|| {
            RecordBatch::new_empty(super::transaction_schema(self.has_amount))
        })))
    }
}

/// Cuts the input into parts of whole records: a part ends after the last line break that is
/// not inside a quoted field (`quoted`: CSV, whose fields may hold line breaks in quotes).
fn cut(
    mut input: Box<dyn Read + Send>,
    path: &Path,
    quoted: bool,
    parts: &mut PartSink<(u64, Vec<u8>)>,
) -> Result<()> {
    let mut lines = 0u64;
    let mut carry: Vec<u8> = Vec::new();
    // Where the next scan for a record end starts in the part, and the quote state there.
    let (mut scan_from, mut in_quotes) = (0, false);
    loop {
        let mut part = std::mem::take(&mut carry);
        let start = part.len();
        part.resize(start + PART_BYTES, 0);
        let filled = start
            + read_full(&mut input, &mut part[start..]).map_err(|source| DataError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        part.truncate(filled);
        let at_end = filled < start + PART_BYTES;
        if !at_end {
            match last_record_end(&part, scan_from, in_quotes, quoted) {
                (Some(end), state) => {
                    carry = part[end..].to_vec();
                    part.truncate(end);
                    (scan_from, in_quotes) = (0, state);
                }
                // No record ends in the part (one record longer than a part): read on.
                (None, state) => {
                    (scan_from, in_quotes) = (part.len(), state);
                    carry = part;
                    continue;
                }
            }
        }
        if part.is_empty() && at_end {
            return Ok(());
        }
        let part_lines = memchr::memchr_iter(b'\n', &part).count() as u64;
        if !parts.send((lines, part)) {
            return Ok(());
        }
        lines += part_lines;
        if at_end {
            return Ok(());
        }
    }
}

/// The end (just past the line break) of the last whole record in `part`, scanning from
/// `from` in the quote state `in_quotes`; and the quote state at that end (at the part's end
/// when there is none, where the next scan goes on). A doubled quote inside a quoted field toggles twice, so it needs no case.
fn last_record_end(
    part: &[u8],
    from: usize,
    in_quotes: bool,
    quoted: bool,
) -> (Option<usize>, bool) {
    let bytes = &part[from..];
    if !quoted || (!in_quotes && memchr::memchr(b'"', bytes).is_none()) {
        let end = memchr::memrchr(b'\n', bytes).map(|i| from + i + 1);
        return (end, in_quotes);
    }
    let (mut state, mut end, mut state_at_end) = (in_quotes, None, in_quotes);
    for i in memchr::memchr2_iter(b'"', b'\n', bytes) {
        if bytes[i] == b'"' {
            state = !state;
        } else if !state {
            end = Some(from + i + 1);
            state_at_end = state;
        }
    }
    match end {
        Some(end) => (Some(end), state_at_end),
        None => (None, state),
    }
}

fn read_full(input: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// One part through the file's rules.
fn parse(template: &PartReader, bytes: Vec<u8>, line_offset: u64, first: bool) -> Result<Parsed> {
    let skip_header = first && template.has_header();
    let mut reader = template.open(
        Box::new(std::io::Cursor::new(bytes)),
        line_offset,
        skip_header,
    )?;
    let mut parsed = Parsed {
        customers: CustomerIndex::new(),
        ..Default::default()
    };
    while let Some(batch) = reader.read_batch(
        &mut parsed.rejected,
        &mut parsed.report,
        &mut parsed.customers,
    )? {
        if batch.num_rows() > 0 {
            parsed.batches.push(batch);
        }
        // Without a bad-rows file the first rejected row ends the run: the rest is not needed.
        if template.fails_fast() && !parsed.rejected.is_empty() {
            break;
        }
    }
    Ok(parsed)
}

/// The reader's codes of a part's interned customers (by the part's interned number), or
/// `None` when the part has none.
fn recode(
    part: &CustomerIndex,
    reader: &mut CustomerIndex,
    path: &Path,
) -> Result<Option<Vec<u32>>> {
    if part.interned() == 0 {
        return Ok(None);
    }
    (0..part.interned() as u32)
        .map(|n| reader.code(&part.id(INTERNED_BASE + n)))
        .collect::<Result<Vec<u32>, String>>()
        .map(Some)
        .map_err(|message| DataError::Format {
            file: path.to_path_buf(),
            message,
        })
}

fn with_codes(batch: RecordBatch, codes: &[u32]) -> Result<RecordBatch> {
    let column = batch.column(0).as_primitive::<UInt32Type>();
    let recoded: UInt32Array = column
        .values()
        .iter()
        .map(|&c| match c.checked_sub(INTERNED_BASE) {
            Some(n) => codes[n as usize],
            None => c,
        })
        .collect();
    debug_assert_eq!(recoded.len(), column.len());
    let mut columns = batch.columns().to_vec();
    columns[0] = Arc::new(recoded);
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_ends_after_the_last_line_break_outside_quotes() {
        let text = b"a,1\nb,\"x\ny\"\nc,2";
        assert_eq!(last_record_end(text, 0, false, true), (Some(12), false));
        // Inside an open quote at the end: the record end is before it.
        let text = b"a,1\nb,\"x\ny";
        assert_eq!(last_record_end(text, 0, false, true), (Some(4), false));
        // Whitespace-aligned files have no quotes: any line break ends a record.
        assert_eq!(last_record_end(text, 0, false, false), (Some(9), false));
        // Continuing inside a quote from the previous scan.
        assert_eq!(
            last_record_end(b"x\"\nz\n", 0, true, true),
            (Some(5), false)
        );
        assert_eq!(last_record_end(b"no break", 0, false, true), (None, false));
    }
}
