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

/// Whether a performance record is measured against what happened or estimated before it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PerformanceKind {
    /// The run's predictions against the outcomes once its horizon had passed.
    Realised,
    /// Before the outcomes: from the model's own probabilities (CBPE).
    Estimated,
}

impl PerformanceKind {
    /// The kind as the API and listings name it.
    pub fn as_str(self) -> &'static str {
        match self {
            PerformanceKind::Realised => "realised",
            PerformanceKind::Estimated => "estimated",
        }
    }
}

/// How a scoring run's predictions fared (or are expected to).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredPerformance {
    pub run_id: String,
    pub kind: PerformanceKind,
    pub model: String,
    pub version: i64,
    pub as_of: String,
    /// The last day of the window the predictions spoke of.
    pub horizon_end: String,
    pub customers: i64,
    /// Churn: `auc`, `log_loss`, `brier`, `churn_rate`, `mean_predicted`, `calibration`;
    /// purchase models: predicted and actual purchases (total, per customer, error), spend.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metrics: serde_json::Value,
    pub evaluated_at: String,
}

impl Store {
    /// Stores a run's performance; a record of the same run and kind stored before is kept.
    pub async fn write_performance(&self, record: &StoredPerformance) -> Result<()> {
        sqlx::query(
            "INSERT INTO model_performance (run_id, kind, model, version, as_of, horizon_end,
                customers, metrics, evaluated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (run_id, kind) DO NOTHING",
        )
        .bind(&record.run_id)
        .bind(record.kind.as_str())
        .bind(&record.model)
        .bind(record.version)
        .bind(&record.as_of)
        .bind(&record.horizon_end)
        .bind(record.customers)
        .bind(record.metrics.to_string())
        .bind(&record.evaluated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A model's performance records, oldest day first (a time series per version).
    pub async fn performance_of_model(&self, model: &str) -> Result<Vec<StoredPerformance>> {
        let rows = sqlx::query(
            "SELECT run_id, kind, model, version, as_of, horizon_end, customers, metrics,
                    evaluated_at
             FROM model_performance WHERE model = $1 ORDER BY as_of, kind, run_id",
        )
        .bind(model)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(performance_of).collect()
    }
}

fn performance_of(row: &AnyRow) -> Result<StoredPerformance> {
    let kind: String = get(row, "kind")?;
    let metrics: String = get(row, "metrics")?;
    Ok(StoredPerformance {
        run_id: get(row, "run_id")?,
        kind: if kind == "realised" {
            PerformanceKind::Realised
        } else {
            PerformanceKind::Estimated
        },
        model: get(row, "model")?,
        version: get(row, "version")?,
        as_of: get(row, "as_of")?,
        horizon_end: get(row, "horizon_end")?,
        customers: get(row, "customers")?,
        metrics: serde_json::from_str(&metrics)
            .map_err(|e| crate::StoreError::Invalid(format!("stored performance: {e}")))?,
        evaluated_at: get(row, "evaluated_at")?,
    })
}

/// A champion/challenger decision as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredDecision {
    pub decision_id: String,
    pub model: String,
    /// `promoted` or `kept`.
    pub decision: String,
    pub champion_version: i64,
    pub challenger_version: i64,
    /// Both models' metrics on the window, the margins, the checks, the reason.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub evidence: serde_json::Value,
    pub decided_at: String,
}

impl Store {
    /// Stores a decision; one of the same id stored before is kept (a resumed run decides
    /// once).
    pub async fn write_decision(&self, decision: &StoredDecision) -> Result<()> {
        sqlx::query(
            "INSERT INTO retrain_decisions (decision_id, model, decision, champion_version,
                challenger_version, evidence, decided_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (decision_id) DO NOTHING",
        )
        .bind(&decision.decision_id)
        .bind(&decision.model)
        .bind(&decision.decision)
        .bind(decision.champion_version)
        .bind(decision.challenger_version)
        .bind(decision.evidence.to_string())
        .bind(&decision.decided_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A model's decisions, newest first.
    pub async fn decisions_of_model(&self, model: &str) -> Result<Vec<StoredDecision>> {
        let rows = sqlx::query(
            "SELECT decision_id, model, decision, champion_version, challenger_version, evidence,
                    decided_at
             FROM retrain_decisions WHERE model = $1 ORDER BY decided_at DESC, decision_id",
        )
        .bind(model)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let evidence: String = get(row, "evidence")?;
                Ok(StoredDecision {
                    decision_id: get(row, "decision_id")?,
                    model: get(row, "model")?,
                    decision: get(row, "decision")?,
                    champion_version: get(row, "champion_version")?,
                    challenger_version: get(row, "challenger_version")?,
                    evidence: serde_json::from_str(&evidence).map_err(|e| {
                        crate::StoreError::Invalid(format!("a stored decision: {e}"))
                    })?,
                    decided_at: get(row, "decided_at")?,
                })
            })
            .collect()
    }
}
