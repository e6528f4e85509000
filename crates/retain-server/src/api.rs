//! The `/v1` handlers: each reads its input, checks the caller's scope, asks the library
//! (`retain-scoring`, `retain-store`) and writes JSON. No statistics and no SQL here.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use retain_scoring::batch::{BatchOptions, ModelRef, Selector, DEFAULT_ALIAS};
use retain_scoring::{JsonScoring, Prediction, UnseenLevels};
use retain_store::{Alias, AliasMove, ModelSummary, ModelVersion, Run, StoredPrediction};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Admin, Authorized, Predict, Read};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::jobs::{BatchJob, BatchJobRequest, JobRefused};
use crate::AppState;

type AppResult<T> = Result<T, ApiError>;

/// `POST /v1/models/{name}/predict`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PredictRequest {
    /// One object per customer: every feature of the model (null when unknown), and
    /// `customer_id` optionally. For a model trained from a transaction log, the customer's
    /// own `transactions` (`[{"date": "YYYY-MM-DD", "amount": 12.5}, …]`) and the attributes
    /// it was trained with; its features are made from them as at training.
    #[schema(value_type = Vec<Object>, min_items = 1, max_items = 100000)]
    pub customers: Vec<serde_json::Map<String, serde_json::Value>>,
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

/// How customers are answered beyond their own fields, as a prediction or a batch job's
/// request gives it (`at`, `horizon`, `clv_months`, `discount`; documented on each request).
#[derive(Debug, Clone, Default)]
pub struct AnswerSettings {
    pub at: Option<String>,
    pub horizon: Option<f64>,
    pub clv_months: Option<u32>,
    pub discount: Option<f64>,
}

/// Checked settings: the day, horizon, CLV months and discount.
pub struct CheckedSettings {
    pub at: Option<i32>,
    pub horizon: Option<f64>,
    pub clv_months: Option<u32>,
    pub discount: Option<f64>,
}

impl AnswerSettings {
    /// The settings, or a 422 naming the first out of range.
    pub fn check(&self) -> Result<CheckedSettings, ApiError> {
        let bad = |field: &str, message: String| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message).field(field)
        };
        let at = match &self.at {
            None => None,
            Some(text) => Some(
                retain_scoring::parse_day(text)
                    .ok_or_else(|| bad("at", "expected a date as YYYY-MM-DD".into()))?,
            ),
        };
        if let Some(h) = self.horizon {
            if !(0.0..=100_000.0).contains(&h) {
                return Err(bad("horizon", format!("expected 0 to 100000, found {h}")));
            }
        }
        if let Some(m) = self.clv_months {
            if !(1..=MAX_CLV_MONTHS).contains(&m) {
                return Err(bad(
                    "clv_months",
                    format!("expected 1 to {MAX_CLV_MONTHS}, found {m}"),
                ));
            }
        }
        if let Some(d) = self.discount {
            if !(0.0..=1.0).contains(&d) {
                return Err(bad("discount", format!("expected 0 to 1, found {d}")));
            }
        }
        Ok(CheckedSettings {
            at,
            horizon: self.horizon,
            clv_months: self.clv_months,
            discount: self.discount,
        })
    }
}

/// CLV months at most: the cost of a CLV grows with its months.
pub const MAX_CLV_MONTHS: u32 = 120;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PredictQuery {
    /// The alias to answer with (default `production`).
    pub alias: Option<String>,
    /// A version to answer with, instead of an alias (with `alias` too: 409 unless the alias
    /// points at it).
    pub version: Option<i64>,
    /// Reasons per customer (default 3; 0 for none; at most 1,000).
    #[param(minimum = 0, maximum = 1000)]
    pub reasons: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PredictResponse {
    pub model: String,
    /// The version that answered.
    pub version: i64,
    /// The alias the version was reached through, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    #[schema(value_type = Vec<retain_scoring::PredictionSchema>)]
    pub predictions: Vec<Prediction>,
    /// Category values the model never saw at training (scored as missing).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unseen: Vec<UnseenLevels>,
}

/// Customers per request at most.
pub const MAX_CUSTOMERS: usize = 100_000;
/// Reasons per customer at most (a model has fewer features than that).
pub const MAX_REASONS: usize = 1_000;

/// Score customers with their reasons.
#[utoipa::path(
    post,
    path = "/v1/models/{name}/predict",
    params(("name" = String, Path, description = "Model name"), PredictQuery),
    request_body = PredictRequest,
    responses(
        (status = 200, body = PredictResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such model, version or alias", body = ErrorBody),
        (status = 409, description = "The version does not answer predictions (a segmentation), or the alias does not point at the version given", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "A field the model cannot read (named)", body = ErrorBody),
    ),
    security(("bearer" = ["predict"])),
    tag = "predictions"
)]
pub async fn predict(
    _: Authorized<Predict>,
    State(state): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<PredictQuery>,
    ApiJson(request): ApiJson<PredictRequest>,
) -> AppResult<Json<PredictResponse>> {
    let selector = match (query.version, &query.alias) {
        (Some(v), _) => Selector::Version(v),
        (None, alias) => Selector::Alias(alias.clone().unwrap_or_else(|| DEFAULT_ALIAS.into())),
    };
    let (version, scorer) = state.models.resolve(&name, &selector).await?;
    // Both given: the version, if the alias still points at it (a client's check that the
    // alias has not moved).
    if let (Some(version), Some(alias)) = (query.version, &query.alias) {
        let (pointed, _) = state
            .models
            .resolve(&name, &Selector::Alias(alias.clone()))
            .await?;
        if pointed != version {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("alias {alias} of {name} points at version {pointed}, not {version}"),
            )
            .answered_by(&name, pointed));
        }
    }
    if request.customers.is_empty() || request.customers.len() > MAX_CUSTOMERS {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "expected 1 to {MAX_CUSTOMERS} customers, found {}",
                request.customers.len()
            ),
        )
        .field("customers")
        .answered_by(&name, version));
    }
    let reasons = query.reasons.unwrap_or(3);
    if reasons > MAX_REASONS {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("reasons must be 0 to {MAX_REASONS}, found {reasons}"),
        )
        .field("reasons"));
    }
    let settings = AnswerSettings {
        at: request.at.clone(),
        horizon: request.horizon,
        clv_months: request.clv_months,
        discount: request.discount,
    }
    .check()
    .map_err(|e| e.answered_by(&name, version))?;
    let how = JsonScoring {
        reasons,
        at: settings.at,
        horizon: settings.horizon,
        clv_months: settings.clv_months,
        discount: settings.discount,
    };
    let customers = request.customers;
    // Scoring is CPU work: off the async threads when the batch is large.
    let scored = if customers.len() <= 64 {
        scorer.score_json_with(&customers, &how)
    } else {
        tokio::task::spawn_blocking(move || scorer.score_json_with(&customers, &how))
            .await
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    }
    .map_err(|e| ApiError::from(e).answered_by(&name, version))?;
    state
        .metrics
        .count_predictions(&name, version, scored.predictions.len());
    Ok(Json(PredictResponse {
        alias: match selector {
            Selector::Alias(a) => Some(a),
            Selector::Version(_) => None,
        },
        model: name,
        version,
        predictions: scored.predictions,
        unseen: scored.unseen,
    }))
}

/// Every registered model with its versions and aliases.
#[utoipa::path(
    get,
    path = "/v1/models",
    responses((status = 200, body = Vec<ModelSummary>), (status = 401, body = ErrorBody)),
    security(("bearer" = ["read"])),
    tag = "registry"
)]
pub async fn list_models(
    _: Authorized<Read>,
    State(state): State<Arc<AppState>>,
) -> AppResult<Json<Vec<ModelSummary>>> {
    Ok(Json(state.store.models().await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelDetail {
    pub name: String,
    pub versions: Vec<ModelVersion>,
    pub aliases: Vec<Alias>,
}

/// A model's versions (metadata: kind, metrics, parameters, feature schema) and aliases.
#[utoipa::path(
    get,
    path = "/v1/models/{name}",
    params(("name" = String, Path, description = "Model name")),
    responses((status = 200, body = ModelDetail), (status = 404, body = ErrorBody)),
    security(("bearer" = ["read"])),
    tag = "registry"
)]
pub async fn show_model(
    _: Authorized<Read>,
    State(state): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
) -> AppResult<Json<ModelDetail>> {
    let versions = state.store.versions(&name).await?;
    let aliases = state.store.aliases(&name).await?;
    Ok(Json(ModelDetail {
        name,
        versions,
        aliases,
    }))
}

/// One version's metadata.
#[utoipa::path(
    get,
    path = "/v1/models/{name}/versions/{version}",
    params(("name" = String, Path), ("version" = i64, Path)),
    responses((status = 200, body = ModelVersion), (status = 404, body = ErrorBody)),
    security(("bearer" = ["read"])),
    tag = "registry"
)]
pub async fn show_version(
    _: Authorized<Read>,
    State(state): State<Arc<AppState>>,
    ApiPath((name, version)): ApiPath<(String, i64)>,
) -> AppResult<Json<ModelVersion>> {
    Ok(Json(state.store.version(&name, version).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AliasRequest {
    #[serde(deserialize_with = "crate::error::whole_number")]
    pub version: i64,
}

/// Point an alias at a version; the server answers with it from the next request on.
#[utoipa::path(
    post,
    path = "/v1/models/{name}/aliases/{alias}",
    params(("name" = String, Path), ("alias" = String, Path)),
    request_body = AliasRequest,
    responses(
        (status = 200, body = AliasMove),
        (status = 403, description = "Needs an admin token", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = ["admin"])),
    tag = "registry"
)]
pub async fn move_alias(
    _: Authorized<Admin>,
    State(state): State<Arc<AppState>>,
    ApiPath((name, alias)): ApiPath<(String, String)>,
    ApiJson(request): ApiJson<AliasRequest>,
) -> AppResult<Json<AliasMove>> {
    Ok(Json(
        state
            .models
            .move_alias(&name, &alias, request.version)
            .await?,
    ))
}

/// Score customers, sent in the request or in a file of the server's data folder, and store
/// the predictions as a run. Jobs run one at a time; a few more wait.
#[utoipa::path(
    post,
    path = "/v1/batch-jobs",
    request_body = BatchJobRequest,
    responses(
        (status = 202, description = "Queued; poll its location", body = BatchJob),
        (status = 404, description = "No such model, version or alias", body = ErrorBody),
        (status = 422, description = "No customers, or a file the server does not read (named)", body = ErrorBody),
        (status = 429, description = "As many jobs wait or run as the server takes; try again after Retry-After seconds", body = ErrorBody),
    ),
    security(("bearer" = ["admin"])),
    tag = "batch"
)]
pub async fn start_batch_job(
    _: Authorized<Admin>,
    State(state): State<Arc<AppState>>,
    ApiJson(mut request): ApiJson<BatchJobRequest>,
) -> AppResult<impl IntoResponse> {
    let model: ModelRef = request
        .model
        .parse()
        .map_err(|e: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e).field("model"))?;
    // The model must exist now: a typo is answered at once, not by a failed job.
    model.resolve(&state.store).await?;
    let input = crate::jobs::input_of(&mut request, state.config.data_dir.as_ref())?;
    let settings = AnswerSettings {
        at: request.at.clone(),
        horizon: request.horizon,
        clv_months: request.clv_months,
        discount: request.discount,
    }
    .check()?;
    let options = BatchOptions {
        id_col: request.id_col,
        reasons: request.reasons.unwrap_or(3),
        at: settings.at,
        horizon: settings.horizon,
        clv_months: settings.clv_months,
        discount: settings.discount,
        ..BatchOptions::default()
    };
    let data_dir = state.config.data_dir.clone();
    let job = state
        .jobs
        .start(
            state.store.clone(),
            model,
            input,
            request.customers_file,
            options,
            move |message| match &data_dir {
                Some(dir) => dir.relative_message(&message),
                None => message,
            },
        )
        .map_err(|refused| match refused {
            // The caller's own flood of jobs: come back later.
            JobRefused::Busy => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, refused.to_string()).retry_after(10)
            }
            JobRefused::Stopping => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, refused.to_string())
            }
        })?;
    let location = format!("/v1/batch-jobs/{}", job.job_id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(job),
    ))
}

fn no_job(job_id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no batch job {job_id} (jobs are kept while the server runs; runs are kept in the store)"),
    )
}

/// Cancel a batch job that has not finished (it stops and stores nothing) and forget it; the
/// answer is the job as it ended. A run a finished job stored stays in the store.
#[utoipa::path(
    delete,
    path = "/v1/batch-jobs/{job_id}",
    params(("job_id" = String, Path)),
    responses((status = 200, body = BatchJob), (status = 404, body = ErrorBody)),
    security(("bearer" = ["admin"])),
    tag = "batch"
)]
pub async fn cancel_batch_job(
    _: Authorized<Admin>,
    State(state): State<Arc<AppState>>,
    ApiPath(job_id): ApiPath<String>,
) -> AppResult<Json<BatchJob>> {
    state
        .jobs
        .cancel_and_forget(&job_id)
        .map(Json)
        .ok_or_else(|| no_job(&job_id))
}

/// A batch job's state and, when done, its run.
#[utoipa::path(
    get,
    path = "/v1/batch-jobs/{job_id}",
    params(("job_id" = String, Path)),
    responses((status = 200, body = BatchJob), (status = 404, body = ErrorBody)),
    security(("bearer" = ["read"])),
    tag = "batch"
)]
pub async fn batch_job(
    _: Authorized<Read>,
    State(state): State<Arc<AppState>>,
    ApiPath(job_id): ApiPath<String>,
) -> AppResult<Json<BatchJob>> {
    state
        .jobs
        .get(&job_id)
        .map(Json)
        .ok_or_else(|| no_job(&job_id))
}

/// The batch jobs of this server's life (the newest finished ones), newest first.
#[utoipa::path(
    get,
    path = "/v1/batch-jobs",
    responses((status = 200, body = Vec<BatchJob>)),
    security(("bearer" = ["read"])),
    tag = "batch"
)]
pub async fn list_batch_jobs(
    _: Authorized<Read>,
    State(state): State<Arc<AppState>>,
) -> Json<Vec<BatchJob>> {
    Json(state.jobs.list())
}

/// Every stored run, newest first.
#[utoipa::path(
    get,
    path = "/v1/runs",
    responses((status = 200, body = Vec<Run>)),
    security(("bearer" = ["read"])),
    tag = "stored predictions"
)]
pub async fn list_runs(
    _: Authorized<Read>,
    State(state): State<Arc<AppState>>,
) -> AppResult<Json<Vec<Run>>> {
    Ok(Json(state.store.runs().await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Customers after this id (the previous page's `next_after`).
    pub after: Option<String>,
    /// Predictions per page (default 1,000, at most 10,000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunPage {
    pub run: Run,
    /// In customer id order.
    pub predictions: Vec<StoredPrediction>,
    /// Pass as `?after=` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// A run's predictions, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/runs/{run_id}",
    params(("run_id" = String, Path), PageQuery),
    responses((status = 200, body = RunPage), (status = 404, body = ErrorBody)),
    security(("bearer" = ["read"])),
    tag = "stored predictions"
)]
pub async fn run_predictions(
    _: Authorized<Read>,
    State(state): State<Arc<AppState>>,
    ApiPath(run_id): ApiPath<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> AppResult<Json<RunPage>> {
    let limit = page.limit.unwrap_or(1_000);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("limit must be 1 to 10000, found {limit}"),
        )
        .field("limit"));
    }
    let run = state.store.run(&run_id).await?;
    let predictions = state
        .store
        .predictions_of_run(&run_id, page.after.as_deref(), limit)
        .await?;
    let next_after = (predictions.len() as i64 == limit)
        .then(|| predictions.last().map(|p| p.customer_id.clone()))
        .flatten();
    Ok(Json(RunPage {
        run,
        predictions,
        next_after,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerPrediction {
    pub run: Run,
    pub prediction: StoredPrediction,
}

/// A customer's stored predictions in every run, newest first.
#[utoipa::path(
    get,
    path = "/v1/customers/{customer_id}/predictions",
    params(("customer_id" = String, Path)),
    responses((status = 200, body = Vec<CustomerPrediction>)),
    security(("bearer" = ["read"])),
    tag = "stored predictions"
)]
pub async fn customer_predictions(
    _: Authorized<Read>,
    State(state): State<Arc<AppState>>,
    ApiPath(customer_id): ApiPath<String>,
) -> AppResult<Json<Vec<CustomerPrediction>>> {
    Ok(Json(
        state
            .store
            .predictions_of_customer(&customer_id)
            .await?
            .into_iter()
            .map(|(run, prediction)| CustomerPrediction { run, prediction })
            .collect(),
    ))
}
