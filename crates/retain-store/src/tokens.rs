//! API tokens. A token is 32 random bytes shown once, as hex, when made; the store keeps its
//! SHA-256 only (a token is random, not a password, so one fast hash suffices: nothing to guess
//! from), with a name and its scopes.

use serde::Serialize;

use crate::{get, now, sha256_hex, Result, Store, StoreError};

/// What a token may do; each scope includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// List models, versions, runs and stored predictions.
    Read,
    /// Score customers.
    Predict,
    /// Register models, move aliases, start batch jobs, make tokens.
    Admin,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Predict => "predict",
            Scope::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = StoreError;

    fn from_str(text: &str) -> Result<Scope> {
        match text {
            "read" => Ok(Scope::Read),
            "predict" => Ok(Scope::Predict),
            "admin" => Ok(Scope::Admin),
            other => Err(StoreError::Invalid(format!(
                "unknown scope {other:?}: expected read, predict or admin"
            ))),
        }
    }
}

/// A token as the store knows it (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub name: String,
    /// The highest scope granted.
    pub scope: Scope,
    pub created_at: String,
}

impl TokenInfo {
    pub fn allows(&self, needed: Scope) -> bool {
        self.scope >= needed
    }
}

impl Store {
    /// Makes a token named `name` with `scope`; returns the token, which is not kept.
    pub async fn create_token(&self, name: &str, scope: Scope) -> Result<String> {
        if name.trim().is_empty() {
            return Err(StoreError::Invalid("a token needs a name".into()));
        }
        let taken = sqlx::query("SELECT COUNT(*) AS n FROM tokens WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        if get::<i64>(&taken, "n")? > 0 {
            return Err(StoreError::Invalid(format!(
                "a token named {name:?} exists; choose another name, or revoke it first \
                 (`retain token revoke {name}`)"
            )));
        }
        let token = crate::random_hex(32);
        sqlx::query(
            "INSERT INTO tokens (token_sha256, name, scopes, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(sha256_hex(token.as_bytes()))
        .bind(name)
        .bind(scope.name())
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(token)
    }

    /// The token's name and scope, or `None` for a token the store never made.
    pub async fn check_token(&self, token: &str) -> Result<Option<TokenInfo>> {
        let row =
            sqlx::query("SELECT name, scopes, created_at FROM tokens WHERE token_sha256 = $1")
                .bind(sha256_hex(token.trim().as_bytes()))
                .fetch_optional(&self.pool)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let scope: String = get(&row, "scopes")?;
        Ok(Some(TokenInfo {
            name: get(&row, "name")?,
            scope: scope.parse()?,
            created_at: get(&row, "created_at")?,
        }))
    }

    /// Every token's name, scope and date (never the token), oldest first.
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>> {
        let rows =
            sqlx::query("SELECT name, scopes, created_at FROM tokens ORDER BY created_at, name")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| {
                let scope: String = get(row, "scopes")?;
                Ok(TokenInfo {
                    name: get(row, "name")?,
                    scope: scope.parse()?,
                    created_at: get(row, "created_at")?,
                })
            })
            .collect()
    }

    /// Revokes the token named `name`: the store no longer knows it (a running server trusts a
    /// token it checked for a few seconds more).
    pub async fn revoke_token(&self, name: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM tokens WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "no token named {name:?}; `retain token list` shows them"
            )));
        }
        Ok(())
    }

    /// Whether any token exists (a server with none refuses to start open to all).
    pub async fn has_tokens(&self) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM tokens")
            .fetch_one(&self.pool)
            .await?;
        Ok(get::<i64>(&row, "n")? > 0)
    }
}
