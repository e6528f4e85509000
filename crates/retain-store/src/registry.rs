//! Model versions and their aliases. A version is an artifact's bytes registered under a name:
//! numbered 1, 2, … per name, never changed, known by its SHA-256 (registering the same bytes
//! again returns the version they already have). An alias (`production`, `challenger`, any
//! name starting with a letter) points at one version; every move is kept, so a move can be
//! rolled back, and rolling back again goes further back.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;

use crate::{get, now, sha256_hex, Result, Store, StoreError};

/// What is known of a version besides its bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionInfo {
    /// What the artifact holds: `gbdt/churn`, `btyd/bgnbd`, `segments/kmeans`, …
    pub kind: String,
    /// SHA-256 of the data the model was trained on, when the artifact records it.
    pub data_fingerprint: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metrics: serde_json::Value,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub parameters: serde_json::Value,
    /// The features a model reads (name and kind of each), for models that read features.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub feature_schema: serde_json::Value,
}

/// A registered version.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelVersion {
    pub name: String,
    pub version: i64,
    pub sha256: String,
    pub created_at: String,
    #[serde(flatten)]
    pub info: VersionInfo,
    /// Aliases pointing at this version now.
    pub aliases: Vec<String>,
}

/// The outcome of registering bytes under a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Registered {
    pub name: String,
    pub version: i64,
    pub sha256: String,
    /// False when these bytes were registered before (as `version`).
    pub new: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Alias {
    pub alias: String,
    pub version: i64,
    pub moved_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelSummary {
    pub name: String,
    pub kind: String,
    pub versions: i64,
    pub latest: i64,
    pub aliases: Vec<Alias>,
}

/// An alias move: where it points now and where it pointed before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AliasMove {
    pub name: String,
    pub alias: String,
    pub version: i64,
    pub previous: Option<i64>,
}

/// Tries a transaction again when it lost a race (two writers took the same version number,
/// or SQLite refused a second writer): at most this many times.
const ATTEMPTS: usize = 5;

fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "{what} {name:?} must start with a letter and hold only letters, digits, '_', '-' \
             and '.' (64 at most)"
        )))
    }
}

/// Whether a failed transaction may succeed if tried again.
fn lost_race(error: &StoreError) -> bool {
    match error {
        StoreError::Database(sqlx::Error::Database(e)) => {
            e.is_unique_violation()
                || e.code()
                    .is_some_and(|c| c == "5" || c == "517" || c == "40001")
                || e.message().contains("database is locked")
        }
        _ => false,
    }
}

impl Store {
    /// Registers `artifact` as the next version of `name` (or returns the version these bytes
    /// already are).
    pub async fn register(
        &self,
        name: &str,
        artifact: &[u8],
        info: &VersionInfo,
    ) -> Result<Registered> {
        Ok(self.register_as(name, artifact, info, None).await?.0)
    }

    /// Registers `artifact` as [`Store::register`] does and, with `alias`, points that alias at
    /// the version in the same transaction: a process killed half-way leaves neither.
    pub async fn register_as(
        &self,
        name: &str,
        artifact: &[u8],
        info: &VersionInfo,
        alias: Option<&str>,
    ) -> Result<(Registered, Option<AliasMove>)> {
        check_name("model name", name)?;
        if let Some(alias) = alias {
            check_name("alias", alias)?;
        }
        let sha256 = sha256_hex(artifact);
        let metadata = serde_json::to_string(info).expect("metadata is JSON");
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .try_register(name, artifact, &sha256, info, &metadata, alias)
                .await
            {
                Err(e) if attempt < ATTEMPTS && lost_race(&e) => continue,
                outcome => return outcome,
            }
        }
    }

    /// Serializes the writes of one model's versions and aliases, which number their rows from
    /// the highest so far: SQLite's IMMEDIATE transaction already holds the one write lock; on
    /// PostgreSQL a transaction-scoped advisory lock on the name does (without it, eight
    /// concurrent registrations could each lose the race for a number more times than are
    /// retried).
    async fn lock_model(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        name: &str,
    ) -> Result<()> {
        if self.backend() == crate::Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))::text AS locked")
                .bind(name)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    async fn try_register(
        &self,
        name: &str,
        artifact: &[u8],
        sha256: &str,
        info: &VersionInfo,
        metadata: &str,
        alias: Option<&str>,
    ) -> Result<(Registered, Option<AliasMove>)> {
        let mut tx = self.write_transaction().await?;
        self.lock_model(&mut tx, name).await?;
        let existing =
            sqlx::query("SELECT version FROM model_versions WHERE name = $1 AND sha256 = $2")
                .bind(name)
                .bind(sha256)
                .fetch_optional(&mut *tx)
                .await?;
        let registered = match existing {
            Some(row) => Registered {
                name: name.into(),
                version: get(&row, "version")?,
                sha256: sha256.into(),
                new: false,
            },
            None => {
                let row = sqlx::query(
                    "SELECT COALESCE(MAX(version), 0) + 1 AS next FROM model_versions WHERE name = $1",
                )
                .bind(name)
                .fetch_one(&mut *tx)
                .await?;
                let version: i64 = get(&row, "next")?;
                sqlx::query(
                    "INSERT INTO model_versions (name, version, kind, sha256, artifact, metadata, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(name)
                .bind(version)
                .bind(&info.kind)
                .bind(sha256)
                .bind(artifact.to_vec())
                .bind(metadata)
                .bind(now())
                .execute(&mut *tx)
                .await?;
                Registered {
                    name: name.into(),
                    version,
                    sha256: sha256.into(),
                    new: true,
                }
            }
        };
        let moved = match alias {
            Some(alias) => Some(point_alias(&mut tx, name, alias, registered.version, None).await?),
            None => None,
        };
        tx.commit().await?;
        Ok((registered, moved))
    }

    /// Every model name with its number of versions, latest version and aliases.
    pub async fn models(&self) -> Result<Vec<ModelSummary>> {
        let rows = sqlx::query(
            "SELECT v.name AS name, v.kind AS kind, c.versions AS versions, c.latest AS latest
             FROM model_versions v
             JOIN (SELECT name, COUNT(*) AS versions, MAX(version) AS latest
                   FROM model_versions GROUP BY name) c
               ON c.name = v.name AND c.latest = v.version
             ORDER BY v.name",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut models = Vec::with_capacity(rows.len());
        for row in &rows {
            let name: String = get(row, "name")?;
            let aliases = self.aliases(&name).await?;
            models.push(ModelSummary {
                kind: get(row, "kind")?,
                versions: get(row, "versions")?,
                latest: get(row, "latest")?,
                aliases,
                name,
            });
        }
        Ok(models)
    }

    /// Every version of every model, by model name, oldest first within a model.
    pub async fn all_versions(&self) -> Result<Vec<ModelVersion>> {
        let mut all = Vec::new();
        for model in self.models().await? {
            all.extend(self.versions(&model.name).await?);
        }
        Ok(all)
    }

    /// The versions of `name`, oldest first.
    pub async fn versions(&self, name: &str) -> Result<Vec<ModelVersion>> {
        let rows = sqlx::query(
            "SELECT name, version, sha256, metadata, created_at FROM model_versions
             WHERE name = $1 ORDER BY version",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Err(self.no_model(name).await);
        }
        let aliases = self.aliases(name).await?;
        rows.iter().map(|row| version_of(row, &aliases)).collect()
    }

    /// One version of `name`.
    pub async fn version(&self, name: &str, version: i64) -> Result<ModelVersion> {
        let row = sqlx::query(
            "SELECT name, version, sha256, metadata, created_at FROM model_versions
             WHERE name = $1 AND version = $2",
        )
        .bind(name)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => version_of(&row, &self.aliases(name).await?),
            None => Err(self.no_version(name, version).await),
        }
    }

    /// The bytes registered as `name` version `version`.
    pub async fn artifact(&self, name: &str, version: i64) -> Result<Vec<u8>> {
        let row =
            sqlx::query("SELECT artifact FROM model_versions WHERE name = $1 AND version = $2")
                .bind(name)
                .bind(version)
                .fetch_optional(&self.pool)
                .await?;
        match row {
            Some(row) => get(&row, "artifact"),
            None => Err(self.no_version(name, version).await),
        }
    }

    /// The aliases of `name`, by alias.
    pub async fn aliases(&self, name: &str) -> Result<Vec<Alias>> {
        let rows = sqlx::query(
            "SELECT alias, version, moved_at FROM aliases WHERE name = $1 ORDER BY alias",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Alias {
                    alias: get(row, "alias")?,
                    version: get(row, "version")?,
                    moved_at: get(row, "moved_at")?,
                })
            })
            .collect()
    }

    /// The version `alias` of `name` points at.
    pub async fn resolve(&self, name: &str, alias: &str) -> Result<i64> {
        let row = sqlx::query("SELECT version FROM aliases WHERE name = $1 AND alias = $2")
            .bind(name)
            .bind(alias)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => get(&row, "version"),
            None => {
                self.versions(name).await?;
                Err(StoreError::NotFound(format!(
                    "model {name} has no alias {alias}; set one with \
                     `retain registry promote {name} VERSION --alias {alias}`"
                )))
            }
        }
    }

    /// Points `alias` of `name` at `version`, in one transaction with its history row.
    pub async fn move_alias(&self, name: &str, alias: &str, version: i64) -> Result<AliasMove> {
        check_name("alias", alias)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_move_alias(name, alias, version, None).await {
                Err(e) if attempt < ATTEMPTS && lost_race(&e) => continue,
                outcome => return outcome,
            }
        }
    }

    /// Undoes the latest move of `alias` not yet undone: the alias points where it pointed
    /// before that move.
    pub async fn roll_back(&self, name: &str, alias: &str) -> Result<AliasMove> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = async {
                let rows = sqlx::query(
                    "SELECT seq, previous, undoes FROM alias_moves
                     WHERE name = $1 AND alias = $2 ORDER BY seq",
                )
                .bind(name)
                .bind(alias)
                .fetch_all(&self.pool)
                .await?;
                // Moves in effect: an undo cancels the move it undid.
                let mut effective: Vec<(i64, Option<i64>)> = Vec::new();
                for row in &rows {
                    let undoes: Option<i64> = get(row, "undoes")?;
                    if undoes.is_some() {
                        effective.pop();
                    } else {
                        effective.push((get(row, "seq")?, get(row, "previous")?));
                    }
                }
                let Some(&(seq, previous)) = effective.last() else {
                    return Err(StoreError::NotFound(format!(
                        "alias {alias} of model {name} has no move to roll back"
                    )));
                };
                let Some(previous) = previous else {
                    return Err(StoreError::Invalid(format!(
                        "alias {alias} of model {name} pointed nowhere before its first move; \
                         move it to a version instead"
                    )));
                };
                self.try_move_alias(name, alias, previous, Some(seq)).await
            }
            .await;
            match outcome {
                Err(e) if attempt < ATTEMPTS && lost_race(&e) => continue,
                outcome => return outcome,
            }
        }
    }

    async fn try_move_alias(
        &self,
        name: &str,
        alias: &str,
        version: i64,
        undoes: Option<i64>,
    ) -> Result<AliasMove> {
        let mut tx = self.write_transaction().await?;
        self.lock_model(&mut tx, name).await?;
        let exists =
            sqlx::query("SELECT 1 AS one FROM model_versions WHERE name = $1 AND version = $2")
                .bind(name)
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            drop(tx);
            return Err(self.no_version(name, version).await);
        }
        let moved = point_alias(&mut tx, name, alias, version, undoes).await?;
        tx.commit().await?;
        Ok(moved)
    }

    async fn no_model(&self, name: &str) -> StoreError {
        StoreError::NotFound(format!(
            "no model named {name}; `retain registry list` lists the registered models"
        ))
    }

    async fn no_version(&self, name: &str, version: i64) -> StoreError {
        match sqlx::query("SELECT MAX(version) AS latest FROM model_versions WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .ok()
            .and_then(|row| get::<Option<i64>>(&row, "latest").ok().flatten())
        {
            Some(latest) => StoreError::NotFound(format!(
                "model {name} has no version {version} (versions 1 to {latest})"
            )),
            None => self.no_model(name).await,
        }
    }
}

fn version_of(row: &AnyRow, aliases: &[Alias]) -> Result<ModelVersion> {
    let version: i64 = get(row, "version")?;
    let metadata: String = get(row, "metadata")?;
    Ok(ModelVersion {
        name: get(row, "name")?,
        version,
        sha256: get(row, "sha256")?,
        created_at: get(row, "created_at")?,
        info: serde_json::from_str(&metadata)
            .map_err(|e| StoreError::Invalid(format!("stored metadata is not readable: {e}")))?,
        aliases: aliases
            .iter()
            .filter(|a| a.version == version)
            .map(|a| a.alias.clone())
            .collect(),
    })
}

/// Points `alias` at `version` (which exists) inside `tx`, with its history row.
async fn point_alias(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    name: &str,
    alias: &str,
    version: i64,
    undoes: Option<i64>,
) -> Result<AliasMove> {
    let previous: Option<i64> =
        match sqlx::query("SELECT version FROM aliases WHERE name = $1 AND alias = $2")
            .bind(name)
            .bind(alias)
            .fetch_optional(&mut **tx)
            .await?
        {
            Some(row) => Some(get(&row, "version")?),
            None => None,
        };
    let moved_at = now();
    sqlx::query(
        "INSERT INTO aliases (name, alias, version, moved_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version,
                                                     moved_at = excluded.moved_at",
    )
    .bind(name)
    .bind(alias)
    .bind(version)
    .bind(&moved_at)
    .execute(&mut **tx)
    .await?;
    let row = sqlx::query(
        "SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM alias_moves WHERE name = $1 AND alias = $2",
    )
    .bind(name)
    .bind(alias)
    .fetch_one(&mut **tx)
    .await?;
    let seq: i64 = get(&row, "next")?;
    sqlx::query(
        "INSERT INTO alias_moves (name, alias, seq, version, previous, undoes, moved_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(name)
    .bind(alias)
    .bind(seq)
    .bind(version)
    .bind(previous)
    .bind(undoes)
    .bind(&moved_at)
    .execute(&mut **tx)
    .await?;
    Ok(AliasMove {
        name: name.into(),
        alias: alias.into(),
        version,
        previous,
    })
}
