//! How the models fare in production, read from the store (read scope): the pipeline runs
//! (`retain run`, `retain serve --schedule`) with their steps, and each model's drift reports
//! (written with its scoring runs). Nothing here runs or fits anything.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use retain_store::{PipelineRun, PipelineStep, StoredDecision, StoredDrift, StoredPerformance};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Authorized, Read};
use crate::error::{ApiError, ApiPath, ApiQuery, ErrorBody};
use crate::AppState;

type AppResult<T> = Result<T, ApiError>;

/// Rows of a listing when the request does not say, and at most.
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 1000;

fn limit(requested: Option<i64>) -> AppResult<i64> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            format!("limit must be 1 to {MAX_LIMIT}, found {n}"),
        )
        .field("limit")),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PipelineRunsQuery {
    /// Only this pipeline's runs.
    pub pipeline: Option<String>,
    /// Runs at most (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// Pipeline runs, newest first: status (`running`, `interrupted`, `succeeded`, `failed`),
/// cutoff, duration, the rows read and used, the model versions before and after.
#[utoipa::path(
    get,
    path = "/v1/pipeline-runs",
    params(PipelineRunsQuery),
    responses((status = 200, body = Vec<PipelineRun>)),
    security(("bearer" = ["read"])),
    tag = "monitoring"
)]
pub async fn list_pipeline_runs(
    _: Authorized<Read>,
    State(state): State<Arc<AppState>>,
    ApiQuery(q): ApiQuery<PipelineRunsQuery>,
) -> AppResult<Json<Vec<PipelineRun>>> {
    let limit = limit(q.limit)?;
    Ok(Json(
        state
            .store
            .pipeline_runs(q.pipeline.as_deref(), limit)
            .await?,
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineRunDetail {
    pub run: PipelineRun,
    /// The steps done, in the order they finished.
    pub steps: Vec<PipelineStep>,
}

/// One pipeline run with what each of its steps did.
#[utoipa::path(
    get,
    path = "/v1/pipeline-runs/{run_id}",
    params(("run_id" = String, Path)),
    responses((status = 200, body = PipelineRunDetail), (status = 404, body = ErrorBody)),
    security(("bearer" = ["read"])),
    tag = "monitoring"
)]
pub async fn pipeline_run(
    _: Authorized<Read>,
    State(state): State<Arc<AppState>>,
    ApiPath(run_id): ApiPath<String>,
) -> AppResult<Json<PipelineRunDetail>> {
    let run = state.store.pipeline_run(&run_id).await?;
    let steps = state.store.pipeline_steps(&run_id).await?;
    Ok(Json(PipelineRunDetail { run, steps }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DriftQuery {
    /// Reports at most (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// A model's drift reports, one per scoring run, newest day first: per feature the test
/// (`method`), its `statistic`, `threshold`, `drift`, `psi`, missing and unseen shares; the
/// prediction's drift; whether the data set drifts.
#[utoipa::path(
    get,
    path = "/v1/models/{name}/drift",
    params(("name" = String, Path), DriftQuery),
    responses((status = 200, body = Vec<StoredDrift>), (status = 404, body = ErrorBody)),
    security(("bearer" = ["read"])),
    tag = "monitoring"
)]
pub async fn model_drift(
    _: Authorized<Read>,
    State(state): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<DriftQuery>,
) -> AppResult<Json<Vec<StoredDrift>>> {
    let limit = limit(q.limit)?;
    // An unknown name is a 404, not an empty list.
    state.store.versions(&name).await?;
    Ok(Json(state.store.drift_of_model(&name, limit).await?))
}

/// A model's performance by scoring run, oldest day first: realised (its predictions against
/// what happened, once the horizon passed) and estimated (CBPE, from its own probabilities,
/// before). Churn: AUC, log loss, Brier, churn rate, calibration; purchase models: predicted
/// and actual purchases and spend.
#[utoipa::path(
    get,
    path = "/v1/models/{name}/performance",
    params(("name" = String, Path)),
    responses((status = 200, body = Vec<StoredPerformance>), (status = 404, body = ErrorBody)),
    security(("bearer" = ["read"])),
    tag = "monitoring"
)]
pub async fn model_performance(
    _: Authorized<Read>,
    State(state): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
) -> AppResult<Json<Vec<StoredPerformance>>> {
    state.store.versions(&name).await?;
    Ok(Json(state.store.performance_of_model(&name).await?))
}

/// A model's champion/challenger decisions, newest first, each with its evidence: both
/// models' metrics on the window, the margins, the checks, the reason.
#[utoipa::path(
    get,
    path = "/v1/models/{name}/decisions",
    params(("name" = String, Path)),
    responses((status = 200, body = Vec<StoredDecision>), (status = 404, body = ErrorBody)),
    security(("bearer" = ["read"])),
    tag = "monitoring"
)]
pub async fn model_decisions(
    _: Authorized<Read>,
    State(state): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
) -> AppResult<Json<Vec<StoredDecision>>> {
    state.store.versions(&name).await?;
    Ok(Json(state.store.decisions_of_model(&name).await?))
}
