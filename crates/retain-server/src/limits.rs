//! What a client may take of the server, per request: its body must arrive within a deadline
//! (408 otherwise), its answer comes within another (503 with `Retry-After` otherwise), and a
//! connection whose request body was not read to its end is closed after the answer, saying so
//! (`Connection: close`), so that a client reusing connections never sends its next request
//! into the rest of a body the server skipped (a 401 answered before the body arrived, say).
//! Parameters holding NUL are refused (400) before anything reads them. Connection-level
//! limits (header timeout, connection count) are in `listen`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Body as _, Frame, SizeHint};

use crate::error::ApiError;
use crate::AppState;

/// How much of the server one client may hold, and for how long.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Time a client has to send a request's headers; also how long an idle keep-alive
    /// connection is kept.
    pub header_timeout: Duration,
    /// Time a client has to send a whole request body once its headers are in (408 after).
    pub body_timeout: Duration,
    /// Time the server takes at most to answer a request (503 after).
    pub request_timeout: Duration,
    /// Connections open at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// How long stopping waits for requests in flight before it closes their connections.
    pub shutdown_grace: Duration,
    /// Model versions kept loaded besides those an alias points at (the least recently used
    /// is unloaded first).
    pub loaded_versions: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            max_connections: 512,
            shutdown_grace: Duration::from_secs(10),
            loaded_versions: 16,
        }
    }
}

/// The error a body gives when its deadline passes.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimedOut;

/// A request body with a deadline for the whole of it, which records whether it was read to
/// its end.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    finished: Arc<AtomicBool>,
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                self.finished.store(true, Ordering::Relaxed);
                Poll::Ready(None)
            }
            Poll::Ready(Some(frame)) => {
                if self.inner.is_end_stream() {
                    self.finished.store(true, Ordering::Relaxed);
                }
                Poll::Ready(Some(frame))
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut)))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Puts the body deadline and the answer deadline on every request, and closes connections
/// whose request body was left unread.
pub async fn guard(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let limits = &state.config.limits;
    // No name, id or alias holds a NUL, and PostgreSQL cannot even compare one with its text.
    let uri = request.uri();
    if uri.path().contains("%00") || uri.query().is_some_and(|q| q.contains("%00")) {
        let mut response = ApiError::new(
            StatusCode::BAD_REQUEST,
            "a path or query parameter holds a NUL character",
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    let (parts, body) = request.into_parts();
    let finished = Arc::new(AtomicBool::new(body.is_end_stream()));
    let body = Body::new(DeadlineBody {
        inner: body,
        deadline: Box::pin(tokio::time::sleep(limits.body_timeout)),
        finished: finished.clone(),
    });
    let request = Request::from_parts(parts, body);
    let mut response = match tokio::time::timeout(limits.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "no answer within {} s; try again later, or send fewer customers per request",
                limits.request_timeout.as_secs()
            ),
        )
        .retry_after(5)
        .into_response(),
    };
    if !finished.load(Ordering::Relaxed) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
