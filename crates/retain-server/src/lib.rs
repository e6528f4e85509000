//! retain's JSON HTTP API (axum): predictions with their reasons from registered model
//! versions, the registry's models and aliases, batch jobs, stored predictions by run and by
//! customer, `/healthz`, `/metrics` (Prometheus) and `/openapi.json` (generated from the
//! handlers). The handlers are thin: scoring is `retain-scoring`'s, storage `retain-store`'s.

mod api;
mod auth;
mod error;
mod jobs;
mod metrics;
mod models;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use retain_store::Store;
use serde::Serialize;
use utoipa::OpenApi;

pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use jobs::{BatchJob, BatchJobRequest, JobState};

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Require bearer tokens (`false`: `--no-auth`, every caller is admin).
    pub auth: bool,
    /// Largest request body, in bytes (413 above it).
    pub max_body: usize,
    /// How often aliases are read again from the store (moves made by other processes).
    pub alias_refresh: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            auth: true,
            max_body: 16 << 20,
            alias_refresh: Duration::from_secs(1),
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
            models: models::Models::new(store.clone()).await?,
            store,
            config,
            tokens: auth::TokenCache::default(),
            metrics: metrics::Metrics::default(),
            jobs: Arc::default(),
        }))
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "retain",
        description = "Customer retention and lifetime value: predictions with reasons from \
                       registered models, the model registry, batch scoring and stored \
                       predictions. Send `Authorization: Bearer TOKEN` (`retain token create`)."
    ),
    paths(
        api::predict,
        api::list_models,
        api::show_model,
        api::show_version,
        api::move_alias,
        api::start_batch_job,
        api::batch_job,
        api::list_batch_jobs,
        api::list_runs,
        api::run_predictions,
        api::customer_predictions,
        healthz,
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The OpenAPI document of the API.
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the document serializes")
}

#[derive(Serialize, utoipa::ToSchema)]
struct Health {
    status: &'static str,
    store: &'static str,
    models: usize,
}

/// Whether the server and its store answer.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health), (status = 503, body = ErrorBody)), tag = "service")]
async fn healthz(State(state): State<Arc<AppState>>) -> Result<Json<Health>, ApiError> {
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

async fn metrics_text(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], openapi_json())
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such endpoint; /openapi.json lists them",
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
        .route("/v1/batch-jobs/{job_id}", get(api::batch_job))
        .route("/v1/runs", get(api::list_runs))
        .route("/v1/runs/{run_id}", get(api::run_predictions))
        .route(
            "/v1/customers/{customer_id}/predictions",
            get(api::customer_predictions),
        )
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(state.config.max_body))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` completes; requests in flight are finished
/// first. Aliases are read again from the store every `config.alias_refresh`.
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
    let result = axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    refresher.abort();
    result
}
