//! Per-customer RFM summaries with an optional calibration/holdout split, computed exactly as
//! lifetimes' `summary_data_from_transaction_data` and `calibration_and_holdout_data` do.
//!
//! The heavy step merges each customer's transactions of one period (day by default) into one,
//! then reduces them per customer: on one machine by sorting customer partitions of the streamed
//! transactions ([`crate::partitioned`]), on a cluster as a DataFusion plan of two aggregations
//! ([`customer_plan`]). The last, per-customer arithmetic (frequency, recency, T, means) runs
//! over the aggregated batches.
//!
//! Conventions (those of lifetimes and CLVTools):
//! - `frequency`: repeat periods with a transaction in the calibration window (the first excluded);
//! - `recency`: first to last such period; `T`: first period to the calibration end's period;
//! - `monetary_value`: mean amount of the repeat periods (0 without repeats);
//! - holdout: `frequency_holdout` = periods with a transaction after the calibration end up to
//!   the observation end, `monetary_value_holdout` = their mean amount (per merged period, as in
//!   calibration; lifetimes averages raw rows there instead), `duration_holdout` = the length of
//!   the holdout window;
//! - customers whose first transaction falls after the calibration end are not in the summary
//!   (they are counted in [`SummaryReport::customers_after_calibration`]).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray, StringBuilder,
};
use datafusion::arrow::datatypes::{
    DataType, Decimal128Type, Field, Float64Type, Int64Type, Schema, SchemaRef,
};
use datafusion::common::ScalarValue;
use datafusion::functions_aggregate::expr_fn::{count, max, min, sum};
use datafusion::logical_expr::{cast, col, lit, when, Expr};
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::arg_min::arg_min;
use crate::cluster::{Aggregated, Engine};
use crate::customers::CustomerIndex;
use crate::dates::{Period, TimeUnit};
use crate::error::{DataError, Result};
use crate::ingest::{IngestReport, ReadOptions, TransactionReader};
use crate::partitioned::{PartitionedRows, DEFAULT_BUDGET};

/// How a summary is computed.
#[derive(Debug, Clone, Default)]
pub struct SummaryOptions {
    /// End of the calibration window (inclusive). Without it, the whole log up to the
    /// observation end is one window and there are no holdout columns.
    pub calibration_end: Option<i32>,
    /// End of observation (inclusive); defaults to the last transaction's day.
    pub observation_end: Option<i32>,
    pub unit: TimeUnit,
    /// Cap on the transactions held in memory, in bytes (default 1 GiB); past it they are
    /// written to spill files. On a cluster, each executor sets its own.
    pub memory_limit: Option<usize>,
    /// Threads of the query engine (default: all cores).
    pub threads: Option<usize>,
    /// Where the plan runs: here, or on a Ballista cluster whose executors read the files.
    pub engine: Engine,
}

/// Counts that go with a summary: what was read, and who is in it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SummaryReport {
    pub ingest: IngestReport,
    pub customers: u64,
    /// Customers whose first transaction is after the calibration end (not in the summary).
    pub customers_after_calibration: u64,
    pub calibration_end: i32,
    pub observation_end: i32,
    pub unit: TimeUnit,
    pub period: Period,
    /// Transactions (merged periods) in the calibration window, first ones included.
    pub calibration_transactions: u64,
    pub holdout_transactions: u64,
    /// Bytes of transactions written to spill files (past the memory limit).
    pub spilled_bytes: u64,
}

/// A per-customer summary: one row per customer, sorted by id (numerically when every id is a
/// plain integer), in the columns of [`summary_schema`].
#[derive(Debug, Clone)]
pub struct Summary {
    pub batch: RecordBatch,
    pub report: SummaryReport,
}

/// `customer_id, frequency, recency, T[, monetary_value][, frequency_holdout[, monetary_value_holdout], duration_holdout]`.
pub fn summary_schema(with_amount: bool, with_holdout: bool) -> SchemaRef {
    let mut fields = vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("frequency", DataType::Int64, false),
        Field::new("recency", DataType::Float64, false),
        Field::new("T", DataType::Float64, false),
    ];
    if with_amount {
        fields.push(Field::new("monetary_value", DataType::Float64, false));
    }
    if with_holdout {
        fields.push(Field::new("frequency_holdout", DataType::Int64, false));
        if with_amount {
            fields.push(Field::new(
                "monetary_value_holdout",
                DataType::Float64,
                false,
            ));
        }
        fields.push(Field::new("duration_holdout", DataType::Float64, false));
    }
    Arc::new(Schema::new(fields))
}

impl Summary {
    pub fn has_holdout(&self) -> bool {
        self.batch.schema().index_of("frequency_holdout").is_ok()
    }

    pub fn column_f64(&self, name: &str) -> Option<&Float64Array> {
        self.batch
            .column_by_name(name)
            .and_then(|c| c.as_primitive_opt::<Float64Type>())
    }

    pub fn column_i64(&self, name: &str) -> Option<&Int64Array> {
        self.batch
            .column_by_name(name)
            .and_then(|c| c.as_primitive_opt::<Int64Type>())
    }

    /// A numeric column's values as f64 (counts are Int64, times and amounts Float64).
    pub fn values(&self, name: &str) -> Option<Vec<f64>> {
        match self.column_f64(name) {
            Some(c) => Some(c.values().to_vec()),
            None => self
                .column_i64(name)
                .map(|c| c.values().iter().map(|&v| v as f64).collect()),
        }
    }

    pub fn customer_ids(&self) -> &StringArray {
        self.batch.column(0).as_string::<i32>()
    }
}

/// Reads the transaction files and summarises them; `rows_read` (if given) is advanced as rows
/// are read, for progress display.
pub async fn summarize(
    files: &[PathBuf],
    read: ReadOptions,
    options: &SummaryOptions,
    rows_read: Option<Arc<AtomicU64>>,
) -> Result<Summary> {
    let (report, batches) = summarize_each(files, read, options, rows_read, Vec::new(), |b, v| {
        v.push(b);
        Ok(())
    })
    .await?;
    let schema = batches[0].schema();
    let batch = datafusion::arrow::compute::concat_batches(&schema, &batches)?;
    Ok(Summary { batch, report })
}

/// Summarises as [`summarize`] does, handing the summary to `emit` (with `sink`, returned at the
/// end) batch by batch in customer id order, as it is computed: on one machine, when every id
/// is a plain integer below 2^29 (see [`CustomerIndex`]), no more than a few partitions of it
/// are in memory at once. `emit` gets at least one batch, empty if no customer qualifies.
pub async fn summarize_each<S: Send + 'static>(
    files: &[PathBuf],
    read: ReadOptions,
    options: &SummaryOptions,
    rows_read: Option<Arc<AtomicU64>>,
    sink: S,
    emit: impl FnMut(RecordBatch, &mut S) -> Result<()> + Send + 'static,
) -> Result<(SummaryReport, S)> {
    if let (Some(c), Some(o)) = (options.calibration_end, options.observation_end) {
        if c > o {
            return Err(DataError::Option(format!(
                "the calibration end ({}) is after the observation end ({})",
                crate::dates::format_day(c),
                crate::dates::format_day(o)
            )));
        }
    }
    let mut read = read;
    read.last_day = options.observation_end;
    let mut out = Emitter {
        sink,
        emit,
        emitted: false,
    };
    match &options.engine {
        Engine::Local => {
            let (report, out) =
                summarize_here(files.to_vec(), read, options.clone(), rows_read, out).await?;
            Ok((report, out.sink))
        }
        Engine::Ballista { host, port } => {
            let period = read.period;
            let session = crate::cluster::client(host, *port, |c| tuned(c, options)).await?;
            let aggregated =
                crate::cluster::aggregate(session, files, read, split_day(options)).await?;
            let summary = summary_of(aggregated, files, options, period)?;
            out.push(summary.batch)?;
            Ok((summary.report, out.sink))
        }
    }
}

/// The caller's sink and function, and whether a batch was handed over yet.
struct Emitter<S, F> {
    sink: S,
    emit: F,
    emitted: bool,
}

impl<S, F: FnMut(RecordBatch, &mut S) -> Result<()>> Emitter<S, F> {
    /// Hands over a batch: a non-empty one, or the first (for its schema).
    fn push(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() > 0 || !self.emitted {
            self.emitted = true;
            (self.emit)(batch, &mut self.sink)?;
        }
        Ok(())
    }
}

/// The cutoff for [`customer_plan`]: the calibration end, else the observation end (without a
/// calibration end every transaction up to the observation end is "calibration").
pub(crate) fn split_day(options: &SummaryOptions) -> i32 {
    options
        .calibration_end
        .or(options.observation_end)
        .unwrap_or(i32::MAX)
}

/// The summary from the aggregates, wherever they were computed.
pub(crate) fn summary_of(
    aggregated: Aggregated,
    files: &[PathBuf],
    options: &SummaryOptions,
    period: Period,
) -> Result<Summary> {
    let Aggregated {
        batches,
        ingest,
        customers,
        with_amount,
        spilled_bytes,
    } = aggregated;
    let mut report = report_of(ingest, files, options, period, spilled_bytes)?;
    let batch = finish(
        &batches,
        &customers,
        &mut report,
        with_amount,
        options.calibration_end.is_some(),
    )?;
    Ok(Summary { batch, report })
}

/// The report's frame once the log is read: the windows' ends (the observation end defaults to
/// the last transaction's day), or an error when no row was usable.
fn report_of(
    ingest: IngestReport,
    files: &[PathBuf],
    options: &SummaryOptions,
    period: Period,
    spilled_bytes: u64,
) -> Result<SummaryReport> {
    let Some(last_seen) = ingest.last_day else {
        return Err(DataError::Empty {
            file: files[0].clone(),
            what: format!(
                "no usable transactions ({} rows read: {} rejected, {} without customer id, {} negative amounts, {} after the observation end)",
                ingest.rows_read,
                ingest.rows_rejected,
                ingest.excluded_no_customer,
                ingest.excluded_negative_amount,
                ingest.excluded_after_end
            ),
        });
    };
    let observation_end = options.observation_end.unwrap_or(last_seen);
    let calibration_end = options.calibration_end.unwrap_or(observation_end);
    Ok(SummaryReport {
        ingest,
        calibration_end,
        observation_end,
        unit: options.unit,
        period,
        spilled_bytes,
        ..Default::default()
    })
}

/// The engine settings of the summary plan, here or on a cluster.
fn tuned(config: SessionConfig, options: &SummaryOptions) -> SessionConfig {
    let threads = options.threads.unwrap_or_else(default_threads);
    let mut config = config
        .with_target_partitions(threads.max(1))
        .with_batch_size(16 * 1024);
    // Both aggregations see mostly distinct groups per batch (stage 1: customer-days; stage 2:
    // about two rows per customer), so partial pre-aggregation costs more than it saves: skip
    // it as soon as a partition's first rows reduce by less than 3:1.
    config
        .options_mut()
        .execution
        .skip_partial_aggregation_probe_ratio_threshold = 0.3;
    config
}

/// The summary in this process, on a blocking thread: the log is read (large text files by
/// several threads) and its rows filed by customer partition ([`crate::partitioned`]), never
/// held whole (past the memory budget, rows go to spill files); the partitions are then reduced
/// and emitted in order.
async fn summarize_here<S: Send + 'static, F>(
    files: Vec<PathBuf>,
    read: ReadOptions,
    options: SummaryOptions,
    rows_read: Option<Arc<AtomicU64>>,
    mut out: Emitter<S, F>,
) -> Result<(SummaryReport, Emitter<S, F>)>
where
    F: FnMut(RecordBatch, &mut S) -> Result<()> + Send + 'static,
{
    let period = read.period;
    let work = move || -> Result<(SummaryReport, Emitter<S, F>)> {
        let mut reader = TransactionReader::open(&files, read)?;
        let with_amount = reader.schema().index_of("amount").is_ok();
        let budget = options.memory_limit.unwrap_or(DEFAULT_BUDGET);
        let mut rows = PartitionedRows::new(split_day(&options), with_amount, budget)?;
        let mut counted = 0;
        while let Some(batch) = reader.next() {
            rows.push(&batch?)?;
            if let Some(counter) = &rows_read {
                let now = reader.report().rows_read;
                counter.fetch_add(now - counted, Ordering::Relaxed);
                counted = now;
            }
        }
        let (ingest, customers) = reader.into_parts();
        let mut report = report_of(ingest, &files, &options, period, rows.spilled_bytes())?;
        let with_holdout = options.calibration_end.is_some();
        let threads = options.threads.unwrap_or_else(default_threads);
        if customers.interned() == 0 {
            // Code order is id order: each partition is final as it comes.
            rows.aggregate_each(threads, |batch| {
                out.push(finish(
                    &[batch],
                    &customers,
                    &mut report,
                    with_amount,
                    with_holdout,
                )?)
            })?;
        } else {
            let mut batches = Vec::new();
            rows.aggregate_each(threads, |batch| {
                batches.push(batch);
                Ok(())
            })?;
            out.push(finish(
                &batches,
                &customers,
                &mut report,
                with_amount,
                with_holdout,
            )?)?;
        }
        if !out.emitted {
            out.push(RecordBatch::new_empty(summary_schema(
                with_amount,
                with_holdout,
            )))?;
        }
        Ok((report, out))
    };
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| DataError::Engine(format!("the summary thread failed: {e}")))?
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

// Stage 1 groups by customer id, the scan's note and one packed integer: holdout bit, period.
// Its order within a customer is (holdout, period), which stage 2 uses to find the first
// purchase (the order of `partitioned`'s sort key, so both engines agree on it).
const HOLDOUT_UNIT: i64 = 1 << 32;
const DAY_OFFSET: i64 = 1 << 31;

/// Amounts are summed as decimals of this many places (see `MICROS`): exact, so no order of
/// addition (which differs between runs and between one machine and a cluster) can change a digit.
const AMOUNT_SCALE: i8 = 6;

pub(crate) fn amount_decimal() -> DataType {
    DataType::Decimal128(38, AMOUNT_SCALE)
}

/// Millionths in a unit of amount.
const MICROS: f64 = 1e6;

/// An amount in millionths, rounded as Arrow casts a float to `amount_decimal`.
pub(crate) fn to_micros(amount: f64) -> i128 {
    let scaled = (MICROS * amount).round();
    // Through i64 the conversion is one instruction, to i128 a library call; the value is the
    // same whenever i64 holds it.
    if scaled.abs() < 9.0e18 {
        scaled as i64 as i128
    } else {
        scaled as i128
    }
}

/// Millionths back to an amount (exact for the decimal numbers of a log: the nearest double).
pub(crate) fn from_micros(micros: i128) -> f64 {
    let whole = match i64::try_from(micros) {
        Ok(m) => m as f64,
        Err(_) => micros as f64,
    };
    whole / MICROS
}

/// The summary as a plan of two aggregations, for a cluster (on one machine,
/// [`crate::partitioned`] computes the same). Output per customer: `customer, note, first,
/// last, n_cal, n_hold` and, with amounts, `sum_cal, first_amount, sum_hold` (calibration = on or
/// before `split_day`), then `rows`. Sums are `amount_decimal`, `first_amount` Float64.
pub(crate) async fn customer_plan(
    ctx: &SessionContext,
    split_day: i32,
    period: Period,
    with_amount: bool,
) -> Result<datafusion::dataframe::DataFrame> {
    let mut key = cast(col("period"), DataType::Int64) + lit(DAY_OFFSET);
    if period != Period::Day {
        // A period that straddles the calibration end is split in two, as lifetimes does.
        let split = lit(ScalarValue::Date32(Some(split_day)));
        key = key + when(col("day").gt(split), lit(HOLDOUT_UNIT)).otherwise(lit(0i64))?;
    }
    let names = vec![col("customer"), col("note")];
    let mut columns = names.clone();
    columns.push(key.alias("key"));
    if with_amount {
        columns.push(cast(col("amount"), amount_decimal()).alias("amount"));
    }
    let mut merge = if with_amount {
        vec![sum(col("amount")).alias("amount")]
    } else {
        vec![]
    };
    // The rows behind each customer are counted through both aggregations, so that a stage
    // Ballista reran and read twice is caught (`cluster::take_row_counts`).
    merge.push(count(lit(1i64)).alias("rows"));
    let mut stage1_groups = names.clone();
    stage1_groups.push(col("key"));
    let mut df = ctx
        .table("transactions")
        .await?
        .select(columns)?
        .aggregate(stage1_groups, merge)?;

    let period_day = col("key") % lit(HOLDOUT_UNIT) - lit(DAY_OFFSET);
    let holdout = if period == Period::Day {
        period_day.clone().gt(lit(i64::from(split_day)))
    } else {
        (col("key") / lit(HOLDOUT_UNIT) % lit(2i64)).eq(lit(1i64))
    };
    let mut columns = names.clone();
    columns.extend([
        col("key"),
        period_day.alias("period"),
        holdout.alias("holdout"),
    ]);
    if with_amount {
        columns.push(col("amount"));
    }
    columns.push(col("rows"));
    df = df.select(columns)?;
    let in_cal = |e: Expr| when(!col("holdout"), e).end();
    let in_hold = |e: Expr| when(col("holdout"), e).end();
    let mut aggs = vec![
        min(in_cal(col("period"))?).alias("first"),
        max(in_cal(col("period"))?).alias("last"),
        count(in_cal(lit(1i64))?).alias("n_cal"),
        count(in_hold(lit(1i64))?).alias("n_hold"),
    ];
    if with_amount {
        aggs.push(sum(in_cal(col("amount"))?).alias("sum_cal"));
        aggs.push(
            arg_min(cast(col("amount"), DataType::Float64), col("key")).alias("first_amount"),
        );
        aggs.push(sum(in_hold(col("amount"))?).alias("sum_hold"));
    }
    aggs.push(sum(col("rows")).alias("rows"));
    Ok(df.aggregate(names, aggs)?)
}

/// The columns of an aggregated batch (the layout of `customer_plan`'s output, `note` and
/// `rows` dropped), typed.
struct Aggregates<'a> {
    first: &'a Int64Array,
    last: &'a Int64Array,
    n_cal: &'a [i64],
    n_hold: &'a [i64],
    amounts: Option<Amounts<'a>>,
}

/// Sums are decimals (see `AMOUNT_SCALE`), null where there is nothing to sum; the first
/// amount comes back from f64 exactly, as any amount under 2^53 millionths does.
struct Amounts<'a> {
    cal: &'a datafusion::arrow::array::Decimal128Array,
    first: &'a [f64],
    hold: &'a datafusion::arrow::array::Decimal128Array,
}

impl<'a> Aggregates<'a> {
    fn of(batch: &'a RecordBatch, with_amount: bool) -> Self {
        let int = |c: usize| batch.column(c).as_primitive::<Int64Type>();
        let decimal = |c: usize| batch.column(c).as_primitive::<Decimal128Type>();
        Aggregates {
            first: int(1),
            last: int(2),
            n_cal: int(3).values(),
            n_hold: int(4).values(),
            amounts: with_amount.then(|| Amounts {
                cal: decimal(5),
                first: batch.column(6).as_primitive::<Float64Type>().values(),
                hold: decimal(7),
            }),
        }
    }
}

impl Amounts<'_> {
    fn sum_cal(&self, row: usize) -> i128 {
        if self.cal.is_null(row) {
            0
        } else {
            self.cal.value(row)
        }
    }

    fn sum_hold(&self, row: usize) -> i128 {
        if self.hold.is_null(row) {
            0
        } else {
            self.hold.value(row)
        }
    }
}

/// Per-customer arithmetic over the aggregated batches, emitted in customer id order.
fn finish(
    batches: &[RecordBatch],
    customers: &CustomerIndex,
    report: &mut SummaryReport,
    with_amount: bool,
    with_holdout: bool,
) -> Result<RecordBatch> {
    let unit_days = report.unit.days();
    let cal_period = i64::from(report.period.start(report.calibration_end));
    let duration_holdout =
        (i64::from(report.period.start(report.observation_end)) - cal_period) as f64 / unit_days;

    // Result rows in customer id order: (code, batch << 32 | row), sorted by code's id.
    let mut rows: Vec<(u32, u64)> = Vec::new();
    for (b, batch) in batches.iter().enumerate() {
        for (row, code) in batch
            .column(0)
            .as_primitive::<Int64Type>()
            .values()
            .iter()
            .enumerate()
        {
            rows.push((*code as u32, ((b as u64) << 32) | row as u64));
        }
    }
    customers.sort_by_id(&mut rows, |r| r.0);
    let n = rows.len();
    let mut ids = StringBuilder::with_capacity(n, n * 8);
    let mut id = String::new();
    let (mut frequency, mut recency, mut t) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut frequency_holdout, mut monetary, mut monetary_holdout) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    // Each batch's columns, typed once.
    let typed: Vec<Aggregates> = batches
        .iter()
        .map(|b| Aggregates::of(b, with_amount))
        .collect();
    for (code, s) in rows {
        let (batch, row) = (&typed[(s >> 32) as usize], (s & 0xFFFF_FFFF) as usize);
        let (n_cal, n_hold) = (batch.n_cal[row], batch.n_hold[row]);
        if n_cal == 0 {
            report.customers_after_calibration += 1;
            continue;
        }
        let (first, last) = (batch.first.value(row), batch.last.value(row));
        id.clear();
        customers.push_id(code, &mut id);
        ids.append_value(&id);
        frequency.push(n_cal - 1);
        recency.push((last - first) as f64 / unit_days);
        t.push((cal_period - first) as f64 / unit_days);
        frequency_holdout.push(n_hold);
        report.calibration_transactions += n_cal as u64;
        report.holdout_transactions += n_hold as u64;
        if let Some(amounts) = &batch.amounts {
            let repeats = n_cal - 1;
            let first = to_micros(amounts.first[row]);
            let repeat_spend = from_micros(amounts.sum_cal(row) - first);
            monetary.push(if repeats > 0 {
                repeat_spend / repeats as f64
            } else {
                0.0
            });
            monetary_holdout.push(if n_hold > 0 {
                from_micros(amounts.sum_hold(row)) / n_hold as f64
            } else {
                0.0
            });
        }
    }
    report.customers += frequency.len() as u64;
    let rows = frequency.len();
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(ids.finish()),
        Arc::new(Int64Array::from(frequency)),
        Arc::new(Float64Array::from(recency)),
        Arc::new(Float64Array::from(t)),
    ];
    if with_amount {
        columns.push(Arc::new(Float64Array::from(monetary)));
    }
    if with_holdout {
        columns.push(Arc::new(Int64Array::from(frequency_holdout)));
        if with_amount {
            columns.push(Arc::new(Float64Array::from(monetary_holdout)));
        }
        columns.push(Arc::new(Float64Array::from(vec![duration_holdout; rows])));
    }
    Ok(RecordBatch::try_new(
        summary_schema(with_amount, with_holdout),
        columns,
    )?)
}

impl From<datafusion::arrow::error::ArrowError> for DataError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        DataError::Engine(e.to_string())
    }
}
