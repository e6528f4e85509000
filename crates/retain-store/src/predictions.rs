//! Prediction runs: every customer's score, label and reasons from one model version on one
//! input, stored under a run id. The id is a hash of the model version, the input's SHA-256 and
//! the scoring settings, so scoring the same input again finds the run already stored instead of
//! writing it twice. A run's predictions and its row are written in one transaction, the run row
//! last; readers go through the run row, so a run cut off half-way is never seen.

use serde::Serialize;
use sqlx::any::AnyRow;

use crate::{get, now, sha256_hex, Result, Store, StoreError};

/// One customer's prediction as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredPrediction {
    pub customer_id: String,
    pub score: f64,
    /// The predicted class, for yes/no models (`churn` / `stay`, …).
    pub label: Option<String>,
    /// The reasons as the model gave them (JSON).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub reasons: serde_json::Value,
    /// What else the model answered (a purchase model's P(alive), expected purchases, CLV and
    /// its reasons; a segmentation's segment), as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub details: Option<serde_json::Value>,
}

/// A run about to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun<'a> {
    pub model: &'a str,
    pub version: i64,
    /// Where the customers came from (a file name, `api`, …).
    pub source: &'a str,
    pub input_sha256: &'a str,
    /// Anything else that changes the scores (reasons per customer, scoring date): part of the
    /// run id.
    pub settings: &'a str,
}

/// A stored run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Run {
    pub run_id: String,
    pub model: String,
    pub version: i64,
    pub source: String,
    pub input_sha256: String,
    pub customers: i64,
    pub created_at: String,
    /// The day the customers were scored at, when the input has one (a log, a date given).
    pub as_of: Option<String>,
    /// Days after `as_of` the scores speak of (a churn model's label window, a purchase
    /// model's horizon), when they speak of a period: when it has passed, the run's outcome can
    /// be known.
    pub horizon_days: Option<i64>,
}

/// What is known of a run once it is scored: its day, its horizon, and how its data drifted
/// from the model's training data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFacts {
    pub as_of: Option<String>,
    pub horizon_days: Option<i64>,
    pub drift: Option<crate::NewDrift>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "run", rename_all = "snake_case")]
pub enum RunOutcome {
    Written(Run),
    /// The same model version had scored the same input with the same settings.
    AlreadyStored(Run),
}

impl RunOutcome {
    pub fn run(&self) -> &Run {
        match self {
            RunOutcome::Written(run) | RunOutcome::AlreadyStored(run) => run,
        }
    }
}

/// Rows per INSERT: 5 parameters a row stays under SQLite's 32,766 and PostgreSQL's 65,535.
const ROWS_PER_INSERT: usize = 1_000;

impl NewRun<'_> {
    pub fn run_id(&self) -> String {
        let key = serde_json::json!([self.model, self.version, self.input_sha256, self.settings]);
        sha256_hex(key.to_string().as_bytes())[..20].to_string()
    }
}

impl Store {
    /// Writes a run with all its predictions, or finds it already stored.
    pub async fn write_run(
        &self,
        run: &NewRun<'_>,
        predictions: &[StoredPrediction],
    ) -> Result<RunOutcome> {
        self.write_run_with(run, &RunFacts::default(), predictions)
            .await
    }

    /// Writes a run with its facts (day, horizon, drift) and all its predictions in one
    /// transaction, or finds it already stored.
    pub async fn write_run_with(
        &self,
        run: &NewRun<'_>,
        facts: &RunFacts,
        predictions: &[StoredPrediction],
    ) -> Result<RunOutcome> {
        let run_id = run.run_id();
        if let Some(stored) = self.find_run(&run_id).await? {
            return Ok(RunOutcome::AlreadyStored(stored));
        }
        let mut seen = std::collections::HashSet::with_capacity(predictions.len());
        if let Some(twice) = predictions.iter().find(|p| !seen.insert(&p.customer_id)) {
            return Err(StoreError::Invalid(format!(
                "customer {} appears twice in the run; each customer gets one prediction",
                twice.customer_id
            )));
        }
        match self.insert_run(run, &run_id, facts, predictions).await {
            // The same run written at the same time by another writer.
            Err(StoreError::Database(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                Ok(RunOutcome::AlreadyStored(self.run(&run_id).await?))
            }
            outcome => outcome.map(RunOutcome::Written),
        }
    }

    async fn insert_run(
        &self,
        run: &NewRun<'_>,
        run_id: &str,
        facts: &RunFacts,
        predictions: &[StoredPrediction],
    ) -> Result<Run> {
        let mut tx = self.write_transaction().await?;
        for chunk in predictions.chunks(ROWS_PER_INSERT) {
            let mut sql = String::from(
                "INSERT INTO predictions (run_id, customer_id, score, label, reasons, details) VALUES ",
            );
            for i in 0..chunk.len() {
                let p = i * 6;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, ${})",
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 5,
                    p + 6
                ));
            }
            let mut query = sqlx::query(&sql);
            for prediction in chunk {
                query = query
                    .bind(run_id.to_string())
                    .bind(prediction.customer_id.clone())
                    .bind(prediction.score)
                    .bind(prediction.label.clone())
                    .bind(prediction.reasons.to_string())
                    .bind(prediction.details.as_ref().map(|d| d.to_string()));
            }
            query.execute(&mut *tx).await?;
        }
        let created_at = now();
        if let Some(drift) = &facts.drift {
            crate::monitoring::insert_drift(&mut tx, run_id, run, facts, drift, &created_at)
                .await?;
        }
        // The run row last: readers go through it.
        sqlx::query(
            "INSERT INTO runs (run_id, model, version, source, input_sha256, customers, created_at,
                               as_of, horizon_days)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(run_id)
        .bind(run.model)
        .bind(run.version)
        .bind(run.source)
        .bind(run.input_sha256)
        .bind(predictions.len() as i64)
        .bind(&created_at)
        .bind(facts.as_of.clone())
        .bind(facts.horizon_days)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Run {
            run_id: run_id.into(),
            model: run.model.into(),
            version: run.version,
            source: run.source.into(),
            input_sha256: run.input_sha256.into(),
            customers: predictions.len() as i64,
            created_at,
            as_of: facts.as_of.clone(),
            horizon_days: facts.horizon_days,
        })
    }

    async fn find_run(&self, run_id: &str) -> Result<Option<Run>> {
        let row = sqlx::query(
            "SELECT run_id, model, version, source, input_sha256, customers, created_at,
                    as_of, horizon_days
             FROM runs WHERE run_id = $1",
        )
        .bind(run_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(run_of).transpose()
    }

    /// One run.
    pub async fn run(&self, run_id: &str) -> Result<Run> {
        self.find_run(run_id).await?.ok_or_else(|| {
            StoreError::NotFound(format!(
                "no run {run_id}; `retain score` prints the id of the run it writes"
            ))
        })
    }

    /// Every run, newest first.
    pub async fn runs(&self) -> Result<Vec<Run>> {
        let rows = sqlx::query(
            "SELECT run_id, model, version, source, input_sha256, customers, created_at,
                    as_of, horizon_days
             FROM runs ORDER BY created_at DESC, run_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(run_of).collect()
    }

    /// A run's predictions in customer order: up to `limit` after customer `after`.
    pub async fn predictions_of_run(
        &self,
        run_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredPrediction>> {
        self.run(run_id).await?;
        let rows = sqlx::query(
            "SELECT customer_id, score, label, reasons, details FROM predictions
             WHERE run_id = $1 AND customer_id > $2 ORDER BY customer_id LIMIT $3",
        )
        .bind(run_id)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(prediction_of).collect()
    }

    /// A customer's predictions in every run, newest run first.
    pub async fn predictions_of_customer(
        &self,
        customer_id: &str,
    ) -> Result<Vec<(Run, StoredPrediction)>> {
        let rows = sqlx::query(
            "SELECT r.run_id AS run_id, r.model AS model, r.version AS version,
                    r.source AS source, r.input_sha256 AS input_sha256,
                    r.customers AS customers, r.created_at AS created_at,
                    r.as_of AS as_of, r.horizon_days AS horizon_days,
                    p.customer_id AS customer_id, p.score AS score, p.label AS label,
                    p.reasons AS reasons, p.details AS details
             FROM predictions p JOIN runs r ON r.run_id = p.run_id
             WHERE p.customer_id = $1 ORDER BY r.created_at DESC, r.run_id",
        )
        .bind(customer_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((run_of(row)?, prediction_of(row)?)))
            .collect()
    }
}

fn run_of(row: &AnyRow) -> Result<Run> {
    Ok(Run {
        run_id: get(row, "run_id")?,
        model: get(row, "model")?,
        version: get(row, "version")?,
        source: get(row, "source")?,
        input_sha256: get(row, "input_sha256")?,
        customers: get(row, "customers")?,
        created_at: get(row, "created_at")?,
        as_of: get(row, "as_of")?,
        horizon_days: get(row, "horizon_days")?,
    })
}

fn prediction_of(row: &AnyRow) -> Result<StoredPrediction> {
    let reasons: String = get(row, "reasons")?;
    Ok(StoredPrediction {
        customer_id: get(row, "customer_id")?,
        score: get(row, "score")?,
        label: get(row, "label")?,
        reasons: serde_json::from_str(&reasons)
            .map_err(|e| StoreError::Invalid(format!("stored reasons are not readable: {e}")))?,
        details: get::<Option<String>>(row, "details")?
            .map(|d| serde_json::from_str(&d))
            .transpose()
            .map_err(|e| StoreError::Invalid(format!("stored details are not readable: {e}")))?,
    })
}
