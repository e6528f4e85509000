//! Per-customer RFM summaries with an optional calibration/holdout split, computed exactly as
//! lifetimes' `summary_data_from_transaction_data` and `calibration_and_holdout_data` do.
//!
//! The heavy step is a DataFusion plan over the streamed transactions: a hash aggregation that
//! merges each customer's transactions of one period (day by default) into one, then a second
//! one per customer. The last, per-customer arithmetic (frequency, recency, T, means) runs over
//! the aggregated batches.
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
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray, StringBuilder,
};
use datafusion::arrow::datatypes::{
    DataType, Decimal128Type, Field, Float64Type, Int64Type, Schema, SchemaRef,
};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::{RecordBatchStream, TaskContext};
use datafusion::functions_aggregate::expr_fn::{count, max, min, sum};
use datafusion::logical_expr::{cast, col, lit, when, Expr};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;

use crate::arg_min::arg_min;
use crate::cluster::{Aggregated, Engine};
use crate::customers::CustomerIndex;
use crate::dates::{Period, TimeUnit};
use crate::error::{DataError, Result};
use crate::ingest::{IngestReport, ReadOptions, TransactionReader};

/// How a summary is computed.
#[derive(Debug, Clone, Default)]
pub struct SummaryOptions {
    /// End of the calibration window (inclusive). Without it, the whole log up to the
    /// observation end is one window and there are no holdout columns.
    pub calibration_end: Option<i32>,
    /// End of observation (inclusive); defaults to the last transaction's day.
    pub observation_end: Option<i32>,
    pub unit: TimeUnit,
    /// Cap on the query engine's memory in bytes; past it, aggregations spill to disk.
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
    if let (Some(c), Some(o)) = (options.calibration_end, options.observation_end) {
        if c > o {
            return Err(DataError::Option(format!(
                "the calibration end ({}) is after the observation end ({})",
                crate::dates::format_day(c),
                crate::dates::format_day(o)
            )));
        }
    }
    let period = read.period;
    let mut read = read;
    read.last_day = options.observation_end;
    let split_day = split_day(options);
    let aggregated = match &options.engine {
        Engine::Local => aggregate_here(files, read, options, split_day, rows_read).await?,
        Engine::Ballista { host, port } => {
            let session = crate::cluster::client(host, *port, |c| tuned(c, options)).await?;
            crate::cluster::aggregate(session, files, read, split_day).await?
        }
    };
    summary_of(aggregated, files, options, period)
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
    } = aggregated;
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
    let mut report = SummaryReport {
        ingest,
        calibration_end,
        observation_end,
        unit: options.unit,
        period,
        ..Default::default()
    };
    let batch = finish(
        &batches,
        &customers,
        &mut report,
        with_amount,
        options.calibration_end.is_some(),
    )?;
    Ok(Summary { batch, report })
}

/// The engine settings of the summary plan, here or on a cluster.
fn tuned(config: SessionConfig, options: &SummaryOptions) -> SessionConfig {
    let threads = options
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
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

/// The summary plan in this process, fed by a reading thread.
async fn aggregate_here(
    files: &[PathBuf],
    read: ReadOptions,
    options: &SummaryOptions,
    split_day: i32,
    rows_read: Option<Arc<AtomicU64>>,
) -> Result<Aggregated> {
    let read_period = read.period;
    let reader = TransactionReader::open(files, read)?;
    let schema = reader.schema();
    let with_amount = schema.index_of("amount").is_ok();

    // The reader runs on its own thread and feeds the plan through a bounded channel, so the
    // log is never held in memory and parsing overlaps aggregation.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordBatch, DataFusionError>>(4);
    let failure: Arc<Mutex<Option<DataError>>> = Arc::default();
    let finished: Arc<Mutex<Option<(IngestReport, CustomerIndex)>>> = Arc::default();
    let producer = {
        let failure = failure.clone();
        let finished = finished.clone();
        std::thread::spawn(move || {
            let mut reader = reader;
            let mut last_rows = 0;
            while let Some(item) = reader.next() {
                if let Some(counter) = &rows_read {
                    let now = reader.report().rows_read;
                    counter.fetch_add(now - last_rows, Ordering::Relaxed);
                    last_rows = now;
                }
                match item {
                    Ok(batch) => {
                        if tx.blocking_send(Ok(batch)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        *failure.lock().unwrap() = Some(e);
                        let _ = tx.blocking_send(Err(DataFusionError::Execution(
                            "ingestion failed".into(),
                        )));
                        return;
                    }
                }
            }
            *finished.lock().unwrap() = Some(reader.into_parts());
        })
    };

    let ctx = session(options)?;
    let source = ChannelPartition {
        schema: schema.clone(),
        receiver: Mutex::new(Some(rx)),
    };
    ctx.register_table(
        "transactions",
        Arc::new(StreamingTable::try_new(schema, vec![Arc::new(source)])?),
    )?;

    let plan = customer_plan(&ctx, split_day, read_period, with_amount, Grouping::Packed).await?;
    // RETAIN_EXPLAIN=1 runs the plan under EXPLAIN ANALYZE and prints each operator's metrics
    // to stderr; the summary itself then comes from a second reading, so use it for profiling.
    if std::env::var_os("RETAIN_EXPLAIN").is_some() {
        let explained = plan.clone().explain(false, true)?.collect().await?;
        eprintln!(
            "{}",
            datafusion::arrow::util::pretty::pretty_format_batches(&explained)?
        );
        return Err(DataError::Option(
            "RETAIN_EXPLAIN: plan printed, no summary computed".into(),
        ));
    }
    let result = plan.collect().await;
    let join = producer.join();
    if let Some(e) = failure.lock().unwrap().take() {
        return Err(e);
    }
    let batches = result?;
    if join.is_err() {
        return Err(DataError::Engine("the reading thread panicked".into()));
    }
    let (ingest, customers) = finished.lock().unwrap().take().unwrap_or_default();
    Ok(Aggregated {
        batches,
        ingest,
        customers,
        with_amount,
    })
}

fn session(options: &SummaryOptions) -> Result<SessionContext> {
    let config = tuned(SessionConfig::new(), options);
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(limit) = options.memory_limit {
        // A fair pool splits the budget between the operators that can spill (both
        // aggregations), so one draining its state does not starve the other.
        runtime = runtime.with_memory_pool(Arc::new(FairSpillPool::new(limit)));
    }
    Ok(SessionContext::new_with_config_rt(
        config,
        runtime.build_arc()?,
    ))
}

// Stage 1 groups by one packed integer: customer code, holdout bit, period. One primitive key
// hashes and compares far faster than a (customer, date) pair, and its order within a customer
// is (holdout, period), which stage 2 uses to find the first purchase. On a cluster, where
// codes are local to each reader, the customer id (and the scan's note) group beside the key.
const CUSTOMER_UNIT: i64 = 1 << 33;
const HOLDOUT_UNIT: i64 = 1 << 32;
const DAY_OFFSET: i64 = 1 << 31;

/// Amounts are summed as decimals of this many places: exact, so no order of addition (which
/// differs between runs and between one machine and a cluster) can change a digit.
const AMOUNT_SCALE: i8 = 6;

pub(crate) fn amount_decimal() -> DataType {
    DataType::Decimal128(38, AMOUNT_SCALE)
}

/// An amount in millionths, rounded as Arrow casts a float to `amount_decimal`.
pub(crate) fn to_micros(amount: f64) -> i128 {
    (10f64.powi(i32::from(AMOUNT_SCALE)) * amount).round() as i128
}

/// Millionths back to an amount (exact for the decimal numbers of a log: the nearest double).
pub(crate) fn from_micros(micros: i128) -> f64 {
    micros as f64 / 10f64.powi(i32::from(AMOUNT_SCALE))
}

/// How stage 1 groups customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grouping {
    /// The reader's customer codes, packed into the key.
    Packed,
    /// Customer ids (text) and the scan's notes, beside the key (see `cluster::scan`).
    ByName,
}

/// The two aggregations. Output per customer: `customer, first, last, n_cal, n_hold` and, with
/// amounts, `sum_cal, first_amount, sum_hold` (calibration = on or before `split_day`);
/// `ByName` puts `note` after `customer`. Sums are `amount_decimal`, `first_amount` Float64.
pub(crate) async fn customer_plan(
    ctx: &SessionContext,
    split_day: i32,
    period: Period,
    with_amount: bool,
    grouping: Grouping,
) -> Result<datafusion::dataframe::DataFrame> {
    let mut key = cast(col("period"), DataType::Int64) + lit(DAY_OFFSET);
    if grouping == Grouping::Packed {
        key = cast(col("customer"), DataType::Int64) * lit(CUSTOMER_UNIT) + key;
    }
    if period != Period::Day {
        // A period that straddles the calibration end is split in two, as lifetimes does.
        let split = lit(ScalarValue::Date32(Some(split_day)));
        key = key + when(col("day").gt(split), lit(HOLDOUT_UNIT)).otherwise(lit(0i64))?;
    }
    let names = match grouping {
        Grouping::Packed => vec![],
        Grouping::ByName => vec![col("customer"), col("note")],
    };
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
    // On a cluster, the rows behind each customer are counted through both aggregations, so
    // that a stage Ballista reran and read twice is caught (`cluster::take_row_counts`).
    let count_rows = grouping == Grouping::ByName;
    if count_rows {
        merge.push(count(lit(1i64)).alias("rows"));
    }
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
    let mut columns = match grouping {
        Grouping::Packed => vec![(col("key") / lit(CUSTOMER_UNIT)).alias("customer")],
        Grouping::ByName => names.clone(),
    };
    columns.extend([
        col("key"),
        period_day.alias("period"),
        holdout.alias("holdout"),
    ]);
    if with_amount {
        columns.push(col("amount"));
    }
    if count_rows {
        columns.push(col("rows"));
    }
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
    if count_rows {
        aggs.push(sum(col("rows")).alias("rows"));
    }
    let stage2_groups = match grouping {
        Grouping::Packed => vec![col("customer")],
        Grouping::ByName => names,
    };
    Ok(df.aggregate(stage2_groups, aggs)?)
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
    let int =
        |b: &RecordBatch, c: usize, row: usize| b.column(c).as_primitive::<Int64Type>().value(row);
    let float = |b: &RecordBatch, c: usize, row: usize| {
        b.column(c).as_primitive::<Float64Type>().value(row)
    };
    // Sums are decimals (see `AMOUNT_SCALE`); the first amount comes back from f64 exactly, as
    // any amount under 2^53 millionths does.
    let decimal = |b: &RecordBatch, c: usize, row: usize| {
        let column = b.column(c).as_primitive::<Decimal128Type>();
        if column.is_null(row) {
            0
        } else {
            column.value(row)
        }
    };
    for (code, s) in rows {
        let (batch, row) = (&batches[(s >> 32) as usize], (s & 0xFFFF_FFFF) as usize);
        let (n_cal, n_hold) = (int(batch, 3, row), int(batch, 4, row));
        if n_cal == 0 {
            report.customers_after_calibration += 1;
            continue;
        }
        let (first, last) = (int(batch, 1, row), int(batch, 2, row));
        ids.append_value(customers.id(code));
        frequency.push(n_cal - 1);
        recency.push((last - first) as f64 / unit_days);
        t.push((cal_period - first) as f64 / unit_days);
        frequency_holdout.push(n_hold);
        report.calibration_transactions += n_cal as u64;
        report.holdout_transactions += n_hold as u64;
        if with_amount {
            let repeats = n_cal - 1;
            let first = to_micros(float(batch, 6, row));
            let repeat_spend = from_micros(decimal(batch, 5, row) - first);
            monetary.push(if repeats > 0 {
                repeat_spend / repeats as f64
            } else {
                0.0
            });
            monetary_holdout.push(if n_hold > 0 {
                from_micros(decimal(batch, 7, row)) / n_hold as f64
            } else {
                0.0
            });
        }
    }
    report.customers = frequency.len() as u64;
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

/// A DataFusion partition fed by the reading thread.
struct ChannelPartition {
    schema: SchemaRef,
    receiver: Mutex<Option<tokio::sync::mpsc::Receiver<Result<RecordBatch, DataFusionError>>>>,
}

impl std::fmt::Debug for ChannelPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChannelPartition")
    }
}

impl PartitionStream for ChannelPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> Pin<Box<dyn RecordBatchStream + Send>> {
        let receiver = self.receiver.lock().unwrap().take();
        let stream = futures::stream::unfold(receiver, |receiver| async move {
            let mut receiver = receiver?;
            let item = receiver.recv().await?;
            Some((item, Some(receiver)))
        })
        .boxed();
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

impl From<datafusion::arrow::error::ArrowError> for DataError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        DataError::Engine(e.to_string())
    }
}
