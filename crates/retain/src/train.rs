//! `retain train churn|clv|value`: the arguments, mapped to `retain_pipeline::train`'s
//! options, and the report (cross-validated metrics, calibration, importance). Training,
//! scoring and the saved artifact are the library's.

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};
use retain_data::CustomerTableOptions;
use retain_models::supervised::{
    Attribution, CrossValidation, FittedModel, GradientBoosting, Task,
};
use retain_pipeline::attributes::AttributeSelection;
use retain_pipeline::train::{predictions_batch, Dataset, TrainInput, TrainOptions, Trained};
use retain_pipeline::PipelineError;

use crate::args::{parse_day, CustomerSourceArgs, DelimiterArg, Format, TransactionArgs};
use crate::fmt::{skipped_lines, table, thousands, write_result};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TaskArg {
    /// Will the customer churn? (yes/no: a churn flag, or no purchase in the window)
    Churn,
    /// What will the customer spend? (an amount: a value column, or spend in the window)
    Clv,
    /// Is the customer in the top value tier? (yes/no: a flag, or top share of window spend)
    Value,
}

impl From<TaskArg> for Task {
    fn from(t: TaskArg) -> Task {
        match t {
            TaskArg::Churn => Task::Churn,
            TaskArg::Clv => Task::Clv,
            TaskArg::Value => Task::Value,
        }
    }
}

/// Arguments of `retain train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// What to predict.
    #[arg(value_enum)]
    pub task: TaskArg,
    /// Customer table: attributes (numbers, categories) and, without a log, the label column.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub customers: Option<PathBuf>,
    #[command(flatten)]
    pub customer_source: CustomerSourceArgs,
    /// Label column of the customer table (churn and value: yes/no flags; clv: amounts).
    /// Without it, labels come from the log's window after --cutoff.
    #[arg(long, value_name = "COL")]
    pub label: Option<String>,
    /// Customer id column of the customer table.
    #[arg(long, value_name = "COL")]
    pub id_col: Option<String>,
    /// Table columns to leave out, comma-separated.
    #[arg(long, value_name = "COLS", value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Text columns with more distinct values than this are left out (ids, free text).
    #[arg(long, default_value_t = 50)]
    pub max_categories: u64,
    /// Values read as missing besides a blank field, comma-separated.
    #[arg(long, value_name = "VALUES", value_delimiter = ',')]
    pub na: Vec<String>,
    #[arg(long, value_enum, default_value_t = DelimiterArg::Auto)]
    pub table_delimiter: DelimiterArg,
    #[command(flatten)]
    pub log: TransactionArgs,
    /// Features from purchases up to this day; labels from the window after it.
    #[arg(long, value_parser = parse_day, value_name = "YYYY-MM-DD")]
    pub cutoff: Option<i32>,
    /// Days in the label window after the cutoff.
    #[arg(long, default_value_t = 90, value_name = "DAYS")]
    pub horizon_days: i32,
    /// Days in each of the two windows compared by the spend-trend features.
    #[arg(long, default_value_t = 90, value_name = "DAYS")]
    pub trend_days: i32,
    /// value: the top share of window spend that counts as high value.
    #[arg(long, default_value_t = 0.2)]
    pub top_share: f64,
    /// Add BG/NBD's P(alive) and expected purchases over the horizon, fitted on the purchases
    /// up to each feature date.
    #[arg(long)]
    pub btyd: bool,
    /// With a log: train on (and score) only the customers who bought in the last DAYS days
    /// before the cutoff, the active base.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(i32).range(1..))]
    pub active_days: Option<i32>,
    /// Cross-validation folds.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Boosting rounds (trees).
    #[arg(long, default_value_t = 400)]
    pub rounds: usize,
    /// Shrinkage of each tree: lower needs more rounds.
    #[arg(long, default_value_t = 0.03)]
    pub learning_rate: f32,
    /// Depth of each tree (2^depth leaves at most); 4 lets a tree hold 3-way interactions.
    #[arg(long, default_value_t = 4)]
    pub depth: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Save the model trained on all rows (JSON: schema, training metadata, trees).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Score customers with the model and write each score with its top reasons (CSV, Parquet
    /// or JSON lines): the table's rows, or for a log every customer at --score-at.
    #[arg(long, value_name = "FILE")]
    pub predictions: Option<PathBuf>,
    /// Log: the day whose features are scored (default: the log's last day).
    #[arg(long, value_parser = parse_day, value_name = "YYYY-MM-DD")]
    pub score_at: Option<i32>,
    /// Reasons per prediction.
    #[arg(long, default_value_t = 3)]
    pub reasons: usize,
    /// Reasons by exact tree SHAP instead of path attribution (much slower on deep trees).
    #[arg(long)]
    pub exact_shap: bool,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

impl TrainArgs {
    /// The library's options for these arguments.
    pub fn options(&self) -> TrainOptions {
        TrainOptions {
            task: Task::from(self.task),
            label: self.label.clone(),
            attributes: AttributeSelection {
                exclude: self.exclude.clone(),
                max_categories: self.max_categories,
            },
            cutoff: self.cutoff,
            horizon_days: self.horizon_days,
            trend_days: self.trend_days,
            top_share: self.top_share,
            btyd: self.btyd,
            active_days: self.active_days,
            folds: self.folds,
            boosting: GradientBoosting {
                rounds: self.rounds,
                learning_rate: self.learning_rate,
                max_depth: self.depth,
                seed: self.seed,
                ..GradientBoosting::new(Task::from(self.task))
            },
        }
    }

    /// Reads the customer table and the log these arguments name.
    pub fn input(&self) -> anyhow::Result<TrainInput> {
        let table_options = CustomerTableOptions {
            id_col: self.id_col.clone(),
            delimiter: self.table_delimiter.into(),
            na_values: self.na.clone(),
            bad_rows: None,
            database: self
                .customers
                .as_deref()
                .and_then(|p| self.customer_source.database(p)),
        };
        let log = (!self.log.files.is_empty()).then(|| self.log.source());
        Ok(TrainInput::read(
            self.customers.as_deref().map(|p| (p, &table_options)),
            log.as_ref(),
        )?)
    }

    fn attribution(&self) -> Attribution {
        if self.exact_shap {
            Attribution::Shapley
        } else {
            Attribution::Path
        }
    }
}

/// Trains as the arguments say, printing the library's notes.
pub fn train(args: &TrainArgs) -> anyhow::Result<(TrainInput, Trained)> {
    let input = args.input()?;
    let trained = retain_pipeline::train::train(&input, &args.options()).map_err(flag_hint)?;
    for note in &trained.notes {
        eprintln!("note: {note}");
    }
    Ok((input, trained))
}

/// A library error about a missing option, with the flag that gives it.
fn flag_hint(error: PipelineError) -> anyhow::Error {
    match error.missing_option() {
        Some("customers") => anyhow::anyhow!(
            "{error} (give --customers FILE with --label COL, or -t FILE --cutoff DATE)"
        ),
        _ => crate::failure::with_flags(error, &[]),
    }
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let (input, trained) = train(&args)?;
    let Trained {
        task,
        data,
        cv,
        cv_seconds,
        model,
        fit_seconds,
        ..
    } = &trained;
    let (task, cv_seconds, fit_seconds) = (*task, *cv_seconds, *fit_seconds);

    let summary = cv.summary();
    let label_mean = data.label_mean();
    match args.format {
        Format::Json => {
            let mut metrics = serde_json::Map::new();
            for (name, mean, sd) in &summary {
                metrics.insert((*name).into(), serde_json::json!(mean));
                metrics.insert(format!("{name}_sd"), serde_json::json!(sd));
            }
            if let Some(calibration) = &cv.calibration {
                metrics.insert("calibration".into(), serde_json::json!(calibration));
            }
            outln!(
                "{}",
                serde_json::json!({
                    "task": task.name(),
                    "target": data.target,
                    "cv": metrics,
                    "folds": args.folds,
                    "n_rows": data.frame.rows,
                    "n_features": data.frame.columns.len(),
                    "label_mean": label_mean,
                    "trees": model.trees(),
                    "cv_train_seconds": cv.train_seconds,
                    "cv_seconds": cv_seconds,
                    "fit_seconds": fit_seconds,
                    "importance": model.importance(),
                    "skipped": skipped_lines(&data.skipped),
                })
            )?;
        }
        Format::Table => out!(
            "{}",
            report(task, data, cv, model, args.folds, label_mean, cv_seconds)
        )?,
    }

    save(&args, &input, &trained)?;

    if let Some(path) = &args.predictions {
        let started = Instant::now();
        let (ids, explained) = trained.score(
            &input,
            &args.options(),
            args.score_at,
            args.reasons,
            args.attribution(),
        )?;
        eprintln!(
            "scored {} customers with reasons in {:.2} s",
            thousands(explained.len() as u64),
            started.elapsed().as_secs_f64()
        );
        write_result(
            &predictions_batch(task, &ids, &explained, args.reasons)?,
            Some(path),
        )?;
    }
    Ok(())
}

/// Saves the model trained on all rows to --output, with its recipe and training metadata.
pub fn save(args: &TrainArgs, input: &TrainInput, trained: &Trained) -> anyhow::Result<()> {
    let Some(path) = &args.output else {
        return Ok(());
    };
    let artifact = trained.artifact(&args.options(), input)?;
    retain_data::output::write_file(path, &serde_json::to_vec(&artifact)?)?;
    eprintln!("saved the model to {}", path.display());
    Ok(())
}

/// "auc 0.842 ± 0.015, log_loss …": the cross-validated metrics on one line.
pub fn cv_line(cv: &CrossValidation) -> String {
    cv.summary()
        .iter()
        .map(|(n, m, s)| format!("{n} {m:.3} ± {s:.3}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn report(
    task: Task,
    data: &Dataset,
    cv: &CrossValidation,
    model: &FittedModel,
    folds: usize,
    label_mean: f64,
    cv_seconds: f64,
) -> String {
    let mut out = format!(
        "{} model: {} customers, {} features; label: {}; {}\n",
        task.name(),
        thousands(data.frame.rows as u64),
        data.frame.columns.len(),
        data.target,
        if task.is_classification() {
            format!("{:.1}% yes", 100.0 * label_mean)
        } else {
            format!("mean {label_mean:.2}")
        }
    );
    for s in skipped_lines(&data.skipped) {
        out.push_str(&format!("left out: {s}\n"));
    }
    out.push_str(&format!(
        "\n{folds}-fold cross-validation ({cv_seconds:.1} s):\n{}",
        table(
            &["metric", "mean", "sd"],
            &cv.summary()
                .iter()
                .map(|(n, m, s)| vec![(*n).into(), format!("{m:.4}"), format!("{s:.4}")])
                .collect::<Vec<_>>()
        )
    ));
    if let Some(calibration) = &cv.calibration {
        out.push_str(&format!(
            "\ncalibration (out-of-fold):\n{}",
            table(
                &["predicted", "customers", "mean predicted", "observed"],
                &calibration
                    .iter()
                    .map(|b| {
                        vec![
                            format!("{:.0}-{:.0}%", 100.0 * b.lower, 100.0 * b.upper),
                            thousands(b.customers as u64),
                            format!("{:.1}%", 100.0 * b.mean_predicted),
                            format!("{:.1}%", 100.0 * b.observed_rate),
                        ]
                    })
                    .collect::<Vec<_>>()
            )
        ));
    }
    out.push_str(&format!(
        "\nfeature importance (share of split gain, {} trees):\n{}",
        model.trees(),
        table(
            &["feature", "share"],
            &model
                .importance()
                .iter()
                .take(10)
                .map(|i| vec![i.feature.clone(), format!("{:.1}%", 100.0 * i.share)])
                .collect::<Vec<_>>()
        )
    ));
    out
}
