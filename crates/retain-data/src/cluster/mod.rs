//! Where the summary plan runs: on this machine (DataFusion in process) or on an Apache
//! DataFusion Ballista cluster, whose executors read the transaction files themselves through
//! retain's reader ([`scan`]) and run retain's aggregate, both shipped by [`codec`]. The
//! scheduler and executor processes that know them are in [`process`].
//!
//! A cluster run returns what a local one does, exactly: the same row rules on the executors,
//! amounts summed as decimals (so the order partial sums arrive in cannot change a digit), and
//! the ingest reports and rejected rows of every file brought back with the aggregates.

pub mod codec;
pub mod process;
pub(crate) mod scan;
mod watchdog;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use ballista::prelude::{SessionConfigExt, SessionContextExt};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, UInt32Array};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Field, Int64Type, Schema,
};
use datafusion::execution::SessionStateBuilder;
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::logical_expr::{cast, col, lit};
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};

use crate::customers::CustomerIndex;
use crate::error::{DataError, Result, RowError};
use crate::ingest::{IngestReport, ReadOptions};
use crate::text::BadRowSink;
use codec::{RetainLogicalCodec, RetainPhysicalCodec};
use scan::{cluster_error, LogTable, ScanNote, ScanSpec};

/// Where the heavy data step (the summary plan) runs.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Engine {
    /// DataFusion in this process, on this machine's cores.
    #[default]
    Local,
    /// The Ballista scheduler at this address (`ballista://HOST:PORT`).
    Ballista { host: String, port: u16 },
}

impl FromStr for Engine {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s == "local" {
            return Ok(Engine::Local);
        }
        let expected = || {
            format!(
                "expected \"local\" or ballista://HOST:PORT (a Ballista scheduler), found {s:?}"
            )
        };
        let address = s.strip_prefix("ballista://").ok_or_else(expected)?;
        let (host, port) = host_port(address).ok_or_else(expected)?;
        Ok(Engine::Ballista { host, port })
    }
}

/// `HOST:PORT` (the last colon splits, so a bracketed IPv6 host keeps its own).
pub fn host_port(address: &str) -> Option<(String, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    let port = port.parse::<u16>().ok()?;
    (!host.is_empty() && !host.contains('/')).then(|| (host.to_string(), port))
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Engine::Local => f.write_str("local"),
            Engine::Ballista { host, port } => write!(f, "ballista://{host}:{port}"),
        }
    }
}

impl TryFrom<String> for Engine {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        s.parse()
    }
}

impl From<Engine> for String {
    fn from(e: Engine) -> String {
        e.to_string()
    }
}

/// A session whose plans go to a cluster's scheduler (or, in tests, run here).
pub(crate) struct Session {
    pub ctx: SessionContext,
    /// `HOST:PORT`, for messages.
    pub scheduler: String,
}

/// A session whose plans go to the scheduler at `host:port`, with retain's codecs; `configure`
/// adds the caller's engine settings.
pub(crate) async fn client(
    host: &str,
    port: u16,
    configure: impl Fn(SessionConfig) -> SessionConfig,
) -> Result<Session> {
    let mut config = configure(
        SessionConfig::new_with_ballista()
            .with_ballista_logical_extension_codec(Arc::new(RetainLogicalCodec::default()))
            .with_ballista_physical_extension_codec(Arc::new(RetainPhysicalCodec::default()))
            // The static planner: Ballista 55's adaptive one loses track of a job when an
            // executor dies mid-stage (its stages roll back and the job never ends); the static
            // one reruns the lost tasks. The summary plan has no joins for AQE to improve.
            .with_ballista_adaptive_query_planner(false),
    );
    // A round-robin repartition inside a stage runs in every task of that stage, and each
    // such task pulls every input partition: each file would be read once per task. The scan
    // has a partition per file already; hash shuffles spread the work after it.
    config
        .options_mut()
        .optimizer
        .enable_round_robin_repartition = false;
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .build();
    let ctx = SessionContext::remote_with_state(&format!("df://{host}:{port}"), state)
        .await
        .map_err(|e| {
            DataError::Cluster(format!("connecting to the scheduler at {host}:{port}: {e}"))
        })?;
    Ok(Session {
        ctx,
        scheduler: format!("{host}:{port}"),
    })
}

/// What the aggregation of a log returns, wherever it ran: per-customer aggregates with the
/// customer as a code of `customers` (the layout `summary::finish` reads), and the accounts.
pub(crate) struct Aggregated {
    pub batches: Vec<RecordBatch>,
    pub ingest: IngestReport,
    pub customers: CustomerIndex,
    pub with_amount: bool,
    /// Bytes of transactions written to spill files on the way (0 on a cluster, whose
    /// executors spill on their own).
    pub spilled_bytes: u64,
}

/// Runs the summary plan in `session`: see the module doc.
pub(crate) async fn aggregate(
    session: Session,
    files: &[PathBuf],
    read: ReadOptions,
    split_day: i32,
) -> Result<Aggregated> {
    let job = Job::start(session, files, read)?;
    let plan = crate::summary::customer_plan(&job.session.ctx, split_day, job.period, true).await?;
    let Collected {
        batches,
        customers,
        ingest,
        with_amount,
    } = job.collect(plan).await?;
    Ok(Aggregated {
        batches,
        ingest,
        customers,
        with_amount,
        spilled_bytes: 0,
    })
}

/// Each customer's purchase days, merged on the cluster: `(customer code, day, amount)`.
pub(crate) struct PurchaseDays {
    pub rows: Vec<(u32, i32, f64)>,
    pub customers: CustomerIndex,
    pub ingest: IngestReport,
    pub with_amount: bool,
}

/// Reads a log in `session` and merges each customer's transactions per
/// day there; only one row per customer and day comes back.
pub(crate) async fn purchase_days(
    session: Session,
    files: &[PathBuf],
    read: ReadOptions,
) -> Result<PurchaseDays> {
    let job = Job::start(session, files, read)?;
    let plan = job
        .session
        .ctx
        .table("transactions")
        .await?
        .select(vec![
            col("customer"),
            col("note"),
            col("day"),
            cast(col("amount"), crate::summary::amount_decimal()).alias("amount"),
        ])?
        .aggregate(
            vec![col("customer"), col("note"), col("day")],
            vec![
                sum(col("amount")).alias("amount"),
                count(lit(1i64)).alias("rows"),
            ],
        )?;
    let Collected {
        batches,
        customers,
        ingest,
        with_amount,
    } = job.collect(plan).await?;
    let mut rows = Vec::with_capacity(batches.iter().map(|b| b.num_rows()).sum());
    for batch in &batches {
        let codes = batch.column(0).as_primitive::<Int64Type>();
        let days = batch.column(1).as_primitive::<Date32Type>();
        let amounts = batch.column(2).as_primitive::<Decimal128Type>();
        for row in 0..batch.num_rows() {
            rows.push((
                codes.value(row) as u32,
                days.value(row),
                crate::summary::from_micros(amounts.value(row)),
            ));
        }
    }
    Ok(PurchaseDays {
        rows,
        customers,
        ingest,
        with_amount,
    })
}

/// A cluster session with the log registered as `transactions`.
struct Job {
    session: Session,
    files: Vec<PathBuf>,
    period: crate::Period,
    bad_rows: Option<PathBuf>,
}

impl Job {
    fn start(session: Session, files: &[PathBuf], read: ReadOptions) -> Result<Job> {
        if let Some(source) = &read.database {
            return Err(DataError::Option(format!(
                "{} is read on this machine: a cluster's executors read files (CSV or Parquet \
                 at paths they reach), so run with the local engine",
                source.name()
            )));
        }
        if files.is_empty() {
            return Err(DataError::Option("no transaction file given".into()));
        }
        let bad_rows = read.bad_rows.clone();
        let period = read.period;
        // Executors resolve paths in their own working folder: send them absolute.
        let files = crate::folders::expand_folders(files)?;
        let files = files
            .iter()
            .map(|f| std::path::absolute(f).unwrap_or_else(|_| f.clone()))
            .collect::<Vec<_>>();
        let spec = ScanSpec {
            files: files.clone(),
            read: ReadOptions {
                bad_rows: None,
                ..read
            },
            keep_rejected: bad_rows.is_some(),
        };
        session.ctx.register_table(
            "transactions",
            Arc::new(LogTable {
                spec: Arc::new(spec),
            }),
        )?;
        Ok(Job {
            session,
            files,
            period,
            bad_rows,
        })
    }

    /// A failed job as the user should read it: the executor's own message when it sent one,
    /// what to check when the scheduler could not be reached.
    fn failed(&self, e: datafusion::error::DataFusionError) -> DataError {
        let error = cluster_error(e);
        match &error {
            DataError::Cluster(text)
                if text.contains("tcp connect error") && text.contains(&self.session.scheduler) =>
            {
                let why = ["Connection refused", "timed out", "No route to host"]
                    .into_iter()
                    .find(|why| text.contains(why))
                    .unwrap_or("no connection");
                DataError::Cluster(format!(
                    "cannot reach the Ballista scheduler at {} ({why}): is it running there?",
                    self.session.scheduler
                ))
            }
            DataError::Cluster(text) if text.contains("failed: Cancelled") => {
                DataError::Cluster(format!(
                    "the Ballista scheduler at {} cancelled the job: a `retain cluster scheduler` \
                     does so when a job makes no progress for its --stall-timeout with no task \
                     running on a live executor (as after losing executors); its log says why",
                    self.session.scheduler
                ))
            }
            _ => error,
        }
    }

    /// Runs `plan` (whose last column counts the log rows behind each row) and splits its notes
    /// off; then the bad-rows file is written, when one was asked for.
    ///
    /// The rows the result rests on must be the rows the executors used. After losing an
    /// executor, Ballista 55 reruns the lost tasks but can then read a rerun stage's output
    /// twice, which no note shows (notes are grouped like the rows). Such a result is computed
    /// once more, on the executors left, before the job fails.
    async fn collect(&self, plan: DataFrame) -> Result<Collected> {
        let mut attempt = 1;
        loop {
            let batches = plan.clone().collect().await.map_err(|e| self.failed(e))?;
            let (batches, customers, notes) = split_notes(&batches)?;
            let (batches, counted) = take_row_counts(batches)?;
            let (mut ingest, with_amount, rejected) = merge_notes(notes, &self.files)?;
            if counted != ingest.rows_used {
                let why = format!(
                    "the cluster's result rests on {counted} log rows but its executors used {} \
                     (a stage rerun after an executor was lost can be read twice)",
                    ingest.rows_used
                );
                if attempt == 1 {
                    log::warn!("{why}: running the job again");
                    attempt += 1;
                    continue;
                }
                return Err(DataError::Cluster(format!(
                    "{why}, twice in a row: nothing was kept"
                )));
            }
            if let Some(path) = &self.bad_rows {
                let mut sink = BadRowSink::create(path)?;
                for row in &rejected {
                    sink.write(row)?;
                }
                ingest.bad_rows_file = Some(sink.finish()?);
            }
            return Ok(Collected {
                batches,
                customers,
                ingest,
                with_amount,
            });
        }
    }
}

/// A job's customer rows (customer coded), with the accounts of the whole log.
struct Collected {
    batches: Vec<RecordBatch>,
    customers: CustomerIndex,
    ingest: IngestReport,
    with_amount: bool,
}

/// Splits a job's output (`customer, note, values...`) into its notes and its customer rows,
/// the customer coded (`customer Int64, values...`).
fn split_notes(
    batches: &[RecordBatch],
) -> Result<(Vec<RecordBatch>, CustomerIndex, Vec<ScanNote>)> {
    let mut notes = Vec::new();
    let mut customers = CustomerIndex::new();
    let mut out = Vec::with_capacity(batches.len());
    for batch in batches {
        let ids = batch.column(0).as_string::<i32>();
        let note = batch.column(1).as_string::<i32>();
        let mut codes = Vec::with_capacity(batch.num_rows());
        let mut keep = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            if note.is_valid(row) {
                let parsed: ScanNote = serde_json::from_str(note.value(row)).map_err(|e| {
                    DataError::Cluster(format!("an executor's note did not parse: {e}"))
                })?;
                notes.push(parsed);
            } else if ids.is_valid(row) {
                let code = customers.code(ids.value(row)).map_err(DataError::Cluster)?;
                codes.push(i64::from(code));
                keep.push(row as u32);
            }
        }
        let keep = UInt32Array::from(keep);
        let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(codes))];
        let mut fields = vec![Field::new("customer", DataType::Int64, false)];
        for (i, field) in batch.schema().fields().iter().enumerate().skip(2) {
            columns.push(take(batch.column(i), &keep, None)?);
            fields.push(field.as_ref().clone());
        }
        out.push(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?);
    }
    Ok((out, customers, notes))
}

/// Removes the last column, the count of log rows behind each result row, and returns their
/// total.
fn take_row_counts(batches: Vec<RecordBatch>) -> Result<(Vec<RecordBatch>, u64)> {
    let mut counted = 0u64;
    let mut out = Vec::with_capacity(batches.len());
    for batch in batches {
        let last = batch.num_columns() - 1;
        debug_assert_eq!(batch.schema().field(last).name(), "rows");
        let rows = batch.column(last).as_primitive::<Int64Type>();
        counted += rows.iter().map(|n| n.unwrap_or(0) as u64).sum::<u64>();
        out.push(batch.project(&(0..last).collect::<Vec<_>>())?);
    }
    Ok((out, counted))
}

/// The files' reports added up in file order, whether the log has amounts (every file must
/// agree, as on one machine), and the rejected rows in file and line order.
fn merge_notes(
    notes: Vec<ScanNote>,
    files: &[PathBuf],
) -> Result<(IngestReport, bool, Vec<RowError>)> {
    let mut reads: Vec<Option<(bool, IngestReport)>> = vec![None; files.len()];
    let mut rejected: Vec<(usize, RowError)> = Vec::new();
    for note in notes {
        match note {
            ScanNote::Read {
                partition,
                with_amount,
                ingest,
                ..
            } => match reads.get_mut(partition) {
                Some(slot @ None) => *slot = Some((with_amount, ingest)),
                Some(Some(_)) => {
                    return Err(DataError::Cluster(format!(
                        "{} was read twice: its rows would count twice",
                        files[partition].display()
                    )))
                }
                None => {
                    return Err(DataError::Cluster(format!(
                        "an executor reported reading file {partition} of {}",
                        files.len()
                    )))
                }
            },
            ScanNote::Rejected { partition, row } => rejected.push((partition, row)),
        }
    }
    let mut total = IngestReport::default();
    let mut with_amount = None;
    for (file, read) in files.iter().zip(reads) {
        let Some((has_amount, report)) = read else {
            return Err(DataError::Cluster(format!(
                "no executor reported reading {}",
                file.display()
            )));
        };
        match with_amount {
            None => with_amount = Some(has_amount),
            Some(w) if w != has_amount => {
                return Err(DataError::Format {
                    file: file.clone(),
                    message: "this file has no amount column but the first file had one (or the other way round)".into(),
                })
            }
            _ => {}
        }
        total.absorb(&report);
    }
    rejected.sort_by_key(|(partition, row)| (*partition, row.location.line));
    Ok((
        total,
        with_amount.unwrap_or(false),
        rejected.into_iter().map(|(_, row)| row).collect(),
    ))
}

#[cfg(test)]
mod tests;
