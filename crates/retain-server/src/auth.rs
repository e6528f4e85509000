//! Bearer tokens: `Authorization: Bearer TOKEN` on every `/v1` request. No token or an unknown
//! one is 401; a token without the scope the endpoint needs is 403 (read < predict < admin).
//! Verified tokens are remembered for a few seconds so that a prediction does not wait for the
//! store.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use retain_store::{Scope, Store, TokenInfo};

use crate::error::ApiError;
use crate::AppState;

/// How long a verified token is trusted without asking the store again.
const TRUSTED_FOR: Duration = Duration::from_secs(10);

/// Verified tokens by their SHA-256.
#[derive(Debug, Default)]
pub struct TokenCache {
    verified: RwLock<HashMap<String, (TokenInfo, Instant)>>,
}

impl TokenCache {
    async fn check(&self, store: &Store, token: &str) -> Result<Option<TokenInfo>, ApiError> {
        let key = retain_store::sha256_hex(token.as_bytes());
        if let Some((info, at)) = self.verified.read().expect("not poisoned").get(&key) {
            if at.elapsed() < TRUSTED_FOR {
                return Ok(Some(info.clone()));
            }
        }
        let info = store.check_token(token).await?;
        let mut verified = self.verified.write().expect("not poisoned");
        match &info {
            Some(info) => {
                verified.insert(key, (info.clone(), Instant::now()));
            }
            None => {
                verified.remove(&key);
            }
        }
        Ok(info)
    }
}

/// The scope an endpoint needs, as a type.
pub trait Needs {
    const SCOPE: Scope;
}

pub struct Read;
pub struct Predict;
pub struct Admin;

impl Needs for Read {
    const SCOPE: Scope = Scope::Read;
}
impl Needs for Predict {
    const SCOPE: Scope = Scope::Predict;
}
impl Needs for Admin {
    const SCOPE: Scope = Scope::Admin;
}

/// Proof that the request carries a token with scope `N` (or that the server runs without
/// tokens, `--no-auth`).
pub struct Authorized<N>(PhantomData<N>);

impl<N: Needs> FromRequestParts<Arc<AppState>> for Authorized<N> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        if !state.config.auth {
            return Ok(Authorized(PhantomData));
        }
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "send a token: `Authorization: Bearer TOKEN` (`retain token create NAME \
                     --scope SCOPE` makes one)",
                )
            })?
            .to_str()
            .map_err(|_| ApiError::unauthorized("the Authorization header is not text"))?;
        let token = bearer_token(header)
            .ok_or_else(|| ApiError::unauthorized("expected `Authorization: Bearer TOKEN`"))?;
        let info = state
            .tokens
            .check(&state.store, token)
            .await?
            .ok_or_else(|| ApiError::unauthorized("unknown token"))?;
        if !info.allows(N::SCOPE) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "token {:?} has scope {}; this needs {}",
                    info.name,
                    info.scope.name(),
                    N::SCOPE.name()
                ),
            ));
        }
        Ok(Authorized(PhantomData))
    }
}

/// The token of an `Authorization` header of the Bearer scheme, whose name is
/// case-insensitive (RFC 7235): `Bearer tok`, `bearer tok`, `BEARER tok`.
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_scheme_is_case_insensitive() {
        for header in ["Bearer tok", "bearer tok", "BEARER tok", "BeArEr   tok "] {
            assert_eq!(bearer_token(header), Some("tok"), "{header}");
        }
        for header in ["Basic tok", "Bearer", "Bearer ", "Bearertok", "tok"] {
            assert_eq!(bearer_token(header), None, "{header}");
        }
    }
}
