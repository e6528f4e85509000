//! `retain score`: a customer file scored by a registered model, every prediction with its
//! reasons stored as a run; and `retain runs`: the stored runs, a run's predictions, a
//! customer's predictions.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use retain_data::Period;
use retain_models::supervised::Reason;
use retain_scoring::batch::{score_batch, BatchInput, BatchOptions, ModelRef};
use retain_store::RunOutcome;

use crate::args::{parse_day, DelimiterArg, Format, TransactionArgs};
use crate::fmt::{table, thousands};
use crate::registry::StoreArgs;

/// Arguments of `retain score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// The registered model: NAME (its production alias), NAME@ALIAS or NAME:VERSION.
    #[arg(long, value_name = "MODEL")]
    pub model: ModelRef,
    /// Customers to score: a table with the columns the model reads (CSV, plain or .gz, or
    /// Parquet); other columns are ignored. With a log (-t), the customers' attributes, for a
    /// model trained with them.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub customers: Option<PathBuf>,
    /// A transaction log, for a model trained from one (`retain train -t … --cutoff`): every
    /// customer who had bought by --at, with features made as at training.
    #[command(flatten)]
    pub log: TransactionArgs,
    /// The day scored: a log's customers as they were at its end (default: the log's last
    /// day).
    #[arg(long, value_parser = parse_day, value_name = "YYYY-MM-DD")]
    pub at: Option<i32>,
    /// Customer id column (default: the training table's id column, else customer_id).
    #[arg(long, value_name = "COL")]
    pub id_col: Option<String>,
    /// Values read as missing besides a blank field, comma-separated.
    #[arg(long, value_name = "VALUES", value_delimiter = ',')]
    pub na: Vec<String>,
    #[arg(long, value_enum, default_value_t = DelimiterArg::Auto)]
    pub table_delimiter: DelimiterArg,
    /// Reasons stored per customer.
    #[arg(long, default_value_t = 3)]
    pub reasons: usize,
    /// Purchase models: the horizon of expected purchases, in the model's time unit (default:
    /// a year; BG/BB: one opportunity).
    #[arg(long)]
    pub horizon: Option<f64>,
    /// Purchase models with a spend model: months of CLV (default 12).
    #[arg(long)]
    pub clv_months: Option<u32>,
    /// Purchase models with a spend model: monthly discount rate of CLV (default 0.01).
    #[arg(long)]
    pub discount: Option<f64>,
    #[command(flatten)]
    pub store: StoreArgs,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn run(args: ScoreArgs) -> anyhow::Result<()> {
    let store = args.store.open().await?;
    let options = BatchOptions {
        id_col: args.id_col.clone(),
        delimiter: args.table_delimiter.into(),
        na_values: args.na.clone(),
        reasons: args.reasons,
        at: args.at,
        horizon: args.horizon,
        clv_months: args.clv_months,
        discount: args.discount,
        ..BatchOptions::default()
    };
    let input = if args.log.files.is_empty() {
        let Some(customers) = &args.customers else {
            anyhow::bail!(
                "give the customers to score: --customers FILE, or a log with -t FILE [--at DATE]"
            );
        };
        if let Some(source) = retain_data::database::DatabaseSource::for_input(
            &customers.to_string_lossy(),
            None,
            None,
        ) {
            anyhow::bail!(
                "{}: retain score reads customer tables from files (CSV or Parquet); export the \
                 table, or score a log read from the database (-t postgresql://… --table NAME)",
                source.name()
            );
        }
        BatchInput::File(customers.clone())
    } else {
        BatchInput::Log {
            files: args.log.log_files(),
            read: args.log.read_options(Period::Day),
            attributes: args.customers.clone(),
            engine: args.log.engine.clone(),
        }
    };
    let what = match &input {
        BatchInput::File(path) => path.display().to_string(),
        _ => args
            .log
            .provenance()
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    };
    let outcome = score_batch(&store, &args.model, input, &options)
        .await
        .with_context(|| format!("scoring {what} with {}", args.model))?;
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string(&outcome)?)?,
        Format::Table => {
            let run = outcome.outcome.run();
            match &outcome.outcome {
                RunOutcome::Written(_) => outln!(
                    "scored {} customers of {} with {} version {}: run {}",
                    thousands(run.customers as u64),
                    run.source,
                    outcome.model,
                    outcome.version,
                    run.run_id
                )?,
                RunOutcome::AlreadyStored(_) => outln!(
                    "{} version {} scored this file before (same content): run {} of {}, {} \
                     customers; nothing written",
                    outcome.model,
                    outcome.version,
                    run.run_id,
                    run.created_at,
                    thousands(run.customers as u64)
                )?,
            }
            if let Some(drift) = &outcome.drift {
                let data = &drift.data;
                let drifted: Vec<String> = data
                    .features
                    .iter()
                    .filter(|f| f.drift)
                    .map(|f| f.feature.clone())
                    .collect();
                outln!(
                    "drift from the training data: {} of {} features{}{}; prediction {} (`retain \
                     monitor {}` for each feature)",
                    data.drifted_features,
                    data.features.len(),
                    if drifted.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", drifted.join(", "))
                    },
                    if data.dataset_drift {
                        ": DATA SET DRIFT"
                    } else {
                        ""
                    },
                    if drift.prediction.drift {
                        "DRIFTED"
                    } else {
                        "steady"
                    },
                    outcome.model
                )?;
            }
            for u in &outcome.unseen {
                eprintln!(
                    "note: {} customers have a {} the model never saw at training; scored as \
                     missing",
                    thousands(u.customers as u64),
                    u.feature
                );
            }
        }
    }
    Ok(())
}

/// Arguments of `retain runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// A run's predictions (by customer id), instead of the list of runs.
    #[arg(long, value_name = "RUN_ID", conflicts_with = "customer")]
    pub run: Option<String>,
    /// A customer's predictions in every run, newest first.
    #[arg(long, value_name = "ID")]
    pub customer: Option<String>,
    /// With --run: predictions shown at most.
    #[arg(long, default_value_t = 20)]
    pub limit: i64,
    #[command(flatten)]
    pub store: StoreArgs,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn runs(args: RunsArgs) -> anyhow::Result<()> {
    let store = args.store.open().await?;
    let json = matches!(args.format, Format::Json);
    if let Some(run_id) = &args.run {
        let predictions = store.predictions_of_run(run_id, None, args.limit).await?;
        if json {
            outln!("{}", serde_json::to_string(&predictions)?)?;
        } else {
            let rows: Vec<Vec<String>> = predictions
                .iter()
                .map(|p| {
                    vec![
                        p.customer_id.clone(),
                        format!("{:.4}", p.score),
                        p.label.clone().unwrap_or_default(),
                        reasons_text(&p.reasons),
                    ]
                })
                .collect();
            out!(
                "{}",
                table(&["customer", "score", "label", "reasons"], &rows)
            )?;
        }
    } else if let Some(customer) = &args.customer {
        let found = store.predictions_of_customer(customer).await?;
        if json {
            let found: Vec<_> = found
                .iter()
                .map(|(run, p)| serde_json::json!({"run": run, "prediction": p}))
                .collect();
            outln!("{}", serde_json::to_string(&found)?)?;
        } else if found.is_empty() {
            outln!("no stored predictions of customer {customer}")?;
        } else {
            let rows: Vec<Vec<String>> = found
                .iter()
                .map(|(run, p)| {
                    vec![
                        run.run_id.clone(),
                        format!("{} v{}", run.model, run.version),
                        run.created_at.clone(),
                        format!("{:.4}", p.score),
                        p.label.clone().unwrap_or_default(),
                        reasons_text(&p.reasons),
                    ]
                })
                .collect();
            out!(
                "{}",
                table(
                    &["run", "model", "scored at", "score", "label", "reasons"],
                    &rows
                )
            )?;
        }
    } else {
        let runs = store.runs().await?;
        if json {
            outln!("{}", serde_json::to_string(&runs)?)?;
        } else if runs.is_empty() {
            outln!("no runs stored; `retain score --model NAME --customers FILE` writes one")?;
        } else {
            let rows: Vec<Vec<String>> = runs
                .iter()
                .map(|r| {
                    vec![
                        r.run_id.clone(),
                        format!("{} v{}", r.model, r.version),
                        thousands(r.customers as u64),
                        r.source.clone(),
                        r.created_at.clone(),
                    ]
                })
                .collect();
            out!(
                "{}",
                table(&["run", "model", "customers", "source", "scored at"], &rows)
            )?;
        }
    }
    Ok(())
}

/// `tenure=2 (+0.81), Contract=Month-to-month (+0.42)`: stored reasons on one line, values
/// shown as the model shows them.
pub fn reasons_text(reasons: &serde_json::Value) -> String {
    let reasons: Vec<Reason> = serde_json::from_value(reasons.clone()).unwrap_or_default();
    reasons
        .iter()
        .map(|r| format!("{}={} ({:+.2})", r.feature, r.value, r.contribution))
        .collect::<Vec<_>>()
        .join(", ")
}
