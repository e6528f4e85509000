//! Errors as the API sends them: a status and `{"error": {"status", "message", "field"?,
//! "model"?, "version"?}}`, the field named when one field is to blame, the model version named
//! when one had been chosen.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use retain_scoring::batch::BatchError;
use retain_scoring::ScoringError;
use retain_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub status: u16,
    pub message: String,
    /// The input field at fault: `customers[3].tenure`, `version`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: ErrorDetail,
    /// Seconds after which the request may succeed (`Retry-After`), for 503s.
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            detail: ErrorDetail {
                status: status.as_u16(),
                message: message.into(),
                field: None,
                model: None,
                version: None,
            },
            retry_after: None,
        }
    }

    pub fn retry_after(mut self, seconds: u32) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }

    pub fn field(mut self, field: impl Into<String>) -> ApiError {
        self.detail.field = Some(field.into());
        self
    }

    /// Names the model version the request was for.
    pub fn answered_by(mut self, model: &str, version: i64) -> ApiError {
        self.detail.model = Some(model.to_string());
        self.detail.version = Some(version);
        self
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(ErrorBody { error: self.detail })).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, m),
            StoreError::Invalid(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m),
            StoreError::Database(e) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("store: {e}")).retry_after(1)
            }
        }
    }
}

impl From<ScoringError> for ApiError {
    fn from(e: ScoringError) -> ApiError {
        match e {
            ScoringError::Input(input) => {
                let field = format!("customers[{}].{}", input.customer, input.field);
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, input.to_string()).field(field)
            }
            ScoringError::Request { field, problem } => {
                let message = format!("{field}: {problem}");
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message).field(field)
            }
            // The request is fine; the version is of a kind that does not answer it.
            ScoringError::NotServable(m) => ApiError::new(StatusCode::CONFLICT, m),
            ScoringError::Model(m) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m.to_string())
            }
            ScoringError::Artifact(m) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the registered artifact does not load: {m}"),
            ),
        }
    }
}

impl From<BatchError> for ApiError {
    fn from(e: BatchError) -> ApiError {
        match e {
            BatchError::Store(e) => e.into(),
            BatchError::Scoring(e) => e.into(),
            other => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, other.to_string()),
        }
    }
}

/// Whether a body error was its deadline passing (`limits`).
fn body_timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<crate::limits::BodyTimedOut>() {
            return true;
        }
        cause = e.source();
    }
    false
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        let status = match &rejection {
            JsonRejection::JsonSyntaxError(_) => StatusCode::BAD_REQUEST,
            JsonRejection::JsonDataError(_) => StatusCode::UNPROCESSABLE_ENTITY,
            JsonRejection::BytesRejection(_) if body_timed_out(&rejection) => {
                StatusCode::REQUEST_TIMEOUT
            }
            other => other.status(),
        };
        let message = match status {
            StatusCode::PAYLOAD_TOO_LARGE => {
                "the body is larger than the server takes (retain serve --max-body-mib)".to_string()
            }
            StatusCode::REQUEST_TIMEOUT => {
                "the request body did not arrive in time (retain serve --body-timeout-secs)"
                    .to_string()
            }
            _ => rejection.body_text(),
        };
        ApiError::new(status, message)
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text())
    }
}

/// `Json` whose rejections are [`ApiError`]s: malformed JSON 400, a body of the wrong shape
/// 422, too large 413, not JSON 415.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Json::<T>::from_request(req, state)
            .await
            .map(|Json(value)| ApiJson(value))
            .map_err(ApiError::from)
    }
}

/// `Path` whose rejections are [`ApiError`]s (400).
pub struct ApiPath<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| ApiPath(value))
            .map_err(ApiError::from)
    }
}

/// `Query` whose rejections are [`ApiError`]s (400).
pub struct ApiQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| ApiQuery(value))
            .map_err(ApiError::from)
    }
}

/// A whole number as JSON Schema reads `integer`: `3` and `3.0` alike (serde takes only the
/// first), for request fields the document declares as integers.
pub fn whole_number<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    use serde::de::{Deserialize, Error};
    let number = serde_json::Number::deserialize(deserializer)?;
    let whole = match number.as_i64() {
        Some(n) => Some(n),
        None => number
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64),
    };
    whole.and_then(|n| T::try_from(n).ok()).ok_or_else(|| {
        D::Error::custom(format!("expected a whole number in range, found {number}"))
    })
}

/// [`whole_number`] for an optional field.
pub fn optional_whole_number<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    #[derive(serde::Deserialize)]
    struct Whole<T: TryFrom<i64>>(#[serde(deserialize_with = "whole_number")] T);
    use serde::Deserialize;
    Ok(Option::<Whole<T>>::deserialize(deserializer)?.map(|Whole(n)| n))
}
