//! `retain registry` and `retain token`: model versions, aliases and API tokens in the store.
//! What a version's metadata says (kind, metrics, parameters, feature schema, training-data
//! fingerprint) is read off the artifact here, so every artifact retain writes can be
//! registered as it is.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use retain_store::{Scope, Store};

use crate::args::Format;
use crate::fmt::table;

/// Where the store is.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// The store: a SQLite file (`sqlite://retain.db`, created on first use) or a PostgreSQL
    /// URL (`postgres://USER@HOST/DB`).
    #[arg(long, env = "RETAIN_STORE", default_value = "sqlite://retain.db")]
    pub store: String,
}

impl StoreArgs {
    pub async fn open(&self) -> anyhow::Result<Store> {
        Store::open(&self.store)
            .await
            .with_context(|| format!("opening the store {}", self.store))
    }
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Register a saved model (`retain fit -o`, `retain train -o`) as the next version of NAME.
    Register {
        name: String,
        artifact: PathBuf,
        /// A Gamma-Gamma fit (`retain fit gamma-gamma -o FILE`) registered with a purchase
        /// model as its spend model: the version then answers expected spend and CLV too.
        #[arg(long, value_name = "FILE")]
        spend_model: Option<PathBuf>,
        /// Also point this alias at the version.
        #[arg(long)]
        alias: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Every model with its versions and aliases.
    List {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// A model's versions with their metadata, or one version's (`--version`).
    Show {
        name: String,
        #[arg(long)]
        version: Option<i64>,
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Point an alias (default `production`) at a version.
    Promote {
        name: String,
        version: i64,
        #[arg(long, default_value = "production")]
        alias: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Undo the alias's latest move: it points where it pointed before.
    Rollback {
        name: String,
        #[arg(long, default_value = "production")]
        alias: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Write a version's artifact to a file.
    Export {
        name: String,
        version: i64,
        #[arg(short = 'o', long)]
        output: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make an API token; it is printed once and stored only as a hash.
    Create {
        /// Who or what the token is for.
        name: String,
        /// read: models, runs and stored predictions; predict: also score; admin: also
        /// register, move aliases, run batch jobs.
        #[arg(long, default_value = "read")]
        scope: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Every token's name, scope and date (the tokens themselves are not kept).
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a token: requests with it get 401 (a running server within 10 seconds).
    Revoke {
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub async fn run(command: RegistryCommand) -> anyhow::Result<()> {
    match command {
        RegistryCommand::Register {
            name,
            artifact,
            spend_model,
            alias,
            store,
            format,
        } => {
            let mut bytes = std::fs::read(&artifact)
                .with_context(|| format!("reading {}", artifact.display()))?;
            if let Some(spend) = &spend_model {
                let spend_bytes =
                    std::fs::read(spend).with_context(|| format!("reading {}", spend.display()))?;
                bytes =
                    retain_scoring::with_spend_model(&bytes, &spend_bytes).with_context(|| {
                        format!(
                            "{} with {} as its spend model",
                            artifact.display(),
                            spend.display()
                        )
                    })?;
            }
            let info = retain_scoring::Artifact::from_bytes(&bytes)
                .with_context(|| {
                    format!("{} is not a model retain can register", artifact.display())
                })?
                .describe();
            let store = store.open().await?;
            // The version and its alias in one transaction: a kill leaves both or neither.
            let (registered, moved) = store
                .register_as(&name, &bytes, &info, alias.as_deref())
                .await?;
            match format {
                Format::Json => outln!(
                    "{}",
                    serde_json::json!({"registered": registered, "kind": info.kind, "alias": moved})
                )?,
                Format::Table => {
                    if registered.new {
                        outln!(
                            "registered {} version {} ({}, sha256 {})",
                            name,
                            registered.version,
                            info.kind,
                            &registered.sha256[..12]
                        )?;
                    } else {
                        outln!(
                            "{} is already {} version {} (same sha256 {}): nothing registered",
                            artifact.display(),
                            name,
                            registered.version,
                            &registered.sha256[..12]
                        )?;
                    }
                    if let Some(m) = moved {
                        outln!("{}", move_line(&m))?;
                    }
                }
            }
        }
        RegistryCommand::List { store, format } => {
            let models = store.open().await?.models().await?;
            match format {
                Format::Json => outln!("{}", serde_json::to_string(&models)?)?,
                Format::Table if models.is_empty() => {
                    outln!("no models registered; `retain registry register NAME FILE` adds one")?
                }
                Format::Table => {
                    let rows: Vec<Vec<String>> = models
                        .iter()
                        .map(|m| {
                            vec![
                                m.name.clone(),
                                m.kind.clone(),
                                m.versions.to_string(),
                                m.latest.to_string(),
                                m.aliases
                                    .iter()
                                    .map(|a| format!("{} → {}", a.alias, a.version))
                                    .collect::<Vec<_>>()
                                    .join(", "),
                            ]
                        })
                        .collect();
                    out!(
                        "{}",
                        table(&["model", "kind", "versions", "latest", "aliases"], &rows)
                    )?;
                }
            }
        }
        RegistryCommand::Show {
            name,
            version,
            store,
            format,
        } => {
            let store = store.open().await?;
            let versions = match version {
                Some(v) => vec![store.version(&name, v).await?],
                None => store.versions(&name).await?,
            };
            match format {
                Format::Json => outln!("{}", serde_json::to_string(&versions)?)?,
                Format::Table => {
                    for v in &versions {
                        outln!(
                            "{} version {}{}\n  kind: {}\n  created: {}\n  sha256: {}\n  training data: {}\n  metrics: {}\n  parameters: {}\n  features: {}\n",
                            v.name,
                            v.version,
                            if v.aliases.is_empty() {
                                String::new()
                            } else {
                                format!(" ({})", v.aliases.join(", "))
                            },
                            v.info.kind,
                            v.created_at,
                            v.sha256,
                            v.info.data_fingerprint.as_deref().unwrap_or("not recorded"),
                            v.info.metrics,
                            v.info.parameters,
                            feature_names(&v.info.feature_schema),
                        )?;
                    }
                }
            }
        }
        RegistryCommand::Promote {
            name,
            version,
            alias,
            store,
        } => {
            let moved = store
                .open()
                .await?
                .move_alias(&name, &alias, version)
                .await?;
            outln!("{}", move_line(&moved))?;
        }
        RegistryCommand::Rollback { name, alias, store } => {
            let moved = store.open().await?.roll_back(&name, &alias).await?;
            outln!("{}", move_line(&moved))?;
        }
        RegistryCommand::Export {
            name,
            version,
            output,
            store,
        } => {
            let bytes = store.open().await?.artifact(&name, version).await?;
            retain_data::output::write_file(&output, &bytes)?;
            eprintln!("wrote {name} version {version} to {}", output.display());
        }
    }
    Ok(())
}

pub async fn run_token(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create { name, scope, store } => {
            let scope: Scope = scope.parse()?;
            let token = store.open().await?.create_token(&name, scope).await?;
            eprintln!(
                "token {name:?} with scope {}; shown once, send it as `Authorization: Bearer TOKEN`:",
                scope.name()
            );
            outln!("{token}")?;
        }
        TokenCommand::List { store } => {
            let tokens = store.open().await?.tokens().await?;
            let rows: Vec<Vec<String>> = tokens
                .iter()
                .map(|t| vec![t.name.clone(), t.scope.name().into(), t.created_at.clone()])
                .collect();
            out!("{}", table(&["name", "scope", "created"], &rows))?;
        }
        TokenCommand::Revoke { name, store } => {
            store.open().await?.revoke_token(&name).await?;
            outln!("revoked token {name:?}")?;
        }
    }
    Ok(())
}

fn move_line(m: &retain_store::AliasMove) -> String {
    match m.previous {
        Some(p) if p != m.version => {
            format!("{} {} → version {} (was {})", m.name, m.alias, m.version, p)
        }
        Some(_) => format!("{} {} → version {} (unchanged)", m.name, m.alias, m.version),
        None => format!("{} {} → version {}", m.name, m.alias, m.version),
    }
}

fn feature_names(schema: &serde_json::Value) -> String {
    match schema.as_array() {
        Some(features) if !features.is_empty() => features
            .iter()
            .filter_map(|f| f["name"].as_str())
            .collect::<Vec<_>>()
            .join(", "),
        _ => "none".into(),
    }
}
