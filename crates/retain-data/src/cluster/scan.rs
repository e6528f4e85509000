//! The log scan of a cluster run: a table the client plans against and the execution node the
//! executors run, both reading transaction files through retain's own reader, so a cluster
//! applies exactly the row rules of one machine. One partition per file, read where the
//! executor runs (the paths must reach the same files there).
//!
//! Besides the used rows, each partition emits notes in the `note` column (JSON, customer
//! null): one with the file's ingest report, and one per rejected row when the client keeps a
//! bad-rows file. The summary plan carries notes through its groupings as keys, so a cluster
//! run reads every file once and still accounts for every row.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    new_null_array, ArrayRef, AsArray, Date32Array, Float64Array, RecordBatch, StringBuilder,
    UInt32Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt32Type};
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::common::collect;
use datafusion::physical_plan::execution_plan::{
    Boundedness, ChildrenPropertiesMode, EmissionType, ReplaceChildrenOptions,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::{StreamExt, TryStreamExt};

use crate::error::{DataError, RowError};
use crate::ingest::{IngestReport, ReadOptions, TransactionReader};

/// What the executors need to read a log: the files (absolute paths, one partition each), how
/// to read them, and whether rejected rows come back as notes (a bad-rows file on the client)
/// or fail the run at the first.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct ScanSpec {
    pub files: Vec<PathBuf>,
    pub read: ReadOptions,
    pub keep_rejected: bool,
}

/// A partition's account of its file, or one of its rejected rows.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ScanNote {
    Read {
        partition: usize,
        /// Unique to this reading, so that a file read twice (which would count its rows twice)
        /// shows as two notes rather than merging into one.
        reading: String,
        with_amount: bool,
        ingest: IngestReport,
    },
    Rejected {
        partition: usize,
        row: RowError,
    },
}

/// `customer, day, period, amount, note`: the reader's transactions with the customer id as
/// text (codes are local to a reader), the amount 0 when the log has none, and the notes.
pub(crate) fn scan_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer", DataType::Utf8, true),
        Field::new("day", DataType::Date32, false),
        Field::new("period", DataType::Date32, false),
        Field::new("amount", DataType::Float64, false),
        Field::new("note", DataType::Utf8, true),
    ]))
}

/// The transaction files of a cluster run, as a table.
#[derive(Debug)]
pub(crate) struct LogTable {
    pub spec: Arc<ScanSpec>,
}

#[async_trait]
impl TableProvider for LogTable {
    fn schema(&self) -> SchemaRef {
        scan_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(LogScanExec::new(
            self.spec.clone(),
            projection.cloned(),
        )?))
    }
}

/// Reads the files its input names and emits [`scan_schema`] batches (projected), then each
/// file's notes. The input is an in-memory table of file indices, one partition per file: Ballista
/// hands each task only its own partitions of such a table, so each file is read by exactly one
/// task (a leaf it does not know would be read whole by every task of the stage).
#[derive(Debug)]
pub(crate) struct LogScanExec {
    pub spec: Arc<ScanSpec>,
    pub projection: Option<Vec<usize>>,
    files: Arc<dyn ExecutionPlan>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

/// The column of file indices in a scan's input.
fn file_index_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "file",
        DataType::UInt32,
        false,
    )]))
}

impl LogScanExec {
    /// A scan of every file of `spec`, one partition each.
    pub fn new(spec: Arc<ScanSpec>, projection: Option<Vec<usize>>) -> DfResult<Self> {
        let partitions = (0..spec.files.len() as u32)
            .map(|i| {
                RecordBatch::try_new(
                    file_index_schema(),
                    vec![Arc::new(UInt32Array::from(vec![i]))],
                )
                .map(|b| vec![b])
            })
            .collect::<Result<Vec<_>, _>>()?;
        let files = MemorySourceConfig::try_new_exec(&partitions, file_index_schema(), None)?;
        Self::with_input(spec, projection, files)
    }

    /// A scan of the files `files` yields (as a cluster task receives it).
    pub fn with_input(
        spec: Arc<ScanSpec>,
        projection: Option<Vec<usize>>,
        files: Arc<dyn ExecutionPlan>,
    ) -> DfResult<Self> {
        let schema = match &projection {
            Some(p) => Arc::new(scan_schema().project(p)?),
            None => scan_schema(),
        };
        let partitions = files.properties().partitioning.partition_count();
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(LogScanExec {
            spec,
            projection,
            files,
            schema,
            properties: Arc::new(properties),
        })
    }
}

impl DisplayAs for LogScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "RetainLogScan: {} file(s)", self.spec.files.len())
    }
}

impl ExecutionPlan for LogScanExec {
    fn name(&self) -> &'static str {
        "RetainLogScan"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.files]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        _: ReplaceChildrenOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let [files] = <[_; 1]>::try_from(children)
            .map_err(|_| DataFusionError::Internal("RetainLogScan takes one input".into()))?;
        Ok(Arc::new(LogScanExec::with_input(
            self.spec.clone(),
            self.projection.clone(),
            files,
        )?))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let indices = self.files.execute(partition, context)?;
        let spec = self.spec.clone();
        let projection = self.projection.clone();
        let stream = futures::stream::once(async move {
            let mut files = Vec::new();
            for batch in collect(indices).await? {
                let column = batch.column(0).as_primitive::<UInt32Type>();
                files.extend(column.values().iter().map(|&i| i as usize));
            }
            Ok::<_, DataFusionError>(read_files(spec, files, projection))
        })
        .try_flatten()
        .boxed();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            stream,
        )))
    }
}

/// The batches of the files at `indices` (of `spec.files`), read on a thread of their own (the
/// reader blocks on files and parsing) through a bounded channel.
fn read_files(
    spec: Arc<ScanSpec>,
    indices: Vec<usize>,
    projection: Option<Vec<usize>>,
) -> impl futures::Stream<Item = DfResult<RecordBatch>> + Send {
    let (tx, rx) = tokio::sync::mpsc::channel::<DfResult<RecordBatch>>(2);
    std::thread::spawn(move || {
        for index in indices {
            let Some(file) = spec.files.get(index).cloned() else {
                let _ = tx.blocking_send(Err(DataFusionError::Internal(format!(
                    "RetainLogScan has no file {index}"
                ))));
                return;
            };
            let sent = read_partition(&spec, index, file, |batch| {
                let batch = match &projection {
                    Some(p) => batch.project(p).map_err(DataFusionError::from),
                    None => Ok(batch),
                };
                tx.blocking_send(batch).is_ok()
            });
            if let Err(e) = sent {
                let _ = tx.blocking_send(Err(executor_error(&e)));
                return;
            }
        }
    });
    futures::stream::unfold(rx, |mut rx| async move {
        let item = rx.recv().await?;
        Some((item, rx))
    })
}

/// Reads one file into `send` (which returns false once nobody listens): its rows, then its
/// notes.
fn read_partition(
    spec: &ScanSpec,
    partition: usize,
    file: PathBuf,
    mut send: impl FnMut(RecordBatch) -> bool,
) -> Result<(), DataError> {
    let files = [file];
    let mut reader = if spec.keep_rejected {
        TransactionReader::open_collecting(&files, spec.read.clone())?
    } else {
        TransactionReader::open(&files, spec.read.clone())?
    };
    let with_amount = reader.schema().index_of("amount").is_ok();
    let mut notes = Vec::new();
    while let Some(batch) = reader.next() {
        let batch = batch?;
        notes.extend(
            reader
                .take_rejected()
                .into_iter()
                .map(|row| ScanNote::Rejected { partition, row }),
        );
        if !send(named_batch(&batch, &reader)?) {
            return Ok(());
        }
    }
    notes.extend(
        reader
            .take_rejected()
            .into_iter()
            .map(|row| ScanNote::Rejected { partition, row }),
    );
    let (ingest, _) = reader.into_parts();
    notes.push(ScanNote::Read {
        partition,
        reading: reading_id(),
        with_amount,
        ingest,
    });
    send(note_batch(&notes)?);
    Ok(())
}

/// Process, time and a counter: unique across the executors of a run.
fn reading_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A reader's batch in [`scan_schema`]: codes turned back into ids.
fn named_batch(batch: &RecordBatch, reader: &TransactionReader) -> Result<RecordBatch, DataError> {
    let codes = batch.column(0).as_primitive::<UInt32Type>();
    let customers = reader.customers();
    let mut ids = StringBuilder::with_capacity(codes.len(), codes.len() * 8);
    for &code in codes.values() {
        ids.append_value(customers.id(code));
    }
    let amount: ArrayRef = match batch.column_by_name("amount") {
        Some(a) => a.clone(),
        None => Arc::new(Float64Array::from(vec![0.0; batch.num_rows()])),
    };
    let notes = new_null_array(&DataType::Utf8, batch.num_rows());
    Ok(RecordBatch::try_new(
        scan_schema(),
        vec![
            Arc::new(ids.finish()),
            batch.column(1).clone(),
            batch.column(2).clone(),
            amount,
            notes,
        ],
    )?)
}

/// One row per note: no customer, day 0, no amount.
fn note_batch(notes: &[ScanNote]) -> Result<RecordBatch, DataError> {
    let n = notes.len();
    let mut text = StringBuilder::new();
    for note in notes {
        let json = serde_json::to_string(note)
            .map_err(|e| DataError::Engine(format!("encoding a scan note: {e}")))?;
        text.append_value(json);
    }
    let zero_days: ArrayRef = Arc::new(Date32Array::from(vec![0; n]));
    Ok(RecordBatch::try_new(
        scan_schema(),
        vec![
            new_null_array(&DataType::Utf8, n),
            zero_days.clone(),
            zero_days,
            Arc::new(Float64Array::from(vec![0.0; n])),
            Arc::new(text.finish()),
        ],
    )?)
}

// An executor's own errors travel to the client inside Ballista's job-failure text; these marks
// let the client show the message alone, as one machine would have.
const ERROR_START: &str = "[retain: ";
const ERROR_END: &str = " :retain]";

fn executor_error(e: &DataError) -> DataFusionError {
    DataFusionError::Execution(format!("{ERROR_START}{e}{ERROR_END}"))
}

/// A failed cluster run as the user should read it: the executor's message when there is one.
pub(crate) fn cluster_error(e: DataFusionError) -> DataError {
    let text = e.to_string();
    if let Some(start) = text.find(ERROR_START) {
        let rest = &text[start + ERROR_START.len()..];
        if let Some(end) = rest.find(ERROR_END) {
            return DataError::Cluster(rest[..end].replace("\\n", "\n"));
        }
    }
    DataError::Cluster(text)
}
