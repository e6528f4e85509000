//! The dashboard: its page at `/` and its files under `/assets/` (no data in either, so no
//! token), and the analyses it draws under `/v1/analyses` (read scope). Pages are read as
//! stored; the customer page is built from the stored customer and the analysis's model, and
//! the models page from the registry: neither fits anything.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use retain_pipeline::analysis::{
    customer_page, models_page, production_page, production_records, CustomerModel,
};
use retain_store::{AnalysisCustomer, AnalysisInfo, Cursor, CustomerQuery, CustomerSort};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Authorized, Read};
use crate::error::{ApiError, ApiPath, ApiQuery, ErrorBody};
use crate::AppState;

type AppResult<T> = Result<T, ApiError>;

/// The page every analysis has besides its stored ones: the registry's models.
const MODELS_PAGE: &str = "models";
/// And the production loop's: pipeline runs, drift, performance, decisions.
const PRODUCTION_PAGE: &str = "production";

/// Headers of every dashboard file: no sniffing, no referrer, no framing.
fn hardened(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// The dashboard (HTML). It asks for a token unless the server runs with `--no-auth`.
#[utoipa::path(get, path = "/", responses((status = 200, description = "The dashboard", content_type = "text/html")), tag = "dashboard")]
pub async fn index(State(state): State<Arc<AppState>>) -> Response {
    hardened(
        (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CONTENT_SECURITY_POLICY, retain_ui::SERVED_CSP),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            retain_ui::served_page(state.config.auth),
        )
            .into_response(),
    )
}

/// A file of the dashboard: its script, style, ECharts and their licences.
#[utoipa::path(
    get,
    path = "/assets/{name}",
    params(("name" = String, Path)),
    responses(
        (status = 200, description = "The file", content_type = "text/javascript"),
        (status = 404, body = ErrorBody)
    ),
    tag = "dashboard"
)]
pub async fn asset(ApiPath(name): ApiPath<String>) -> AppResult<Response> {
    let asset = retain_ui::asset(&name).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, format!("no dashboard file {name:?}"))
    })?;
    // ECharts' name carries its version: cached for good. The dashboard's own files change
    // with retain: checked again each time.
    let cache = if asset.name == retain_ui::ECHARTS_NAME {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    Ok(hardened(
        (
            [
                (header::CONTENT_TYPE, asset.content_type),
                (header::CACHE_CONTROL, cache),
            ],
            asset.bytes,
        )
            .into_response(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AnalysisList {
    /// Newest first; each lists its pages, `models` last.
    pub analyses: Vec<AnalysisInfo>,
}

/// Every stored analysis, newest first.
#[utoipa::path(
    get,
    path = "/v1/analyses",
    responses((status = 200, body = AnalysisList)),
    security(("bearer" = ["read"])),
    tag = "dashboard"
)]
pub async fn list_analyses(
    _: Authorized<Read>,
    State(state): State<Arc<AppState>>,
) -> AppResult<Json<AnalysisList>> {
    let mut analyses = state.store.analyses().await?;
    for a in &mut analyses {
        a.pages.push(MODELS_PAGE.into());
        a.pages.push(PRODUCTION_PAGE.into());
    }
    Ok(Json(AnalysisList { analyses }))
}

/// A page of an analysis: its panels, each a chart and the table behind it.
#[utoipa::path(
    get,
    path = "/v1/analyses/{analysis_id}/pages/{page}",
    params(("analysis_id" = String, Path), ("page" = String, Path)),
    responses(
        (status = 200, description = "The page (panels with charts and tables)", content_type = "application/json", body = Object),
        (status = 404, body = ErrorBody)
    ),
    security(("bearer" = ["read"])),
    tag = "dashboard"
)]
pub async fn analysis_page(
    _: Authorized<Read>,
    State(state): State<Arc<AppState>>,
    ApiPath((analysis_id, page)): ApiPath<(String, String)>,
) -> AppResult<Response> {
    let body = if page == MODELS_PAGE {
        state.store.analysis(&analysis_id).await?;
        let versions = state.store.all_versions().await?;
        serde_json::to_string(&models_page(&versions)).expect("pages serialize")
    } else if page == PRODUCTION_PAGE {
        state.store.analysis(&analysis_id).await?;
        let (runs, models) = production_records(&state.store).await.map_err(|e| {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()).retry_after(1)
        })?;
        serde_json::to_string(&production_page(&runs, &models)).expect("pages serialize")
    } else {
        state.store.analysis_page(&analysis_id, &page).await?
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    Asc,
    #[default]
    Desc,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Answer {
    #[default]
    Json,
    Csv,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CustomersQuery {
    /// Only this segment.
    pub segment: Option<String>,
    /// Only this lifecycle stage (`new`, `active`, `at risk`, `lapsed`).
    pub stage: Option<String>,
    /// Churn risk at least this (0 to 1).
    #[param(minimum = 0, maximum = 1)]
    pub min_churn_risk: Option<f64>,
    /// What the customer has spent, at least this.
    #[param(minimum = 0)]
    pub min_value: Option<f64>,
    /// The order (default value_at_risk).
    #[param(inline)]
    pub sort: Option<CustomerSort>,
    /// Largest first unless asc (default desc).
    #[param(inline)]
    pub order: Option<Order>,
    /// Rows per page (default 100, at most 1,000; CSV: every row that matches).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Rows to skip (at most 10,000,000).
    #[param(minimum = 0, maximum = 10000000)]
    pub offset: Option<i64>,
    /// json (a page) or csv (every matching customer).
    #[param(inline)]
    pub format: Option<Answer>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerPage {
    /// Customers that match the filters, in all.
    pub total: i64,
    pub rows: Vec<AnalysisCustomer>,
}

/// Rows a CSV download reads from the store at a time.
const CSV_CHUNK: i64 = 10_000;

/// An analysis's customers: filtered, sorted, a page at a time, or all as CSV.
#[utoipa::path(
    get,
    path = "/v1/analyses/{analysis_id}/customers",
    params(("analysis_id" = String, Path), CustomersQuery),
    responses(
        (status = 200, description = "A page of the matching customers (JSON), or every one of them (format=csv)",
            content((CustomerPage = "application/json"), (String = "text/csv"))),
        (status = 404, body = ErrorBody)
    ),
    security(("bearer" = ["read"])),
    tag = "dashboard"
)]
pub async fn analysis_customers(
    _: Authorized<Read>,
    State(state): State<Arc<AppState>>,
    ApiPath(analysis_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<CustomersQuery>,
) -> AppResult<Response> {
    let bad = |field: &str, message: String| {
        Err(ApiError::new(StatusCode::BAD_REQUEST, message).field(field))
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return bad("limit", format!("limit must be 1 to 1000, found {limit}"));
    }
    let offset = q.offset.unwrap_or(0);
    if !(0..=10_000_000).contains(&offset) {
        return bad(
            "offset",
            format!("offset must be 0 to 10000000, found {offset}"),
        );
    }
    if let Some(r) = q.min_churn_risk.filter(|r| !(0.0..=1.0).contains(r)) {
        return bad(
            "min_churn_risk",
            format!("min_churn_risk must be 0 to 1, found {r}"),
        );
    }
    if let Some(v) = q.min_value.filter(|v| !(v.is_finite() && *v >= 0.0)) {
        return bad(
            "min_value",
            format!("min_value must be 0 or more, found {v}"),
        );
    }
    let query = CustomerQuery {
        segment: q.segment,
        stage: q.stage,
        min_churn_risk: q.min_churn_risk,
        min_value: q.min_value,
        sort: q.sort.unwrap_or_default(),
        ascending: matches!(q.order, Some(Order::Asc)),
        limit,
        offset,
        after: None,
    };
    match q.format.unwrap_or_default() {
        Answer::Json => {
            let (total, rows) = state.store.analysis_customers(&analysis_id, &query).await?;
            Ok(Json(CustomerPage { total, rows }).into_response())
        }
        Answer::Csv => csv_download(state, analysis_id, query).await,
    }
}

/// The CSV columns of a customer.
const CSV_HEADER: [&str; 11] = [
    "customer_id",
    "segment",
    "stage",
    "churn_risk",
    "p_alive",
    "expected_purchases",
    "clv",
    "historic_value",
    "value_at_risk",
    "next_purchase",
    "reasons",
];

fn csv_rows(rows: &[AnalysisCustomer], header: bool) -> Vec<u8> {
    let mut out = csv::Writer::from_writer(Vec::new());
    if header {
        out.write_record(CSV_HEADER).expect("writes to memory");
    }
    let number = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    for c in rows {
        let reasons = c
            .reasons
            .as_array()
            .map(|r| {
                r.iter()
                    .map(|x| {
                        format!(
                            "{} {:+.4}",
                            x["feature"].as_str().unwrap_or(""),
                            x["contribution"].as_f64().unwrap_or(f64::NAN)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        out.write_record([
            c.customer_id.clone(),
            c.segment.clone(),
            c.stage.clone(),
            c.churn_risk.to_string(),
            number(c.p_alive),
            number(c.expected_purchases),
            number(c.clv),
            c.historic_value.to_string(),
            c.value_at_risk.to_string(),
            c.next_purchase.clone().unwrap_or_default(),
            reasons,
        ])
        .expect("writes to memory");
    }
    out.into_inner().expect("writes to memory")
}

/// Every matching customer as CSV, read from the store a chunk at a time while it is sent
/// (memory stays at one chunk whatever the analysis's size; each chunk starts where the last
/// ended, so a million rows are read once).
async fn csv_download(
    state: Arc<AppState>,
    analysis_id: String,
    query: CustomerQuery,
) -> AppResult<Response> {
    // The first chunk before the answer starts: an unknown analysis is a 404, not a broken
    // download.
    let query = CustomerQuery {
        offset: 0,
        limit: CSV_CHUNK,
        after: None,
        ..query
    };
    let (_, rows) = state.store.analysis_customers(&analysis_id, &query).await?;
    let next = next_chunk(&query, &rows);
    let head = csv_rows(&rows, true);
    let rest = futures::stream::unfold(
        (state, analysis_id, query, next),
        |(state, analysis_id, query, next)| async move {
            let chunk = CustomerQuery {
                after: Some(next?),
                ..query.clone()
            };
            match state.store.analysis_customers(&analysis_id, &chunk).await {
                Ok((_, rows)) => {
                    let next = next_chunk(&chunk, &rows);
                    Some((
                        Ok::<_, std::io::Error>(csv_rows(&rows, false)),
                        (state, analysis_id, query, next),
                    ))
                }
                // The answer has started: cut it short so the client sees a failed download.
                Err(e) => Some((
                    Err(std::io::Error::other(e.to_string())),
                    (state, analysis_id, query, None),
                )),
            }
        },
    );
    let body = futures::StreamExt::chain(
        futures::stream::once(async move { Ok::<_, std::io::Error>(head) }),
        rest,
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"customers.csv\"",
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// Where the next chunk starts: after the last row of a full chunk; none after a short one.
fn next_chunk(query: &CustomerQuery, rows: &[AnalysisCustomer]) -> Option<Cursor> {
    if (rows.len() as i64) < CSV_CHUNK {
        return None;
    }
    rows.last().map(|last| query.cursor_of(last))
}

/// One customer of an analysis: purchases, P(alive) over time, reasons, and segment and stage
/// in every analysis of the same name.
#[utoipa::path(
    get,
    path = "/v1/analyses/{analysis_id}/customers/{customer_id}",
    params(("analysis_id" = String, Path), ("customer_id" = String, Path)),
    responses(
        (status = 200, description = "The customer page (panels with charts and tables)", content_type = "application/json", body = Object),
        (status = 404, body = ErrorBody)
    ),
    security(("bearer" = ["read"])),
    tag = "dashboard"
)]
pub async fn analysis_customer(
    _: Authorized<Read>,
    State(state): State<Arc<AppState>>,
    ApiPath((analysis_id, customer_id)): ApiPath<(String, String)>,
) -> AppResult<Response> {
    let info = state.store.analysis(&analysis_id).await?;
    let stored = state
        .store
        .analysis_customer(&analysis_id, &customer_id)
        .await?;
    let model: CustomerModel =
        serde_json::from_value(state.store.analysis_model(&analysis_id).await?).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the analysis's model does not read: {e}"),
            )
        })?;
    let across = state
        .store
        .customer_across_analyses(&info.name, &customer_id)
        .await?;
    let page = customer_page(&info, &model, &stored, &across)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(page).into_response())
}
