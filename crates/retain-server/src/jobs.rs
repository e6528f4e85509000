//! Batch jobs started over HTTP: customers scored by a model alias or version, with every
//! prediction stored as a run (`retain_scoring::batch`, the code of `retain score`). The
//! customers come in the request or from a file in the server's data folder (`data_dir`).
//!
//! Jobs run one at a time in the background; a few more may wait, and past that a new job is
//! refused (429), so no caller can pile up work or memory. A job can be cancelled; stopping the
//! server cancels every job. A cancelled job writes nothing: its run is written in one
//! transaction at the end, and a transaction cut off is rolled back. Job states live in memory
//! (the newest finished ones are kept); runs live in the store, so a job lost with a restart is
//! run again with the same request and finds its run.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use retain_scoring::batch::{score_batch, BatchInput, BatchOptions, ModelRef};
use retain_store::{Run, RunOutcome, Store};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::task::AbortHandle;
use utoipa::ToSchema;

use crate::api::{MAX_CUSTOMERS, MAX_REASONS};

/// `POST /v1/batch-jobs`: the customers in the request, or a file in the server's data folder.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchJobRequest {
    /// NAME (its production alias), NAME@ALIAS or NAME:VERSION.
    #[schema(example = "churn@production", min_length = 1)]
    pub model: String,
    /// A customer table (CSV, plain or .gz, or Parquet) in the server's data folder
    /// (`retain serve --data-dir`), by its path relative to that folder.
    #[schema(min_length = 1)]
    pub customers_file: Option<String>,
    /// The customers themselves, as the predict endpoint takes them, each with its
    /// `customer_id`.
    #[schema(value_type = Option<Vec<Object>>, min_items = 1, max_items = 100000)]
    pub customers: Option<Vec<serde_json::Map<String, serde_json::Value>>>,
    /// Customer id column of the file (default: the training table's, else `customer_id`).
    pub id_col: Option<String>,
    /// Reasons stored per customer (default 3).
    #[serde(default, deserialize_with = "crate::error::optional_whole_number")]
    #[schema(minimum = 0, maximum = 1000)]
    pub reasons: Option<usize>,
    /// For customers given with their transactions: the day scored (default: today, UTC);
    /// purchases after it are not read.
    #[schema(value_type = Option<String>, format = Date, example = "2011-12-09")]
    pub at: Option<String>,
    /// Purchase models: the horizon of expected purchases and of the probability of none, in
    /// the model's time unit (default: a year; BG/BB: one opportunity).
    #[schema(minimum = 0, maximum = 100000)]
    pub horizon: Option<f64>,
    /// Purchase models with a spend model: months of CLV (default 12).
    #[schema(minimum = 1, maximum = 120)]
    pub clv_months: Option<u32>,
    /// Purchase models with a spend model: CLV's monthly discount rate (default 0.01).
    #[schema(minimum = 0, maximum = 1)]
    pub discount: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for the job before it to finish.
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobState {
    fn finished(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

/// A batch job and, when done, its run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchJob {
    pub job_id: String,
    pub model: String,
    /// The file scored, as the request named it; absent for customers sent in the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customers_file: Option<String>,
    pub state: JobState,
    pub submitted_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The version that scored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<Run>,
    /// The same version had scored the same customers before: its run, nothing written.
    pub already_stored: bool,
    /// Why the job failed: where and what was expected, never a value read from the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Jobs waiting or running at most; one more is refused until one finishes.
pub const MAX_PENDING_JOBS: usize = 8;
/// Finished jobs remembered (the oldest are forgotten first; their runs stay in the store).
pub const FINISHED_JOBS_KEPT: usize = 1_000;

/// Why a job was not started.
#[derive(Debug, thiserror::Error)]
pub enum JobRefused {
    #[error("{MAX_PENDING_JOBS} batch jobs are waiting or running already; try again when one has finished")]
    Busy,
    #[error("the server is stopping")]
    Stopping,
}

struct Entry {
    job: BatchJob,
    abort: Option<AbortHandle>,
}

#[derive(Default)]
struct Table {
    jobs: HashMap<String, Entry>,
    stopping: bool,
}

pub struct Jobs {
    table: Mutex<Table>,
    /// One job scores at a time: a job holds a whole customer table in memory.
    running: Arc<Semaphore>,
}

impl Default for Jobs {
    fn default() -> Self {
        Jobs {
            table: Mutex::default(),
            running: Arc::new(Semaphore::new(1)),
        }
    }
}

impl Jobs {
    /// Queues a job; returns it as it stands.
    pub fn start(
        self: &Arc<Self>,
        store: Store,
        model: ModelRef,
        input: BatchInput,
        customers_file: Option<String>,
        options: BatchOptions,
        describe_error: impl Fn(String) -> String + Send + 'static,
    ) -> Result<BatchJob, JobRefused> {
        let mut table = self.table.lock().expect("not poisoned");
        if table.stopping {
            return Err(JobRefused::Stopping);
        }
        let pending = table
            .jobs
            .values()
            .filter(|e| !e.job.state.finished())
            .count();
        if pending >= MAX_PENDING_JOBS {
            return Err(JobRefused::Busy);
        }
        forget_oldest_finished(&mut table.jobs);
        let job_id = retain_store::random_hex(8);
        let job = BatchJob {
            job_id: job_id.clone(),
            model: model.to_string(),
            customers_file,
            state: JobState::Queued,
            submitted_at: retain_store::now(),
            finished_at: None,
            version: None,
            run: None,
            already_stored: false,
            error: None,
        };
        let jobs = self.clone();
        let id = job_id.clone();
        let task = tokio::spawn(async move {
            let _turn = jobs.running.clone().acquire_owned().await;
            jobs.update(&id, |job| job.state = JobState::Running);
            let result = score_batch(&store, &model, input, &options).await;
            jobs.update(&id, |job| {
                job.finished_at = Some(retain_store::now());
                match result {
                    Ok(outcome) => {
                        job.state = JobState::Succeeded;
                        job.version = Some(outcome.version);
                        job.already_stored =
                            matches!(outcome.outcome, RunOutcome::AlreadyStored(_));
                        job.run = Some(outcome.outcome.run().clone());
                    }
                    Err(e) => {
                        job.state = JobState::Failed;
                        job.error = Some(describe_error(e.without_values()));
                    }
                }
            });
        });
        table.jobs.insert(
            job_id,
            Entry {
                job: job.clone(),
                abort: Some(task.abort_handle()),
            },
        );
        Ok(job)
    }

    fn update(&self, job_id: &str, change: impl FnOnce(&mut BatchJob)) {
        let mut table = self.table.lock().expect("not poisoned");
        if let Some(entry) = table.jobs.get_mut(job_id) {
            // A cancelled job stays cancelled, whatever its task got to before it stopped.
            if entry.job.state != JobState::Cancelled {
                change(&mut entry.job);
            }
            if entry.job.state.finished() {
                entry.abort = None;
            }
        }
    }

    pub fn get(&self, job_id: &str) -> Option<BatchJob> {
        let table = self.table.lock().expect("not poisoned");
        table.jobs.get(job_id).map(|e| e.job.clone())
    }

    /// Cancels a job that has not finished (nothing of it is stored) and forgets it; returns
    /// the job as it ended.
    pub fn cancel_and_forget(&self, job_id: &str) -> Option<BatchJob> {
        let mut table = self.table.lock().expect("not poisoned");
        let mut entry = table.jobs.remove(job_id)?;
        cancel_entry(&mut entry);
        Some(entry.job)
    }

    /// Refuses new jobs and cancels every job not finished (the server is stopping).
    pub fn cancel_all(&self) {
        let mut table = self.table.lock().expect("not poisoned");
        table.stopping = true;
        for entry in table.jobs.values_mut() {
            cancel_entry(entry);
        }
    }

    /// Every job remembered, newest first.
    pub fn list(&self) -> Vec<BatchJob> {
        let table = self.table.lock().expect("not poisoned");
        let mut jobs: Vec<BatchJob> = table.jobs.values().map(|e| e.job.clone()).collect();
        jobs.sort_by(|a, b| b.submitted_at.cmp(&a.submitted_at));
        jobs
    }
}

fn cancel_entry(entry: &mut Entry) {
    if entry.job.state.finished() {
        return;
    }
    if let Some(abort) = entry.abort.take() {
        abort.abort();
    }
    entry.job.state = JobState::Cancelled;
    entry.job.finished_at = Some(retain_store::now());
}

fn forget_oldest_finished(jobs: &mut HashMap<String, Entry>) {
    let finished = jobs.values().filter(|e| e.job.state.finished()).count();
    if finished < FINISHED_JOBS_KEPT {
        return;
    }
    let mut by_age: Vec<(String, String)> = jobs
        .iter()
        .filter(|(_, e)| e.job.state.finished())
        .map(|(id, e)| (e.job.submitted_at.clone(), id.clone()))
        .collect();
    by_age.sort();
    for (_, id) in by_age.into_iter().take(finished + 1 - FINISHED_JOBS_KEPT) {
        jobs.remove(&id);
    }
}

/// Where a job's customers come from, checked before it is queued.
pub fn input_of(
    request: &mut BatchJobRequest,
    data_dir: Option<&crate::data_dir::DataDir>,
) -> Result<BatchInput, crate::ApiError> {
    use axum::http::StatusCode;
    let unprocessable = |message: String, field: &str| {
        crate::ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message).field(field)
    };
    if let Some(reasons) = request.reasons.filter(|&r| r > MAX_REASONS) {
        return Err(unprocessable(
            format!("reasons must be 0 to {MAX_REASONS}, found {reasons}"),
            "reasons",
        ));
    }
    match (&request.customers_file, request.customers.take()) {
        (Some(_), Some(_)) | (None, None) => Err(unprocessable(
            "give customers_file or customers, one of them".into(),
            "customers",
        )),
        (None, Some(customers)) => {
            if customers.is_empty() || customers.len() > MAX_CUSTOMERS {
                return Err(unprocessable(
                    format!(
                        "expected 1 to {MAX_CUSTOMERS} customers, found {}",
                        customers.len()
                    ),
                    "customers",
                ));
            }
            Ok(BatchInput::Customers(customers))
        }
        (Some(name), None) => {
            let dir = data_dir.ok_or_else(|| {
                unprocessable(
                    crate::data_dir::DataDirError::Off.to_string(),
                    "customers_file",
                )
            })?;
            let path: PathBuf = dir
                .resolve(name)
                .map_err(|e| unprocessable(e.to_string(), "customers_file"))?;
            Ok(BatchInput::File(path))
        }
    }
}
