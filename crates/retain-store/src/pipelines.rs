//! Pipeline runs: one row a run (its status, timing, row accounting, the model versions it began
//! and ended with), one row a finished step (its output), and one lease a pipeline.
//!
//! A run is crash-safe by construction: every step's own write is one transaction (a version, an
//! alias move, a scoring run, an analysis), a step is recorded as done only after its write, and
//! the run is marked succeeded only after its last step. A run killed at any moment is left
//! `running` with a lease that expires; the next run of the same inputs takes the lease, skips
//! the steps recorded as done and completes the rest. The lease (one a pipeline, renewed while
//! the run lives) is what keeps two processes from running one pipeline at once.

use serde::Serialize;
use sqlx::any::AnyRow;

use crate::{get, now, Result, Store, StoreError};

/// A run's status as stored; a `running` run whose lease has lapsed is reported `interrupted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PipelineStatus {
    Running,
    /// Its process died (killed, crashed, machine lost) before it finished; the next run of the
    /// same inputs completes it.
    Interrupted,
    Succeeded,
    Failed,
}

impl PipelineStatus {
    /// The status as the API and listings name it.
    pub fn as_str(self) -> &'static str {
        match self {
            PipelineStatus::Running => "running",
            PipelineStatus::Interrupted => "interrupted",
            PipelineStatus::Succeeded => "succeeded",
            PipelineStatus::Failed => "failed",
        }
    }
}

/// A run about to start.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPipelineRun {
    pub run_id: String,
    pub pipeline: String,
    /// Hash of the pipeline file, the input files' contents and the cutoff.
    pub input_key: String,
    /// The day the run's data ends (its cutoff), YYYY-MM-DD.
    pub cutoff: String,
    /// `{model: production version}` when the run began.
    pub versions_before: serde_json::Value,
    /// The ingest accounting of the run's input (rows read, used, rejected, excluded).
    pub rows: serde_json::Value,
}

/// A stored run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PipelineRun {
    pub run_id: String,
    pub pipeline: String,
    pub input_key: String,
    pub cutoff: String,
    pub status: PipelineStatus,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// Seconds from start to finish, summed over the attempts that ran it.
    pub seconds: Option<f64>,
    /// How many processes worked on it (more than one when one was interrupted).
    pub attempts: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub versions_before: serde_json::Value,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub versions_after: Option<serde_json::Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub rows: serde_json::Value,
    pub error: Option<String>,
}

/// A finished step of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PipelineStep {
    pub step: String,
    /// What the step did (versions registered, runs written, decisions), JSON.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub output: serde_json::Value,
    pub finished_at: String,
}

fn millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

const RUN_COLUMNS: &str = "run_id, pipeline, input_key, cutoff, status, started_at, finished_at,
    seconds, attempts, versions_before, versions_after, rows, error, lease_until";

impl Store {
    /// Takes the pipeline's lease for `ttl_ms` if no one else holds an unexpired one; true when
    /// taken (or already held by `owner`, renewed).
    pub async fn acquire_pipeline_lease(
        &self,
        pipeline: &str,
        owner: &str,
        ttl_ms: i64,
    ) -> Result<bool> {
        let now = millis();
        let taken = sqlx::query(
            "INSERT INTO pipeline_leases (pipeline, owner, until) VALUES ($1, $2, $3)
             ON CONFLICT (pipeline) DO UPDATE SET owner = excluded.owner, until = excluded.until
             WHERE pipeline_leases.until < $4 OR pipeline_leases.owner = excluded.owner",
        )
        .bind(pipeline)
        .bind(owner)
        .bind(now + ttl_ms)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(taken.rows_affected() == 1)
    }

    /// Who holds the pipeline's lease, if anyone, and until when (Unix milliseconds).
    pub async fn pipeline_lease_holder(&self, pipeline: &str) -> Result<Option<(String, i64)>> {
        let row = sqlx::query("SELECT owner, until FROM pipeline_leases WHERE pipeline = $1")
            .bind(pipeline)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| Ok((get(&row, "owner")?, get(&row, "until")?)))
            .transpose()
    }

    /// Takes the lease from `holder` (known to be gone) for `owner`; false when someone else
    /// took it first.
    pub async fn take_pipeline_lease(
        &self,
        pipeline: &str,
        holder: &str,
        owner: &str,
        ttl_ms: i64,
    ) -> Result<bool> {
        let taken = sqlx::query(
            "UPDATE pipeline_leases SET owner = $3, until = $4 WHERE pipeline = $1 AND owner = $2",
        )
        .bind(pipeline)
        .bind(holder)
        .bind(owner)
        .bind(millis() + ttl_ms)
        .execute(&self.pool)
        .await?;
        Ok(taken.rows_affected() == 1)
    }

    /// Gives the lease up (when `owner` holds it).
    pub async fn release_pipeline_lease(&self, pipeline: &str, owner: &str) -> Result<()> {
        sqlx::query("DELETE FROM pipeline_leases WHERE pipeline = $1 AND owner = $2")
            .bind(pipeline)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Starts a run, or, when a run of this id exists unfinished, counts one more attempt at it.
    /// The caller holds the pipeline's lease.
    pub async fn start_pipeline_run(
        &self,
        run: &NewPipelineRun,
        lease_until_ms: i64,
    ) -> Result<PipelineRun> {
        let mut tx = self.write_transaction().await?;
        let exists = sqlx::query("SELECT status FROM pipeline_runs WHERE run_id = $1")
            .bind(&run.run_id)
            .fetch_optional(&mut *tx)
            .await?;
        match exists {
            None => {
                sqlx::query(
                    "INSERT INTO pipeline_runs (run_id, pipeline, input_key, cutoff, status,
                        started_at, attempts, versions_before, rows, lease_until)
                     VALUES ($1, $2, $3, $4, 'running', $5, 1, $6, $7, $8)",
                )
                .bind(&run.run_id)
                .bind(&run.pipeline)
                .bind(&run.input_key)
                .bind(&run.cutoff)
                .bind(now())
                .bind(run.versions_before.to_string())
                .bind(run.rows.to_string())
                .bind(lease_until_ms)
                .execute(&mut *tx)
                .await?;
            }
            Some(_) => {
                sqlx::query(
                    "UPDATE pipeline_runs SET status = 'running', attempts = attempts + 1,
                        error = NULL, finished_at = NULL, lease_until = $2
                     WHERE run_id = $1",
                )
                .bind(&run.run_id)
                .bind(lease_until_ms)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        self.pipeline_run(&run.run_id).await
    }

    /// Records a run that failed before it could begin (its input unreadable, its pattern
    /// matching nothing): listed like any run, with why.
    pub async fn record_failed_pipeline_run(
        &self,
        pipeline: &str,
        error: &str,
    ) -> Result<PipelineRun> {
        let started_at = now();
        let run_id = crate::sha256_hex(format!("{pipeline} {started_at} failed").as_bytes())[..20]
            .to_string();
        sqlx::query(
            "INSERT INTO pipeline_runs (run_id, pipeline, input_key, cutoff, status, started_at,
                finished_at, seconds, attempts, versions_before, rows, error)
             VALUES ($1, $2, '', '', 'failed', $3, $3, 0, 1, '{}', '{}', $4)",
        )
        .bind(&run_id)
        .bind(pipeline)
        .bind(&started_at)
        .bind(error)
        .execute(&self.pool)
        .await?;
        self.pipeline_run(&run_id).await
    }

    /// Keeps a running run's lease time in step with its pipeline's lease (for listings).
    pub async fn touch_pipeline_run(&self, run_id: &str, lease_until_ms: i64) -> Result<()> {
        sqlx::query(
            "UPDATE pipeline_runs SET lease_until = $2 WHERE run_id = $1 AND status = 'running'",
        )
        .bind(run_id)
        .bind(lease_until_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a step as done, with its output. Recording it again keeps the first record.
    pub async fn record_pipeline_step(
        &self,
        run_id: &str,
        step: &str,
        output: &serde_json::Value,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO pipeline_steps (run_id, step, output, finished_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (run_id, step) DO NOTHING",
        )
        .bind(run_id)
        .bind(step)
        .bind(output.to_string())
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The steps of a run recorded as done, in the order they finished.
    pub async fn pipeline_steps(&self, run_id: &str) -> Result<Vec<PipelineStep>> {
        let rows = sqlx::query(
            "SELECT step, output, finished_at FROM pipeline_steps WHERE run_id = $1
             ORDER BY finished_at, step",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let output: String = get(row, "output")?;
                Ok(PipelineStep {
                    step: get(row, "step")?,
                    output: json(&output)?,
                    finished_at: get(row, "finished_at")?,
                })
            })
            .collect()
    }

    /// Marks a run finished: succeeded with the versions it ended with, or failed with why.
    pub async fn finish_pipeline_run(
        &self,
        run_id: &str,
        outcome: std::result::Result<&serde_json::Value, &str>,
        seconds: f64,
    ) -> Result<PipelineRun> {
        let (status, versions_after, error) = match outcome {
            Ok(versions) => (PipelineStatus::Succeeded, Some(versions.to_string()), None),
            Err(why) => (PipelineStatus::Failed, None, Some(why.to_string())),
        };
        sqlx::query(
            "UPDATE pipeline_runs SET status = $2, versions_after = $3, error = $4,
                finished_at = $5, seconds = COALESCE(seconds, 0) + $6
             WHERE run_id = $1",
        )
        .bind(run_id)
        .bind(status.as_str())
        .bind(versions_after)
        .bind(error)
        .bind(now())
        .bind(seconds)
        .execute(&self.pool)
        .await?;
        self.pipeline_run(run_id).await
    }

    /// One run.
    pub async fn pipeline_run(&self, run_id: &str) -> Result<PipelineRun> {
        let row = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE run_id = $1"
        ))
        .bind(run_id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => pipeline_run_of(&row),
            None => Err(StoreError::NotFound(format!("no pipeline run {run_id}"))),
        }
    }

    /// The newest succeeded run of `pipeline` with these inputs.
    pub async fn succeeded_pipeline_run(
        &self,
        pipeline: &str,
        input_key: &str,
    ) -> Result<Option<PipelineRun>> {
        let row = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM pipeline_runs
             WHERE pipeline = $1 AND input_key = $2 AND status = 'succeeded'
             ORDER BY finished_at DESC LIMIT 1"
        ))
        .bind(pipeline)
        .bind(input_key)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(pipeline_run_of).transpose()
    }

    /// The runs of `pipeline` that never finished (their process died), newest first.
    pub async fn unfinished_pipeline_runs(&self, pipeline: &str) -> Result<Vec<PipelineRun>> {
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE pipeline = $1 AND status = 'running'
             ORDER BY started_at DESC"
        ))
        .bind(pipeline)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(pipeline_run_of).collect()
    }

    /// Runs, newest first: of one pipeline, or of all.
    pub async fn pipeline_runs(
        &self,
        pipeline: Option<&str>,
        limit: i64,
    ) -> Result<Vec<PipelineRun>> {
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE $1 = '' OR pipeline = $1
             ORDER BY started_at DESC, run_id LIMIT $2"
        ))
        .bind(pipeline.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(pipeline_run_of).collect()
    }
}

fn json(text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Invalid(format!("stored JSON: {e}")))
}

fn pipeline_run_of(row: &AnyRow) -> Result<PipelineRun> {
    let status: String = get(row, "status")?;
    let lease_until: Option<i64> = get(row, "lease_until")?;
    let status = match status.as_str() {
        "succeeded" => PipelineStatus::Succeeded,
        "failed" => PipelineStatus::Failed,
        _ if lease_until.is_some_and(|t| t >= millis()) => PipelineStatus::Running,
        _ => PipelineStatus::Interrupted,
    };
    let versions_after: Option<String> = get(row, "versions_after")?;
    let versions_before: String = get(row, "versions_before")?;
    let rows: String = get(row, "rows")?;
    Ok(PipelineRun {
        run_id: get(row, "run_id")?,
        pipeline: get(row, "pipeline")?,
        input_key: get(row, "input_key")?,
        cutoff: get(row, "cutoff")?,
        status,
        started_at: get(row, "started_at")?,
        finished_at: get(row, "finished_at")?,
        seconds: get(row, "seconds")?,
        attempts: get(row, "attempts")?,
        versions_before: json(&versions_before)?,
        versions_after: versions_after.as_deref().map(json).transpose()?,
        rows: json(&rows)?,
        error: get(row, "error")?,
    })
}
