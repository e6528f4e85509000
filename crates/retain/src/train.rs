//! `retain train churn|clv|value`: a gradient-boosted model from a customer table with a label
//! column, or from a transaction log at a cutoff date (behaviour before it as features, what the
//! customer did in the window after it as the label), optionally with the customers'
//! attributes and BG/NBD's P(alive) and expected purchases. Prints k-fold cross-validated
//! metrics, saves the model with its feature schema, and scores customers with their reasons.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, ValueEnum};
use retain_data::datafusion::arrow::array::{
    Array, ArrayRef, Float64Array, RecordBatch, StringArray,
};
use retain_data::datafusion::arrow::datatypes::{DataType, Field, Schema};
use retain_data::features::{
    behaviour_features, outcomes, repeat_summary, RepeatSummary, BEHAVIOUR_FEATURES,
};
use retain_data::{
    read_customer_table, ColumnKind, CustomerTable, CustomerTableOptions, PurchaseHistory,
};
use retain_models::btyd::{score_customers, BgNbd, FitOptions, RfmData};
use retain_models::supervised::{
    Attribution, ColumnValues, CrossValidation, Explanation, FeatureFrame, FittedModel,
    GradientBoosting, Task,
};
use retain_scoring::{FeatureRecipe, ModelArtifact, TrainingInfo, ARTIFACT_FORMAT};

use crate::args::{parse_day, DelimiterArg, Format, TransactionArgs};
use crate::fmt::{table, thousands, write_result};

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

/// Rows to learn from: features, labels, and each row's customer id.
pub struct Dataset {
    pub frame: FeatureFrame,
    pub y: Vec<f64>,
    pub ids: Vec<String>,
    pub target: String,
    /// Text columns left out, with why.
    pub skipped: Vec<String>,
}

/// A trained model with what it was trained and measured on.
pub struct Trained {
    pub task: Task,
    pub data: Dataset,
    pub history: Option<PurchaseHistory>,
    pub table: Option<CustomerTable>,
    pub recipe: FeatureRecipe,
    pub cv: CrossValidation,
    pub cv_seconds: f64,
    pub boosting: GradientBoosting,
    pub model: FittedModel,
    pub fit_seconds: f64,
}

/// Reads the inputs, cross-validates, and trains the model on all rows.
pub fn train(args: &TrainArgs) -> anyhow::Result<Trained> {
    let task = Task::from(args.task);
    let from_log = !args.log.files.is_empty();
    let table = match &args.customers {
        Some(path) => Some(read_customer_table(
            path,
            &CustomerTableOptions {
                id_col: args.id_col.clone(),
                delimiter: args.table_delimiter.into(),
                na_values: args.na.clone(),
                bad_rows: None,
            },
        )?),
        None => None,
    };
    let (data, history, recipe) = if from_log {
        let cutoff = args
            .cutoff
            .context("--cutoff is needed with a transaction log: features come from before it, labels from after")?;
        let (history, (_, last)) = args.log.purchase_history()?;
        if last < cutoff + args.horizon_days {
            anyhow::bail!(
                "the log ends on {}, before the end of the {}-day label window after the cutoff ({}); \
                 choose an earlier --cutoff or a shorter --horizon-days",
                day_text(last),
                args.horizon_days,
                day_text(cutoff + args.horizon_days)
            );
        }
        let data = log_dataset(args, task, &history, table.as_ref(), cutoff)?;
        let recipe = FeatureRecipe::Transactions {
            trend_days: args.trend_days,
            horizon_days: args.horizon_days,
            btyd: args.btyd,
            attributes: table.is_some(),
        };
        (data, Some(history), recipe)
    } else {
        let table = table.as_ref().context(
            "give --customers FILE with --label COL, or a transaction log with -t FILE --cutoff DATE",
        )?;
        let label = args
            .label
            .as_deref()
            .context("--label COL names the customer table's label column")?;
        let data = table_dataset(table, task, label, args)?;
        let recipe = FeatureRecipe::Table {
            id_col: args.id_col.clone(),
        };
        (data, None, recipe)
    };
    let params = GradientBoosting {
        rounds: args.rounds,
        learning_rate: args.learning_rate,
        max_depth: args.depth,
        seed: args.seed,
        ..GradientBoosting::new(task)
    };
    let started = Instant::now();
    let cv = params.cross_validate(&data.frame, &data.y, args.folds)?;
    let cv_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let model = params.fit(&data.frame, &data.y)?;
    let fit_seconds = started.elapsed().as_secs_f64();
    Ok(Trained {
        task,
        data,
        history,
        table,
        recipe,
        cv,
        cv_seconds,
        boosting: params,
        model,
        fit_seconds,
    })
}

/// Scores customers with their reasons: the table's rows, or the log's customers at
/// --score-at (default: the log's last day).
pub fn score(
    args: &TrainArgs,
    trained: &Trained,
) -> anyhow::Result<(Vec<String>, Vec<Explanation>)> {
    let (frame, ids) = match &trained.history {
        Some(history) => {
            let at = args
                .score_at
                .unwrap_or_else(|| history.span().map_or(0, |s| s.1));
            let (frame, customers) =
                log_features(history, args.table_ids(trained.table.as_ref())?, at, args)?;
            (
                frame,
                customers
                    .iter()
                    .map(|&k| history.id(k).to_string())
                    .collect(),
            )
        }
        None => (trained.data.frame.clone(), trained.data.ids.clone()),
    };
    let attribution = if args.exact_shap {
        Attribution::Shapley
    } else {
        Attribution::Path
    };
    Ok((
        ids,
        trained
            .model
            .explain(&frame, args.reasons, attribution)?
            .explanations,
    ))
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let trained = train(&args)?;
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
                    "skipped": data.skipped,
                })
            )?;
        }
        Format::Table => out!(
            "{}",
            report(task, data, cv, model, args.folds, label_mean, cv_seconds)
        )?,
    }

    save(&args, &trained)?;

    if let Some(path) = &args.predictions {
        let started = Instant::now();
        let (ids, explained) = score(&args, &trained)?;
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
pub fn save(args: &TrainArgs, trained: &Trained) -> anyhow::Result<()> {
    let Some(path) = &args.output else {
        return Ok(());
    };
    let Trained {
        task, data, model, ..
    } = trained;
    let task = *task;
    let label_mean = data.label_mean();
    let summary = trained.cv.summary();
    let sources: Vec<&PathBuf> = args.customers.iter().chain(&args.log.files).collect();
    let data_fingerprint = retain_store::fingerprint_files(&sources)
        .context("reading the training data again for its fingerprint")?;
    let artifact = ModelArtifact {
        format: ARTIFACT_FORMAT.into(),
        task,
        target: data.target.clone(),
        recipe: trained.recipe.clone(),
        training: TrainingInfo {
            rows: data.frame.rows,
            features: data.frame.columns.len(),
            label_mean,
            cutoff: args.cutoff.map(day_text),
            sources: sources.iter().map(|p| p.display().to_string()).collect(),
            folds: args.folds,
            cv: summary
                .iter()
                .map(|(n, m, s)| ((*n).to_string(), (*m, *s)))
                .collect(),
            trained_at_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            data_fingerprint,
            boosting: trained.boosting,
        },
        model: model.clone(),
    };
    retain_data::output::write_file(path, &serde_json::to_vec(&artifact)?)?;
    eprintln!("saved the model to {}", path.display());
    Ok(())
}

impl Dataset {
    /// Mean of the label: the share of positives for yes/no tasks.
    pub fn label_mean(&self) -> f64 {
        self.y.iter().sum::<f64>() / self.y.len() as f64
    }
}

/// "auc 0.842 ± 0.015, log_loss …": the cross-validated metrics on one line.
pub fn cv_line(cv: &CrossValidation) -> String {
    cv.summary()
        .iter()
        .map(|(n, m, s)| format!("{n} {m:.3} ± {s:.3}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl TrainArgs {
    /// The customer table's ids and attributes, for joining to a log's customers.
    fn table_ids<'a>(
        &self,
        table: Option<&'a CustomerTable>,
    ) -> anyhow::Result<Option<(&'a CustomerTable, HashMap<String, usize>)>> {
        let Some(table) = table else { return Ok(None) };
        let ids = table
            .ids()
            .context("joining a customer table to a log needs its --id-col")?;
        Ok(Some((
            table,
            (0..ids.len())
                .map(|i| (ids.value(i).to_string(), i))
                .collect(),
        )))
    }
}

fn day_text(day: i32) -> String {
    retain_data::dates::format_day(day)
}

/// The data a purchase model is fitted on: every customer but those acquired on the summary's
/// day itself (T = 0), who tell the fit nothing (they are still scored).
pub fn fit_data(s: &RepeatSummary) -> anyhow::Result<RfmData> {
    let kept: Vec<usize> = (0..s.t.len()).filter(|&i| s.t[i] > 0.0).collect();
    let pick = |v: &[f64]| -> Vec<f64> { kept.iter().map(|&i| v[i]).collect() };
    Ok(RfmData::new(&pick(&s.x), &pick(&s.t_x), &pick(&s.t), None)?)
}

/// Features and labels from a customer table with a label column.
fn table_dataset(
    table: &CustomerTable,
    task: Task,
    label: &str,
    args: &TrainArgs,
) -> anyhow::Result<Dataset> {
    let y: Vec<f64> = if task.is_classification() {
        table
            .flags(label, "label")?
            .into_iter()
            .map(|f| f64::from(u8::from(f)))
            .collect()
    } else {
        table.required_numbers(label, "label")?
    };
    let rows: Vec<usize> = (0..y.len()).collect();
    let (frame, skipped) = attribute_frame(table, &rows, &[label], args)?;
    let ids = match table.ids() {
        Some(ids) => (0..ids.len()).map(|i| ids.value(i).to_string()).collect(),
        None => (1..=y.len()).map(|i| format!("row {i}")).collect(),
    };
    Ok(Dataset {
        frame,
        y,
        ids,
        target: format!("column {label}"),
        skipped,
    })
}

/// The table's attribute columns for the rows `rows` (`usize::MAX`: a customer the table does
/// not have, all missing).
fn attribute_frame(
    table: &CustomerTable,
    rows: &[usize],
    leave_out: &[&str],
    args: &TrainArgs,
) -> anyhow::Result<(FeatureFrame, Vec<String>)> {
    let mut frame = FeatureFrame::new(rows.len());
    let mut skipped = Vec::new();
    let first_attribute = usize::from(table.ids().is_some());
    for column in &table.columns[first_attribute..] {
        let name = column.name.as_str();
        if leave_out.contains(&name) || args.exclude.iter().any(|e| e == name) {
            continue;
        }
        match column.kind {
            ColumnKind::Integer | ColumnKind::Float => {
                let values = table.numbers(name, "exclude")?;
                let picked = rows
                    .iter()
                    .map(|&r| values.get(r).copied().flatten().unwrap_or(f64::NAN))
                    .collect();
                frame.push(name, ColumnValues::Numbers(picked))?;
            }
            _ if column.distinct > args.max_categories => skipped.push(format!(
                "{name} ({} distinct values; raise --max-categories to keep it)",
                thousands(column.distinct)
            )),
            _ => {
                let values = table.text(name, "exclude")?;
                let picked = rows
                    .iter()
                    .map(|&r| values.get(r).and_then(|v| v.as_deref()));
                frame.push(name, ColumnValues::categories(picked))?;
            }
        }
    }
    Ok((frame, skipped))
}

/// Features of the log's customers at `day` (behaviour, BG/NBD when asked, attributes when a
/// table is given), and the customers (indices into the history) they describe.
fn log_features(
    history: &PurchaseHistory,
    table: Option<(&CustomerTable, HashMap<String, usize>)>,
    day: i32,
    args: &TrainArgs,
) -> anyhow::Result<(FeatureFrame, Vec<usize>)> {
    let behaviour = behaviour_features(history, day, args.trend_days);
    let n = behaviour.customers.len();
    if n < 2 {
        anyhow::bail!("fewer than 2 customers had bought by {}", day_text(day));
    }
    let mut frame = FeatureFrame::new(n);
    for (name, column) in BEHAVIOUR_FEATURES.iter().zip(behaviour.columns) {
        frame.push(*name, ColumnValues::Numbers(column))?;
    }
    if args.btyd {
        // Weeks, as the BG/NBD literature; fitted on the purchases up to `day` only.
        let summary = repeat_summary(history, &behaviour.customers, day, 7.0);
        let model = BgNbd::fit(&fit_data(&summary)?, &FitOptions::default())
            .context("fitting BG/NBD for the P(alive) and expected-purchase features")?
            .params;
        let horizon = f64::from(args.horizon_days) / 7.0;
        let scores = score_customers(
            &model,
            (&summary.x, &summary.t_x, &summary.t),
            horizon,
            None,
        )?;
        let (p_alive, expected) = (scores.p_alive, scores.expected_purchases);
        frame.push("p_alive", ColumnValues::Numbers(p_alive))?;
        frame.push("expected_purchases", ColumnValues::Numbers(expected))?;
    }
    if let Some((table, index)) = table {
        let rows: Vec<usize> = behaviour
            .customers
            .iter()
            .map(|&k| index.get(history.id(k)).copied().unwrap_or(usize::MAX))
            .collect();
        let unmatched = rows.iter().filter(|&&r| r == usize::MAX).count();
        if unmatched > 0 {
            eprintln!(
                "note: {} of {} customers of the log are not in the customer table: their attributes are missing",
                thousands(unmatched as u64),
                thousands(n as u64)
            );
        }
        let (attributes, skipped) = attribute_frame(table, &rows, &[], args)?;
        for s in skipped {
            eprintln!("left out: {s}");
        }
        for column in attributes.columns {
            frame.push(column.name, column.values)?;
        }
    }
    Ok((frame, behaviour.customers))
}

/// Features at the cutoff and labels from the window after it.
fn log_dataset(
    args: &TrainArgs,
    task: Task,
    history: &PurchaseHistory,
    table: Option<&CustomerTable>,
    cutoff: i32,
) -> anyhow::Result<Dataset> {
    let (frame, customers) = log_features(history, args.table_ids(table)?, cutoff, args)?;
    let window = outcomes(history, &customers, cutoff, args.horizon_days);
    let horizon = args.horizon_days;
    let (y, target) = match task {
        Task::Churn => (
            window.churned(),
            format!(
                "no purchase in the {horizon} days after {}",
                day_text(cutoff)
            ),
        ),
        Task::Clv => (
            window.spend.clone(),
            format!("spend in the {horizon} days after {}", day_text(cutoff)),
        ),
        Task::Value => (
            window.top_value(args.top_share),
            format!(
                "in the top {:.0}% by spend in the {horizon} days after {}",
                100.0 * args.top_share,
                day_text(cutoff)
            ),
        ),
    };
    Ok(Dataset {
        frame,
        y,
        ids: customers
            .iter()
            .map(|&k| history.id(k).to_string())
            .collect(),
        target,
        skipped: Vec::new(),
    })
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
    for s in &data.skipped {
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

/// One row per customer: id, score, and the top reasons as feature / value / contribution
/// columns.
pub fn predictions_batch(
    task: Task,
    ids: &[String],
    explained: &[Explanation],
    reasons: usize,
) -> anyhow::Result<RecordBatch> {
    let mut fields = vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("score", DataType::Float64, false),
        Field::new("base", DataType::Float64, false),
        Field::new(
            if task.is_classification() {
                "log_odds"
            } else {
                "raw"
            },
            DataType::Float64,
            false,
        ),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(ids)),
        Arc::new(Float64Array::from_iter_values(
            explained.iter().map(|e| e.score),
        )),
        Arc::new(Float64Array::from_iter_values(
            explained.iter().map(|e| e.base),
        )),
        Arc::new(Float64Array::from_iter_values(
            explained.iter().map(|e| e.raw),
        )),
    ];
    for k in 0..reasons {
        let reason = |e: &Explanation| e.reasons.get(k).cloned();
        fields.push(Field::new(
            format!("reason_{}", k + 1),
            DataType::Utf8,
            true,
        ));
        fields.push(Field::new(format!("value_{}", k + 1), DataType::Utf8, true));
        fields.push(Field::new(
            format!("contribution_{}", k + 1),
            DataType::Float64,
            true,
        ));
        columns.push(Arc::new(StringArray::from_iter(
            explained.iter().map(|e| reason(e).map(|r| r.feature)),
        )));
        columns.push(Arc::new(StringArray::from_iter(
            explained
                .iter()
                .map(|e| reason(e).map(|r| r.value.to_string())),
        )));
        columns.push(Arc::new(Float64Array::from_iter(
            explained.iter().map(|e| reason(e).map(|r| r.contribution)),
        )));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}
