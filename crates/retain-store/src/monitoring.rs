//! How the models fare in production: each scoring run's drift from its model's training data,
//! written with the run in its transaction, and read back by model, newest first.

use serde::Serialize;
use sqlx::any::AnyRow;

use crate::predictions::RunFacts;
use crate::{get, NewRun, Result, Store};

/// A run's drift as the scoring library measured it: the verdicts the store filters on, and the
/// whole report (every feature's method, statistic, PSI, missing and unseen shares) as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDrift {
    pub dataset_drift: bool,
    pub drifted_share: f64,
    pub prediction_drift: bool,
    pub report: serde_json::Value,
}

/// A stored drift report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredDrift {
    pub run_id: String,
    pub model: String,
    pub version: i64,
    pub as_of: Option<String>,
    pub created_at: String,
    pub dataset_drift: bool,
    pub drifted_share: f64,
    pub prediction_drift: bool,
    /// Per feature: `feature`, `method`, `statistic`, `threshold`, `drift`, `psi`, `psi_band`,
    /// missing and unseen shares; the prediction's drift; mean scores.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub report: serde_json::Value,
}

pub(crate) async fn insert_drift(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    run_id: &str,
    run: &NewRun<'_>,
    facts: &RunFacts,
    drift: &NewDrift,
    created_at: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO run_drift (run_id, model, version, as_of, dataset_drift, drifted_share,
                                prediction_drift, report, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(run_id)
    .bind(run.model)
    .bind(run.version)
    .bind(facts.as_of.clone())
    .bind(i64::from(drift.dataset_drift))
    .bind(drift.drifted_share)
    .bind(i64::from(drift.prediction_drift))
    .bind(drift.report.to_string())
    .bind(created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

const DRIFT_COLUMNS: &str = "d.run_id AS run_id, d.model AS model, d.version AS version,
    d.as_of AS as_of, d.created_at AS created_at, d.dataset_drift AS dataset_drift,
    d.drifted_share AS drifted_share, d.prediction_drift AS prediction_drift, d.report AS report";

impl Store {
    /// The drift reports of a model's runs, newest first (by the day scored, then written),
    /// at most `limit`. Only runs whose row is written are seen.
    pub async fn drift_of_model(&self, model: &str, limit: i64) -> Result<Vec<StoredDrift>> {
        let rows = sqlx::query(&format!(
            "SELECT {DRIFT_COLUMNS} FROM run_drift d JOIN runs r ON r.run_id = d.run_id
             WHERE d.model = $1
             ORDER BY COALESCE(d.as_of, '') DESC, d.created_at DESC, d.run_id LIMIT $2"
        ))
        .bind(model)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(drift_of).collect()
    }

    /// The drift report of one run, if it has one.
    pub async fn drift_of_run(&self, run_id: &str) -> Result<Option<StoredDrift>> {
        let row = sqlx::query(&format!(
            "SELECT {DRIFT_COLUMNS} FROM run_drift d JOIN runs r ON r.run_id = d.run_id
             WHERE d.run_id = $1"
        ))
        .bind(run_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(drift_of).transpose()
    }

    /// The newest drift report of every model that has one.
    pub async fn latest_drift(&self) -> Result<Vec<StoredDrift>> {
        let rows = sqlx::query(&format!(
            "SELECT {DRIFT_COLUMNS} FROM run_drift d JOIN runs r ON r.run_id = d.run_id
             WHERE NOT EXISTS (SELECT 1 FROM run_drift n WHERE n.model = d.model
                               AND (n.created_at > d.created_at
                                    OR (n.created_at = d.created_at AND n.run_id > d.run_id)))
             ORDER BY d.model"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(drift_of).collect()
    }
}

fn drift_of(row: &AnyRow) -> Result<StoredDrift> {
    let report: String = get(row, "report")?;
    Ok(StoredDrift {
        run_id: get(row, "run_id")?,
        model: get(row, "model")?,
        version: get(row, "version")?,
        as_of: get(row, "as_of")?,
        created_at: get(row, "created_at")?,
        dataset_drift: get::<i64>(row, "dataset_drift")? != 0,
        drifted_share: get(row, "drifted_share")?,
        prediction_drift: get::<i64>(row, "prediction_drift")? != 0,
        report: serde_json::from_str(&report)
            .map_err(|e| crate::StoreError::Invalid(format!("a stored drift report: {e}")))?,
    })
}
