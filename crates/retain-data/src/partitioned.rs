//! The summary's aggregation on one machine: every used transaction becomes a 16-byte row
//! (customer code, holdout bit and merge period, amount) kept in partitions of
//! [`CUSTOMERS_PER_PARTITION`] consecutive customer codes, written to a spill file whenever the
//! rows held pass the memory budget. Each partition is then gathered, sorted and scanned on its
//! own, several at once, which merges a customer's transactions of one period and reduces them
//! to the per-customer aggregates `summary::finish` reads. Partitions are ranges of codes, so
//! they come out in code order, which is id order for plain-integer ids.
//!
//! The cluster runs the same reduction as a DataFusion plan (`summary::customer_plan`); here a
//! sort of small partitions does it in a fraction of the time of two hash aggregations, and its
//! memory is bounded by the budget plus one partition per thread.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use datafusion::arrow::array::{
    ArrayRef, AsArray, Decimal128Array, Float64Array, Int64Array, RecordBatch,
};
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, Float64Type, Schema, UInt32Type};

use crate::error::{DataError, Result};
use crate::summary::{amount_decimal, from_micros, to_micros};

/// Customers (consecutive codes) per partition: small enough that a partition of a typical log
/// sorts in the CPU cache, large enough that the partitions of a log of millions of customers
/// number in the thousands, not millions.
pub(crate) const CUSTOMERS_PER_PARTITION: u32 = 1 << 16;
const PARTITION_SHIFT: u32 = CUSTOMERS_PER_PARTITION.trailing_zeros();

/// Rows held in memory before spilling, when no budget is given.
pub(crate) const DEFAULT_BUDGET: usize = 1 << 30;
/// The least budget worth working in: below it every few batches would be a spill file.
const MIN_BUDGET: usize = 4 << 20;

/// Period days are stored biased by this, below the holdout bit.
const DAY_BIAS: i64 = 1 << 30;
const HOLDOUT_BIT: u32 = 1 << 31;

/// One transaction: its customer, `HOLDOUT_BIT | (period start + DAY_BIAS)`, its amount.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Row {
    code: u32,
    key: u32,
    amount: f64,
}

const ROW_BYTES: usize = 16;
/// Rows of a block of a partition (16 KiB).
const BLOCK_ROWS: usize = 1024;

impl Row {
    fn sort_key(&self) -> u64 {
        (u64::from(self.code) << 32) | u64::from(self.key)
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.code.to_le_bytes());
        out.extend_from_slice(&self.key.to_le_bytes());
        out.extend_from_slice(&self.amount.to_le_bytes());
    }

    fn decode(bytes: &[u8]) -> Row {
        let word = |i: usize| <[u8; 4]>::try_from(&bytes[i..i + 4]).expect("4 bytes");
        Row {
            code: u32::from_le_bytes(word(0)),
            key: u32::from_le_bytes(word(4)),
            amount: f64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")),
        }
    }
}

/// A spill file: partitions' rows back to back, and where each partition's rows are.
struct Run {
    file: Mutex<File>,
    /// (partition, byte offset, rows), in partition order.
    segments: Vec<(usize, u64, usize)>,
}

/// The transactions of a log by customer partition; see the module doc.
pub(crate) struct PartitionedRows {
    split_day: i32,
    with_amount: bool,
    /// Each partition's rows, in blocks of `BLOCK_ROWS`.
    partitions: Vec<Vec<Vec<Row>>>,
    /// Emptied blocks, reused after a spill: memory once taken is not given back and faulted in
    /// again, and the rows held never exceed the budget by more than a block a partition.
    free: Vec<Vec<Row>>,
    held_bytes: usize,
    budget: usize,
    runs: Vec<Run>,
    spilled_bytes: u64,
}

impl PartitionedRows {
    /// Rows dated after `split_day` are holdout; `budget` bounds the bytes of rows held.
    pub(crate) fn new(split_day: i32, with_amount: bool, budget: usize) -> Result<Self> {
        if budget < MIN_BUDGET {
            return Err(DataError::Option(format!(
                "a memory limit of {budget} bytes is too small for the summary to work in, even \
                 spilling to disk; give at least {} MiB",
                MIN_BUDGET >> 20
            )));
        }
        Ok(PartitionedRows {
            split_day,
            with_amount,
            partitions: Vec::new(),
            free: Vec::new(),
            held_bytes: 0,
            budget,
            runs: Vec::new(),
            spilled_bytes: 0,
        })
    }

    /// Bytes of rows written to spill files so far.
    pub(crate) fn spilled_bytes(&self) -> u64 {
        self.spilled_bytes
    }

    /// Adds a batch of [`crate::ingest::transaction_schema`].
    pub(crate) fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        let codes = batch.column(0).as_primitive::<UInt32Type>().values();
        let days = batch.column(1).as_primitive::<Date32Type>().values();
        let periods = batch.column(2).as_primitive::<Date32Type>().values();
        let amounts = self
            .with_amount
            .then(|| batch.column(3).as_primitive::<Float64Type>().values());
        for i in 0..codes.len() {
            let holdout = if days[i] > self.split_day {
                HOLDOUT_BIT
            } else {
                0
            };
            let row = Row {
                code: codes[i],
                key: holdout | (i64::from(periods[i]) + DAY_BIAS) as u32,
                amount: amounts.map_or(0.0, |a| a[i]),
            };
            let p = (row.code >> PARTITION_SHIFT) as usize;
            if p >= self.partitions.len() {
                self.partitions.resize_with(p + 1, Vec::new);
            }
            let blocks = &mut self.partitions[p];
            match blocks.last_mut() {
                Some(block) if block.len() < BLOCK_ROWS => block.push(row),
                _ => {
                    let mut block = self
                        .free
                        .pop()
                        .unwrap_or_else(|| Vec::with_capacity(BLOCK_ROWS));
                    block.push(row);
                    blocks.push(block);
                    self.held_bytes += BLOCK_ROWS * ROW_BYTES;
                }
            }
        }
        if self.held_bytes > self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Writes the largest partitions' rows to a new spill file until an eighth of the budget
    /// is free: the rows held stay near the budget, so the fewest rows go to disk.
    fn spill(&mut self) -> Result<()> {
        let io = |source: std::io::Error| DataError::Io {
            path: std::env::temp_dir(),
            source,
        };
        let mut file = tempfile::tempfile().map_err(io)?;
        let mut largest: Vec<(usize, usize)> = self
            .partitions
            .iter()
            .enumerate()
            .filter(|(_, blocks)| !blocks.is_empty())
            .map(|(p, blocks)| (blocks.len(), p))
            .collect();
        largest.sort_unstable_by(|a, b| b.cmp(a));
        let target = self.budget - self.budget / 8;
        let mut segments = Vec::new();
        let mut offset = 0u64;
        let mut buffer = Vec::new();
        for (n_blocks, p) in largest {
            if self.held_bytes <= target {
                break;
            }
            buffer.clear();
            let mut rows = 0;
            for mut block in self.partitions[p].drain(..) {
                for row in &block {
                    row.encode(&mut buffer);
                }
                rows += block.len();
                block.clear();
                self.free.push(block);
            }
            file.write_all(&buffer).map_err(io)?;
            segments.push((p, offset, rows));
            offset += buffer.len() as u64;
            self.held_bytes -= n_blocks * BLOCK_ROWS * ROW_BYTES;
        }
        segments.sort_unstable_by_key(|s| s.0);
        self.spilled_bytes += offset;
        self.runs.push(Run {
            file: Mutex::new(file),
            segments,
        });
        Ok(())
    }

    /// A partition's rows: those held and those spilled.
    fn gather(&self, p: usize, held: Vec<Vec<Row>>) -> Result<Vec<Row>> {
        let mut rows = Vec::with_capacity(held.iter().map(Vec::len).sum());
        for block in held {
            rows.extend_from_slice(&block);
        }
        let mut bytes = Vec::new();
        for run in &self.runs {
            let Ok(i) = run.segments.binary_search_by_key(&p, |s| s.0) else {
                continue;
            };
            let (_, offset, n) = run.segments[i];
            bytes.resize(n * ROW_BYTES, 0);
            let mut file = run.file.lock().expect("spill file lock");
            file.seek(SeekFrom::Start(offset))
                .and_then(|_| file.read_exact(&mut bytes))
                .map_err(|source| DataError::Io {
                    path: std::env::temp_dir(),
                    source,
                })?;
            drop(file);
            rows.extend(bytes.chunks_exact(ROW_BYTES).map(Row::decode));
        }
        Ok(rows)
    }

    /// Reduces every partition on `threads` threads and hands the results to `emit` in code
    /// order, on this thread, as they are done; at most a few partitions' results wait, so the
    /// aggregates of a log are never all in memory at once. Empty results are skipped.
    pub(crate) fn aggregate_each(
        mut self,
        threads: usize,
        mut emit: impl FnMut(RecordBatch) -> Result<()>,
    ) -> Result<()> {
        self.free = Vec::new();
        let held: Vec<Mutex<Vec<Vec<Row>>>> = std::mem::take(&mut self.partitions)
            .into_iter()
            .map(Mutex::new)
            .collect();
        let threads = threads.max(1);
        // Partitions may be reduced this far ahead of the one being emitted.
        let window = 2 * threads + 2;
        let next = AtomicUsize::new(0);
        let state = Mutex::new(Progress::default());
        let changed = Condvar::new();
        let this = &self;
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| loop {
                    let p = next.fetch_add(1, Ordering::Relaxed);
                    if p >= held.len() {
                        break;
                    }
                    {
                        let mut s = state.lock().expect("progress lock");
                        while p >= s.emitted + window && !s.stopped {
                            s = changed.wait(s).expect("progress lock");
                        }
                        if s.stopped {
                            break;
                        }
                    }
                    let rows = std::mem::take(&mut *held[p].lock().expect("partition lock"));
                    // A panic must not leave the emitting thread waiting for this partition.
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        this.gather(p, rows)
                            .and_then(|rows| reduce(rows, this.with_amount))
                    }))
                    .unwrap_or_else(|_| Err(DataError::Engine("a summary thread panicked".into())));
                    state.lock().expect("progress lock").done.insert(p, result);
                    changed.notify_all();
                });
            }
            let outcome = (0..held.len()).try_for_each(|p| {
                let result = {
                    let mut s = state.lock().expect("progress lock");
                    loop {
                        if let Some(result) = s.done.remove(&p) {
                            s.emitted = p + 1;
                            break result;
                        }
                        s = changed.wait(s).expect("progress lock");
                    }
                };
                changed.notify_all();
                match result? {
                    batch if batch.num_rows() == 0 => Ok(()),
                    batch => emit(batch),
                }
            });
            if outcome.is_err() {
                state.lock().expect("progress lock").stopped = true;
                changed.notify_all();
            }
            outcome
        })
    }
}

/// Where `aggregate_each` is: results waiting to be emitted, how many were, whether it stopped.
#[derive(Default)]
struct Progress {
    done: BTreeMap<usize, Result<RecordBatch>>,
    emitted: usize,
    stopped: bool,
}

/// The layout `summary::finish` reads: `customer, first, last, n_cal, n_hold[, sum_cal,
/// first_amount, sum_hold]`; periods as days, sums in millionths (`amount_decimal`).
fn aggregate_schema(with_amount: bool) -> Arc<Schema> {
    let mut fields: Vec<Field> = ["customer", "first", "last", "n_cal", "n_hold"]
        .into_iter()
        .map(|n| Field::new(n, DataType::Int64, false))
        .collect();
    if with_amount {
        fields.push(Field::new("sum_cal", amount_decimal(), false));
        fields.push(Field::new("first_amount", DataType::Float64, false));
        fields.push(Field::new("sum_hold", amount_decimal(), false));
    }
    Arc::new(Schema::new(fields))
}

/// One partition's rows to one aggregate row per customer, in code order.
fn reduce(mut rows: Vec<Row>, with_amount: bool) -> Result<RecordBatch> {
    rows.sort_unstable_by_key(Row::sort_key);
    let mut customer = Vec::new();
    let (mut first, mut last, mut n_cal, mut n_hold) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut sum_cal, mut first_amount, mut sum_hold) = (Vec::new(), Vec::new(), Vec::new());
    let mut i = 0;
    while i < rows.len() {
        let code = rows[i].code;
        let (mut cal, mut hold) = (0i64, 0i64);
        let (mut low, mut high) = (0i64, 0i64);
        let (mut spent_cal, mut spent_hold, mut opening) = (0i128, 0i128, None);
        while i < rows.len() && rows[i].code == code {
            // One merged period: the run of rows with the same key.
            let key = rows[i].key;
            let mut spent = 0i128;
            while i < rows.len() && rows[i].code == code && rows[i].key == key {
                spent += to_micros(rows[i].amount);
                i += 1;
            }
            let day = i64::from(key & !HOLDOUT_BIT) - DAY_BIAS;
            // Calibration keys sort before holdout ones: the first period is the first here.
            opening.get_or_insert(spent);
            if key & HOLDOUT_BIT == 0 {
                if cal == 0 {
                    low = day;
                }
                high = day;
                cal += 1;
                spent_cal += spent;
            } else {
                hold += 1;
                spent_hold += spent;
            }
        }
        customer.push(i64::from(code));
        first.push(low);
        last.push(high);
        n_cal.push(cal);
        n_hold.push(hold);
        if with_amount {
            sum_cal.push(spent_cal);
            first_amount.push(from_micros(opening.unwrap_or(0)));
            sum_hold.push(spent_hold);
        }
    }
    let int = |v: Vec<i64>| Arc::new(Int64Array::from(v)) as ArrayRef;
    let mut columns = vec![
        int(customer),
        int(first),
        int(last),
        int(n_cal),
        int(n_hold),
    ];
    if with_amount {
        let decimal =
            |v: Vec<i128>| Arc::new(Decimal128Array::from(v).with_data_type(amount_decimal()));
        columns.push(decimal(sum_cal));
        columns.push(Arc::new(Float64Array::from(first_amount)));
        columns.push(decimal(sum_hold));
    }
    Ok(RecordBatch::try_new(
        aggregate_schema(with_amount),
        columns,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::transaction_schema;
    use datafusion::arrow::array::{Date32Array, UInt32Array};

    fn batch(rows: &[(u32, i32, i32, f64)]) -> RecordBatch {
        RecordBatch::try_new(
            transaction_schema(true),
            vec![
                Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Date32Array::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(Date32Array::from_iter_values(rows.iter().map(|r| r.2))),
                Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.3))),
            ],
        )
        .unwrap()
    }

    type Expected = (i64, i64, i64, i64, i128, f64, i128);

    /// The same reduction, the obvious way: a map per customer of (holdout, period) -> sum.
    fn naive(rows: &[(u32, i32, i32, f64)], split: i32) -> BTreeMap<u32, Expected> {
        let mut periods: BTreeMap<u32, BTreeMap<(bool, i32), i128>> = BTreeMap::new();
        for &(code, day, period, amount) in rows {
            *periods
                .entry(code)
                .or_default()
                .entry((day > split, period))
                .or_default() += to_micros(amount);
        }
        periods
            .into_iter()
            .map(|(code, p)| {
                let cal: Vec<_> = p.iter().filter(|(k, _)| !k.0).collect();
                let hold: Vec<_> = p.iter().filter(|(k, _)| k.0).collect();
                let first_amount = from_micros(*p.values().next().unwrap());
                let expected = (
                    cal.first().map_or(0, |(k, _)| i64::from(k.1)),
                    cal.last().map_or(0, |(k, _)| i64::from(k.1)),
                    cal.len() as i64,
                    hold.len() as i64,
                    cal.iter().map(|(_, v)| **v).sum(),
                    first_amount,
                    hold.iter().map(|(_, v)| **v).sum(),
                );
                (code, expected)
            })
            .collect()
    }

    fn collected(batches: &[RecordBatch]) -> BTreeMap<u32, Expected> {
        let mut out = BTreeMap::new();
        let mut previous = None;
        for b in batches {
            let int = |c: usize| {
                b.column(c)
                    .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            };
            let dec = |c: usize| {
                b.column(c)
                    .as_primitive::<datafusion::arrow::datatypes::Decimal128Type>()
            };
            for r in 0..b.num_rows() {
                let code = int(0).value(r) as u32;
                assert!(previous < Some(code), "code order");
                previous = Some(code);
                out.insert(
                    code,
                    (
                        int(1).value(r),
                        int(2).value(r),
                        int(3).value(r),
                        int(4).value(r),
                        dec(5).value(r),
                        b.column(6).as_primitive::<Float64Type>().value(r),
                        dec(7).value(r),
                    ),
                );
            }
        }
        out
    }

    /// Random rows over several partitions (and interned-range codes), weekly periods.
    fn random_rows(n: usize, seed: u64) -> Vec<(u32, i32, i32, f64)> {
        let mut state = seed;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state >> 33
        };
        (0..n)
            .map(|_| {
                let code = match next() % 10 {
                    0 => crate::customers::INTERNED_BASE + (next() % 50) as u32,
                    _ => (next() % 250_000) as u32,
                };
                let day = 9_800 + (next() % 400) as i32;
                let period = day - day.rem_euclid(7);
                let amount = (next() % 10_000) as f64 / 100.0;
                (code, day, period, amount)
            })
            .collect()
    }

    #[test]
    fn reduces_as_the_obvious_way_does_held_or_spilled() {
        // 9.6 MB of rows over five partitions: a 4 MiB budget spills several times, some
        // partitions whole and some not, so most partitions are part held, part on disk.
        let rows = random_rows(600_000, 7);
        let split = 10_000;
        let expected = naive(&rows, split);
        for (budget, spills) in [(DEFAULT_BUDGET, false), (MIN_BUDGET, true)] {
            let mut store = PartitionedRows::new(split, true, budget).unwrap();
            for chunk in rows.chunks(10_000) {
                store.push(&batch(chunk)).unwrap();
            }
            assert_eq!(store.spilled_bytes() > 0, spills, "budget {budget}");
            assert!(
                !spills || store.runs.len() > 1,
                "{} spill files",
                store.runs.len()
            );
            let mut batches = Vec::new();
            store
                .aggregate_each(3, |b| {
                    batches.push(b);
                    Ok(())
                })
                .unwrap();
            let got = collected(&batches);
            assert_eq!(got.len(), expected.len());
            assert!(got == expected, "budget {budget}");
        }
    }

    #[test]
    fn an_error_while_emitting_stops_every_thread() {
        let rows = random_rows(50_000, 3);
        let mut store = PartitionedRows::new(10_000, true, DEFAULT_BUDGET).unwrap();
        store.push(&batch(&rows)).unwrap();
        let mut calls = 0;
        let error = store
            .aggregate_each(2, |_| {
                calls += 1;
                Err(DataError::Option("disk full".into()))
            })
            .unwrap_err();
        assert_eq!((calls, error.to_string().contains("disk full")), (1, true));
    }

    #[test]
    fn a_budget_too_small_is_refused_with_the_least_that_works() {
        let error = PartitionedRows::new(0, true, 1 << 20)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("at least 4 MiB"), "{error}");
    }
}
