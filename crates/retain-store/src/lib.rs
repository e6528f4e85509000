//! The store behind retain's registry and API: model versions (immutable, content-hashed
//! artifacts with their metadata) and the aliases that point at them, prediction runs with every
//! customer's score and reasons, and API tokens (kept as hashes). One SQLite file by default
//! (`sqlite://retain.db`, created on first use) or a PostgreSQL database (`postgres://…`); both
//! run the same SQL through sqlx's `Any` driver, and the same tests run against both.
//!
//! It also keeps the analyses the dashboard shows (pages, customers, their reasons).
//!
//! Every write that must be seen whole is one transaction: a version with its metadata, an alias
//! move with its history row, a run with all its predictions (the run row goes in last, and
//! readers join on it, so a run killed half-way is never visible).

mod analyses;
mod monitoring;
mod pipelines;
mod predictions;
mod registry;
mod tokens;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::AnyPool;

pub use analyses::{
    AnalysisCustomer, AnalysisInfo, Cursor, CustomerQuery, CustomerSort, NewAnalysis,
    StoredCustomer,
};
pub use monitoring::{NewDrift, PerformanceKind, StoredDecision, StoredDrift, StoredPerformance};
pub use pipelines::{NewPipelineRun, PipelineRun, PipelineStatus, PipelineStep};
pub use predictions::{NewRun, Run, RunFacts, RunOutcome, StoredPrediction};
pub use registry::{Alias, AliasMove, ModelSummary, ModelVersion, Registered, VersionInfo};
pub use tokens::{Scope, TokenInfo};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("store: {0}")]
    Database(#[from] sqlx::Error),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Which SQL the database speaks where the two differ (column types, the lock of a model's rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection pool to the store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Opens the store at `url` and creates its tables if they are missing:
    /// `sqlite://PATH` (the file is created), a bare path (read as a SQLite file), or
    /// `postgres://USER@HOST/DB`.
    pub async fn open(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let (url, backend) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (url.to_string(), Backend::Postgres)
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            if path.is_empty() {
                return Err(StoreError::Invalid(
                    "the store needs a file (sqlite://retain.db) or a PostgreSQL URL".into(),
                ));
            }
            (format!("sqlite://{path}?mode=rwc"), Backend::Sqlite)
        };
        let pool = AnyPoolOptions::new()
            // SQLite takes one writer at a time; more connections only queue on its lock.
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL: readers never wait for a writer, a crash never tears a commit.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let store = Store { pool, backend };
        store.create_tables().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A transaction that will write. SQLite's default transaction takes the write lock at its
    /// first write and fails at once if another writer holds it; IMMEDIATE takes it at the start,
    /// waiting (busy_timeout) for the other writer to finish.
    pub(crate) async fn write_transaction(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    async fn create_tables(&self) -> Result<()> {
        let blob = match self.backend {
            Backend::Sqlite => "BLOB",
            Backend::Postgres => "BYTEA",
        };
        let statements = [
            format!(
                "CREATE TABLE IF NOT EXISTS model_versions (
                    name TEXT NOT NULL,
                    version BIGINT NOT NULL,
                    kind TEXT NOT NULL,
                    sha256 TEXT NOT NULL,
                    artifact {blob} NOT NULL,
                    metadata TEXT NOT NULL,
                    created_at TEXT NOT NULL,
                    PRIMARY KEY (name, version),
                    UNIQUE (name, sha256))"
            ),
            "CREATE TABLE IF NOT EXISTS aliases (
                name TEXT NOT NULL,
                alias TEXT NOT NULL,
                version BIGINT NOT NULL,
                moved_at TEXT NOT NULL,
                PRIMARY KEY (name, alias))"
                .into(),
            "CREATE TABLE IF NOT EXISTS alias_moves (
                name TEXT NOT NULL,
                alias TEXT NOT NULL,
                seq BIGINT NOT NULL,
                version BIGINT NOT NULL,
                previous BIGINT,
                undoes BIGINT,
                moved_at TEXT NOT NULL,
                PRIMARY KEY (name, alias, seq))"
                .into(),
            "CREATE TABLE IF NOT EXISTS runs (
                run_id TEXT PRIMARY KEY,
                model TEXT NOT NULL,
                version BIGINT NOT NULL,
                source TEXT NOT NULL,
                input_sha256 TEXT NOT NULL,
                customers BIGINT NOT NULL,
                created_at TEXT NOT NULL,
                as_of TEXT,
                horizon_days BIGINT)"
                .into(),
            "CREATE TABLE IF NOT EXISTS run_drift (
                run_id TEXT PRIMARY KEY,
                model TEXT NOT NULL,
                version BIGINT NOT NULL,
                as_of TEXT,
                dataset_drift BIGINT NOT NULL,
                drifted_share DOUBLE PRECISION NOT NULL,
                prediction_drift BIGINT NOT NULL,
                report TEXT NOT NULL,
                created_at TEXT NOT NULL)"
                .into(),
            "CREATE INDEX IF NOT EXISTS run_drift_by_model ON run_drift (model, created_at)"
                .into(),
            "CREATE TABLE IF NOT EXISTS model_performance (
                run_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                model TEXT NOT NULL,
                version BIGINT NOT NULL,
                as_of TEXT NOT NULL,
                horizon_end TEXT NOT NULL,
                customers BIGINT NOT NULL,
                metrics TEXT NOT NULL,
                evaluated_at TEXT NOT NULL,
                PRIMARY KEY (run_id, kind))"
                .into(),
            "CREATE TABLE IF NOT EXISTS retrain_decisions (
                decision_id TEXT PRIMARY KEY,
                model TEXT NOT NULL,
                decision TEXT NOT NULL,
                champion_version BIGINT NOT NULL,
                challenger_version BIGINT NOT NULL,
                evidence TEXT NOT NULL,
                decided_at TEXT NOT NULL)"
                .into(),
            "CREATE INDEX IF NOT EXISTS model_performance_by_model
                ON model_performance (model, as_of)"
                .into(),
            "CREATE TABLE IF NOT EXISTS predictions (
                run_id TEXT NOT NULL,
                customer_id TEXT NOT NULL,
                score DOUBLE PRECISION NOT NULL,
                label TEXT,
                reasons TEXT NOT NULL,
                details TEXT,
                PRIMARY KEY (run_id, customer_id))"
                .into(),
            "CREATE INDEX IF NOT EXISTS predictions_by_customer ON predictions (customer_id)"
                .into(),
            "CREATE TABLE IF NOT EXISTS analyses (
                analysis_id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                source TEXT NOT NULL,
                as_of TEXT NOT NULL,
                customers BIGINT NOT NULL,
                pages TEXT NOT NULL,
                model TEXT NOT NULL,
                kpis TEXT NOT NULL,
                created_at TEXT NOT NULL)"
                .into(),
            "CREATE TABLE IF NOT EXISTS analysis_pages (
                analysis_id TEXT NOT NULL,
                page TEXT NOT NULL,
                body TEXT NOT NULL,
                PRIMARY KEY (analysis_id, page))"
                .into(),
            "CREATE TABLE IF NOT EXISTS analysis_customers (
                analysis_id TEXT NOT NULL,
                customer_id TEXT NOT NULL,
                segment TEXT NOT NULL,
                stage TEXT NOT NULL,
                churn_risk DOUBLE PRECISION NOT NULL,
                p_alive DOUBLE PRECISION,
                expected_purchases DOUBLE PRECISION,
                clv DOUBLE PRECISION,
                historic_value DOUBLE PRECISION NOT NULL,
                value_at_risk DOUBLE PRECISION NOT NULL,
                next_purchase TEXT,
                reasons TEXT NOT NULL,
                purchases TEXT NOT NULL,
                PRIMARY KEY (analysis_id, customer_id))"
                .into(),
            // The at-risk table over a million customers in tens of milliseconds: a segment or
            // stage and the default order read their index in order, checking the thresholds in
            // it; every count is a scan of an index that holds its filter's columns. The store
            // keeps no planner statistics: sampled ones made SQLite pick worse plans.
            "CREATE INDEX IF NOT EXISTS analysis_customers_by_value_at_risk
                ON analysis_customers (analysis_id, value_at_risk, churn_risk, historic_value, segment, stage)"
                .into(),
            "CREATE INDEX IF NOT EXISTS analysis_customers_by_segment
                ON analysis_customers (analysis_id, segment, value_at_risk, churn_risk, historic_value)"
                .into(),
            "CREATE INDEX IF NOT EXISTS analysis_customers_by_stage
                ON analysis_customers (analysis_id, stage, value_at_risk, churn_risk, historic_value)"
                .into(),
            "CREATE INDEX IF NOT EXISTS analysis_customers_by_churn_risk
                ON analysis_customers (analysis_id, churn_risk, historic_value, segment, stage)"
                .into(),
            "CREATE INDEX IF NOT EXISTS analysis_customers_by_historic_value
                ON analysis_customers (analysis_id, historic_value, churn_risk, segment, stage)"
                .into(),
            "CREATE INDEX IF NOT EXISTS analysis_customers_by_clv
                ON analysis_customers (analysis_id, clv)"
                .into(),
            "CREATE INDEX IF NOT EXISTS analysis_customers_by_p_alive
                ON analysis_customers (analysis_id, p_alive)"
                .into(),
            "CREATE TABLE IF NOT EXISTS pipeline_runs (
                run_id TEXT PRIMARY KEY,
                pipeline TEXT NOT NULL,
                input_key TEXT NOT NULL,
                cutoff TEXT NOT NULL,
                status TEXT NOT NULL,
                started_at TEXT NOT NULL,
                finished_at TEXT,
                seconds DOUBLE PRECISION,
                attempts BIGINT NOT NULL,
                versions_before TEXT NOT NULL,
                versions_after TEXT,
                rows TEXT NOT NULL,
                error TEXT,
                lease_until BIGINT)"
                .into(),
            "CREATE INDEX IF NOT EXISTS pipeline_runs_by_pipeline
                ON pipeline_runs (pipeline, started_at)"
                .into(),
            "CREATE TABLE IF NOT EXISTS pipeline_steps (
                run_id TEXT NOT NULL,
                step TEXT NOT NULL,
                output TEXT NOT NULL,
                finished_at TEXT NOT NULL,
                PRIMARY KEY (run_id, step))"
                .into(),
            "CREATE TABLE IF NOT EXISTS pipeline_leases (
                pipeline TEXT PRIMARY KEY,
                owner TEXT NOT NULL,
                until BIGINT NOT NULL)"
                .into(),
            "CREATE TABLE IF NOT EXISTS tokens (
                token_sha256 TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                scopes TEXT NOT NULL,
                created_at TEXT NOT NULL)"
                .into(),
        ];
        for statement in &statements {
            sqlx::query(statement).execute(&self.pool).await?;
        }
        // Stores made before these columns gain them (empty for old rows).
        self.add_column_if_missing("predictions", "details", "TEXT")
            .await?;
        self.add_column_if_missing("runs", "as_of", "TEXT").await?;
        self.add_column_if_missing("runs", "horizon_days", "BIGINT")
            .await?;
        Ok(())
    }

    async fn add_column_if_missing(&self, table: &str, column: &str, kind: &str) -> Result<()> {
        if sqlx::query(&format!("SELECT {column} FROM {table} LIMIT 0"))
            .execute(&self.pool)
            .await
            .is_err()
        {
            sqlx::query(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }
}

/// Creates an empty database named `name` on the PostgreSQL server at `server`
/// (`postgres://USER@HOST:PORT`) and returns its URL: for test suites and benchmarks that need
/// a store of their own.
pub async fn create_postgres_database(server: &str, name: &str) -> Result<String> {
    use sqlx::Connection;
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(StoreError::Invalid(format!(
            "a database name of letters, digits and _, found {name:?}"
        )));
    }
    sqlx::any::install_default_drivers();
    let server = server.trim_end_matches('/');
    let mut admin = sqlx::AnyConnection::connect(&format!("{server}/postgres")).await?;
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await?;
    Ok(format!("{server}/{name}"))
}

/// `bytes` random bytes as hex, from ChaCha seeded by the operating system (unpredictable):
/// tokens, job ids.
pub fn random_hex(bytes: usize) -> String {
    use rand::{RngCore, SeedableRng};
    let mut buffer = vec![0u8; bytes];
    rand::rngs::StdRng::from_os_rng().fill_bytes(&mut buffer);
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}

/// Now, as stored: RFC 3339 in UTC to the microsecond, so that text order is time order.
pub fn now() -> String {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    chrono::DateTime::from_timestamp(since.as_secs() as i64, since.subsec_nanos())
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The training-data fingerprint of a model: SHA-256 over the SHA-256 of each input file, in
/// order, read as a stream (inputs may be gigabytes). A PostgreSQL source (named
/// `postgresql://USER@HOST:PORT/DB, table T`, password left out) enters by its name: a table
/// changes in place, so its fingerprint says where the data came from, not what it held.
pub fn fingerprint_files<P: AsRef<std::path::Path>>(paths: &[P]) -> std::io::Result<String> {
    use sha2::Digest;
    let mut all = sha2::Sha256::new();
    for path in paths {
        let path = path.as_ref();
        let mut one = sha2::Sha256::new();
        match path.to_str() {
            Some(name) if name.starts_with("postgresql://") && !path.exists() => {
                one.update(name.as_bytes())
            }
            _ if path.is_dir() => hash_folder(path, path, &mut one)?,
            _ => {
                std::io::copy(&mut std::fs::File::open(path)?, &mut one)?;
            }
        }
        all.update(one.finalize());
    }
    Ok(all.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// A folder (a partitioned table): each file's path below it and bytes, in path order.
fn hash_folder(
    root: &std::path::Path,
    folder: &std::path::Path,
    digest: &mut sha2::Sha256,
) -> std::io::Result<()> {
    use sha2::Digest;
    let mut entries = std::fs::read_dir(folder)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            hash_folder(root, &path, digest)?;
        } else {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            digest.update(relative.to_string_lossy().as_bytes());
            std::io::copy(&mut std::fs::File::open(&path)?, digest)?;
        }
    }
    Ok(())
}

pub(crate) fn get<'r, T>(row: &'r AnyRow, column: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    use sqlx::Row;
    Ok(row.try_get(column)?)
}
