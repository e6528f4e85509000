//! Batch jobs started over HTTP: a customer file on the server's disk scored by a model alias
//! or version, with every prediction stored as a run (`retain_scoring::batch`, the code of
//! `retain score`). A job runs in the background; its state is kept in memory, its result in the
//! store (a job lost with a restart is run again with the same request: the run is found, not
//! written twice).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use retain_scoring::batch::{score_file, BatchOptions, ModelRef};
use retain_store::{Run, RunOutcome, Store};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/batch-jobs`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchJobRequest {
    /// NAME (its production alias), NAME@ALIAS or NAME:VERSION.
    #[schema(example = "churn@production")]
    pub model: String,
    /// A customer table on the server's disk (CSV, plain or .gz, or Parquet).
    pub customers_file: String,
    /// Customer id column (default: the training table's, else `customer_id`).
    pub id_col: Option<String>,
    /// Reasons stored per customer (default 3).
    pub reasons: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Running,
    Succeeded,
    Failed,
}

/// A batch job and, when done, its run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchJob {
    pub job_id: String,
    pub model: String,
    pub customers_file: String,
    pub state: JobState,
    pub submitted_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The version that scored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<Run>,
    /// The same version had scored the same file before: its run, nothing written.
    pub already_stored: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Default)]
pub struct Jobs {
    jobs: RwLock<HashMap<String, BatchJob>>,
}

impl Jobs {
    /// Starts a job; returns it as it stands (running).
    pub fn start(
        self: &Arc<Self>,
        store: Store,
        model: ModelRef,
        request: BatchJobRequest,
    ) -> BatchJob {
        let job_id = retain_store::random_hex(8);
        let job = BatchJob {
            job_id: job_id.clone(),
            model: model.to_string(),
            customers_file: request.customers_file.clone(),
            state: JobState::Running,
            submitted_at: retain_store::now(),
            finished_at: None,
            version: None,
            run: None,
            already_stored: false,
            error: None,
        };
        self.jobs
            .write()
            .expect("not poisoned")
            .insert(job_id.clone(), job.clone());
        let jobs = self.clone();
        tokio::spawn(async move {
            let options = BatchOptions {
                id_col: request.id_col,
                reasons: request.reasons.unwrap_or(3),
                ..BatchOptions::default()
            };
            let path = PathBuf::from(&request.customers_file);
            let result = score_file(&store, &model, &path, &options).await;
            let mut all = jobs.jobs.write().expect("not poisoned");
            let job = all.get_mut(&job_id).expect("jobs are never removed");
            job.finished_at = Some(retain_store::now());
            match result {
                Ok(outcome) => {
                    job.state = JobState::Succeeded;
                    job.version = Some(outcome.version);
                    job.already_stored = matches!(outcome.outcome, RunOutcome::AlreadyStored(_));
                    job.run = Some(outcome.outcome.run().clone());
                }
                Err(e) => {
                    job.state = JobState::Failed;
                    job.error = Some(e.to_string());
                }
            }
        });
        job
    }

    pub fn get(&self, job_id: &str) -> Option<BatchJob> {
        self.jobs.read().expect("not poisoned").get(job_id).cloned()
    }

    /// Every job of this server's life, newest first.
    pub fn list(&self) -> Vec<BatchJob> {
        let mut jobs: Vec<BatchJob> = self
            .jobs
            .read()
            .expect("not poisoned")
            .values()
            .cloned()
            .collect();
        jobs.sort_by(|a, b| b.submitted_at.cmp(&a.submitted_at));
        jobs
    }
}
