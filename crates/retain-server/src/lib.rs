//! retain's JSON HTTP API (axum): predictions with their reasons from registered model
//! versions, the registry's models and aliases, batch jobs, stored predictions by run and by
//! customer, `/healthz`, `/metrics` (Prometheus) and `/openapi.json` (generated from the
//! handlers). The handlers are thin: scoring is `retain-scoring`'s, storage `retain-store`'s.
//!
//! The server expects strangers: it reads files only inside the data folder it was given
//! (`data_dir`), bounds what a request may send and how long it may take (`limits`), keeps
//! no more in memory than bounded caches, and answers every error in one JSON shape.

mod api;
mod auth;
mod dashboard;
pub mod data_dir;
mod error;
mod jobs;
mod limits;
mod listen;
mod metrics;
mod models;
mod monitoring;
mod openapi;
pub mod schedule;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use retain_store::Store;
use serde::Serialize;

pub use data_dir::{DataDir, DataDirError};
pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use jobs::{BatchJob, BatchJobRequest, JobState};
pub use limits::Limits;
pub use openapi::openapi_json;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Require bearer tokens (`false`: `--no-auth`, every caller is admin).
    pub auth: bool,
    /// Largest request body, in bytes (413 above it).
    pub max_body: usize,
    /// How often aliases are read again from the store (moves made by other processes).
    pub alias_refresh: Duration,
    /// The folder batch jobs may read customer files from; none: jobs take customers in the
    /// request only.
    pub data_dir: Option<DataDir>,
    pub limits: Limits,
    /// Pipelines run on their cron schedules while the server runs (`--schedule DIR`).
    pub schedule: Option<schedule::Schedule>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            auth: true,
            max_body: 16 << 20,
            alias_refresh: Duration::from_secs(1),
            data_dir: None,
            limits: Limits::default(),
            schedule: None,
        }
    }
}

/// What every handler shares.
pub struct AppState {
    pub store: Store,
    pub config: ServerConfig,
    models: models::Models,
    tokens: auth::TokenCache,
    metrics: metrics::Metrics,
    jobs: Arc<jobs::Jobs>,
}

impl AppState {
    pub async fn new(store: Store, config: ServerConfig) -> Result<Arc<AppState>, ApiError> {
        Ok(Arc::new(AppState {
            models: models::Models::new(store.clone(), config.limits.loaded_versions).await?,
            store,
            config,
            tokens: auth::TokenCache::default(),
            metrics: metrics::Metrics::default(),
            jobs: Arc::default(),
        }))
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Health {
    status: &'static str,
    store: &'static str,
    models: usize,
}

/// Whether the server and its store answer.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health)), tag = "service")]
pub(crate) async fn healthz(State(state): State<Arc<AppState>>) -> Result<Json<Health>, ApiError> {
    let models = state.store.models().await?.len();
    Ok(Json(Health {
        status: "ok",
        store: match state.store.backend() {
            retain_store::Backend::Sqlite => "sqlite",
            retain_store::Backend::Postgres => "postgres",
        },
        models,
    }))
}

/// Prometheus metrics: requests by route and status, latency, predictions by model version.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text")), tag = "service")]
pub(crate) async fn metrics_text(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    state.metrics.set_loaded_versions(state.models.loaded());
    // A store that does not answer now leaves the last values known.
    if let Ok(reports) = state.store.latest_drift().await {
        state.metrics.set_drift(&reports);
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", responses((status = 200, description = "The OpenAPI document", content_type = "application/json")), tag = "service")]
pub(crate) async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], openapi_json())
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such endpoint; /openapi.json lists them",
    )
}

async fn method_not_allowed(request: axum::extract::Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} is not a method of {}; /openapi.json lists each endpoint's",
            request.method(),
            request.uri().path()
        ),
    )
}

/// The API's routes over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/models", get(api::list_models))
        .route("/v1/models/{name}", get(api::show_model))
        .route(
            "/v1/models/{name}/versions/{version}",
            get(api::show_version),
        )
        .route("/v1/models/{name}/predict", post(api::predict))
        .route("/v1/models/{name}/aliases/{alias}", post(api::move_alias))
        .route(
            "/v1/batch-jobs",
            post(api::start_batch_job).get(api::list_batch_jobs),
        )
        .route(
            "/v1/batch-jobs/{job_id}",
            get(api::batch_job).delete(api::cancel_batch_job),
        )
        .route("/v1/models/{name}/drift", get(monitoring::model_drift))
        .route(
            "/v1/models/{name}/performance",
            get(monitoring::model_performance),
        )
        .route(
            "/v1/models/{name}/decisions",
            get(monitoring::model_decisions),
        )
        .route("/v1/pipeline-runs", get(monitoring::list_pipeline_runs))
        .route("/v1/pipeline-runs/{run_id}", get(monitoring::pipeline_run))
        .route("/v1/runs", get(api::list_runs))
        .route("/v1/runs/{run_id}", get(api::run_predictions))
        .route(
            "/v1/customers/{customer_id}/predictions",
            get(api::customer_predictions),
        )
        .route("/", get(dashboard::index))
        .route("/assets/{name}", get(dashboard::asset))
        .route("/v1/analyses", get(dashboard::list_analyses))
        .route(
            "/v1/analyses/{analysis_id}/pages/{page}",
            get(dashboard::analysis_page),
        )
        .route(
            "/v1/analyses/{analysis_id}/customers",
            get(dashboard::analysis_customers),
        )
        .route(
            "/v1/analyses/{analysis_id}/customers/{customer_id}",
            get(dashboard::analysis_customer),
        )
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(state.config.max_body))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` completes; then takes no new connection or
/// job, cancels the jobs not finished (nothing of them is stored) and lets requests in flight
/// finish within `limits.shutdown_grace`. Aliases are read again from the store every
/// `config.alias_refresh`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let refresher = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(state.config.alias_refresh);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                // A store that does not answer now may later; the aliases known stay.
                let _ = state.models.refresh_aliases().await;
            }
        })
    };
    let scheduled = match &state.config.schedule {
        Some(schedule) => schedule.spawn(
            state.store.clone(),
            retain_pipeline::pipeline::RunOptions::default(),
        ),
        None => Vec::new(),
    };
    let jobs = state.jobs.clone();
    let shutdown = async move {
        shutdown.await;
        jobs.cancel_all();
    };
    let limits = state.config.limits.clone();
    let result = listen::serve_connections(listener, router(state), &limits, shutdown).await;
    refresher.abort();
    // A pipeline run stopped here is completed by the next run of its inputs.
    for task in scheduled {
        task.abort();
    }
    result
}
