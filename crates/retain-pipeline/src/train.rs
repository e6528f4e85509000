//! Training a gradient-boosted churn, value-tier or CLV model: from a customer table with a
//! label column, or from a transaction log at a cutoff (behaviour up to it as features, what
//! the customer did in the window after it as the label), with k-fold cross-validation, the
//! model fitted on all rows, and the artifact that scores later exactly as training did.
//!
//! ```no_run
//! use retain_models::supervised::Task;
//! use retain_pipeline::source::Log;
//! use retain_pipeline::train::{train, TrainInput, TrainOptions};
//!
//! let log = Log { files: vec!["transactions.csv".into()], ..Log::default() };
//! let input = TrainInput::read(None, Some(&log))?;
//! let options = TrainOptions {
//!     cutoff: Some(retain_data::dates::days_from_civil(2011, 9, 1)),
//!     ..TrainOptions::new(Task::Churn)
//! };
//! let trained = train(&input, &options)?;
//! println!("cross-validated: {:?}", trained.cv.summary());
//! let artifact = trained.artifact(&options, &input)?; // what `retain registry register` takes
//! # Ok::<(), retain_pipeline::PipelineError>(())
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use retain_data::datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use retain_data::datafusion::arrow::datatypes::{DataType, Field, Schema};
use retain_data::features::outcomes;
use retain_data::{read_customer_table, CustomerTable, CustomerTableOptions, PurchaseHistory};
use retain_models::supervised::{
    Attribution, ColumnValues, CrossValidation, Explanation, FeatureFrame, FittedModel,
    GradientBoosting, Task,
};
use retain_scoring::monitor::TrainingSample;
use retain_scoring::{FeatureRecipe, LogRecipe, ModelArtifact, TrainingInfo, ARTIFACT_FORMAT};

use crate::attributes::{AttributeSelection, AttributeValues, SkippedColumn};
use crate::error::invalid;
use crate::source::Log;
use crate::{PipelineError, Result};

/// What to train and how.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub task: Task,
    /// The customer table's label column (churn and value: yes/no flags; clv: amounts).
    /// Needed without a log; with a log, labels come from the window after the cutoff.
    pub label: Option<String>,
    /// Which table columns are attributes.
    pub attributes: AttributeSelection,
    /// With a log: features from purchases up to this day, labels from the window after it.
    pub cutoff: Option<i32>,
    /// Days in the label window after the cutoff.
    pub horizon_days: i32,
    /// Days in each of the two windows compared by the spend-trend features.
    pub trend_days: i32,
    /// value: the top share of window spend that counts as high value.
    pub top_share: f64,
    /// Add BG/NBD's P(alive) and expected purchases over the horizon as features.
    pub btyd: bool,
    /// With a log: only customers who bought in the last this many days before the cutoff are
    /// trained on (and, by the saved recipe, scored).
    pub active_days: Option<i32>,
    /// Cross-validation folds.
    pub folds: usize,
    /// Boosting rounds, shrinkage, depth and seed (the rest as `GradientBoosting::new`).
    pub boosting: GradientBoosting,
}

impl TrainOptions {
    /// The defaults for a task: 90-day windows, 5 folds, 400 trees of depth 4 at 0.03.
    pub fn new(task: Task) -> TrainOptions {
        TrainOptions {
            task,
            label: None,
            attributes: AttributeSelection::default(),
            cutoff: None,
            horizon_days: 90,
            trend_days: 90,
            top_share: 0.2,
            btyd: false,
            active_days: None,
            folds: 5,
            boosting: GradientBoosting::new(task),
        }
    }
}

/// The data a model is trained on: a customer table, a transaction log, or both (the table's
/// attributes joined to the log's customers by id), and the files they came from.
#[derive(Debug, Clone, Default)]
pub struct TrainInput {
    pub table: Option<CustomerTable>,
    pub history: Option<PurchaseHistory>,
    /// The table's customer id column, when it has one.
    pub id_col: Option<String>,
    /// The files read, for the artifact's record of its data.
    pub sources: Vec<PathBuf>,
}

impl TrainInput {
    /// Reads a customer table and a log, either or both.
    pub fn read(
        table: Option<(&Path, &CustomerTableOptions)>,
        log: Option<&Log>,
    ) -> Result<TrainInput> {
        let mut input = TrainInput::default();
        if let Some((path, options)) = table {
            input.table = Some(read_customer_table(path, options)?);
            input.id_col = options.id_col.clone();
            input.sources.push(match &options.database {
                Some(source) => PathBuf::from(source.name()),
                None => path.to_path_buf(),
            });
        }
        if let Some(log) = log {
            input.history = Some(log.history()?.0);
            input.sources.extend(log.files.iter().cloned());
            if let Some(database) = &log.read.database {
                input.sources.push(PathBuf::from(database.name()));
            }
        }
        Ok(input)
    }
}

/// Rows to learn from: features, labels, and each row's customer id.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub frame: FeatureFrame,
    pub y: Vec<f64>,
    pub ids: Vec<String>,
    /// What the label is, in words.
    pub target: String,
    /// Text columns left out for having too many distinct values.
    pub skipped: Vec<SkippedColumn>,
}

impl Dataset {
    /// Mean of the label: the share of positives for yes/no tasks.
    pub fn label_mean(&self) -> f64 {
        self.y.iter().sum::<f64>() / self.y.len() as f64
    }
}

/// A trained model with what it was trained and measured on.
#[derive(Debug)]
pub struct Trained {
    pub task: Task,
    pub data: Dataset,
    pub recipe: FeatureRecipe,
    pub cv: CrossValidation,
    pub cv_seconds: f64,
    pub model: FittedModel,
    pub fit_seconds: f64,
    /// What the caller should know (customers of the log missing from the table, …).
    pub notes: Vec<String>,
}

/// Cross-validates and trains the model on all rows.
pub fn train(input: &TrainInput, options: &TrainOptions) -> Result<Trained> {
    let task = options.task;
    let mut notes = Vec::new();
    let (data, recipe) = match &input.history {
        Some(history) => {
            let cutoff = options.cutoff.ok_or_else(|| {
                PipelineError::missing(
                    "cutoff",
                    "a cutoff date is needed with a transaction log: features come from \
                     before it, labels from after",
                )
            })?;
            let (_, last) = history
                .span()
                .ok_or_else(|| invalid!("the log has no usable transactions"))?;
            if last < cutoff + options.horizon_days {
                return Err(PipelineError::Unfit {
                    options: &["cutoff", "horizon_days"],
                    why: format!(
                        "the log ends on {}, before the end of the {}-day label window after \
                         the cutoff ({}); choose an earlier cutoff or a shorter horizon",
                        day_text(last),
                        options.horizon_days,
                        day_text(cutoff + options.horizon_days)
                    ),
                });
            }
            let recipe = LogRecipe {
                trend_days: options.trend_days,
                horizon_days: options.horizon_days,
                btyd: options.btyd,
                attributes: input.table.is_some(),
                bgnbd: None,
                active_days: options.active_days,
            }
            .fitted(history, cutoff)?;
            let data = log_dataset(
                options,
                history,
                input.table.as_ref(),
                &recipe,
                cutoff,
                &mut notes,
            )?;
            (data, FeatureRecipe::Transactions(recipe))
        }
        None => {
            let table = input.table.as_ref().ok_or_else(|| {
                PipelineError::missing(
                    "customers",
                    "give a customer table with a label column, or a transaction log with a \
                     cutoff date",
                )
            })?;
            let label = options.label.as_deref().ok_or_else(|| {
                PipelineError::missing("label", "name the customer table's label column")
            })?;
            let data = table_dataset(table, task, label, &options.attributes)?;
            let recipe = FeatureRecipe::Table {
                id_col: input.id_col.clone(),
            };
            (data, recipe)
        }
    };
    let params = GradientBoosting {
        task,
        ..options.boosting
    };
    let started = Instant::now();
    let cv = params.cross_validate(&data.frame, &data.y, options.folds)?;
    let cv_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let model = params.fit(&data.frame, &data.y)?;
    let fit_seconds = started.elapsed().as_secs_f64();
    Ok(Trained {
        task,
        data,
        recipe,
        cv,
        cv_seconds,
        model,
        fit_seconds,
        notes,
    })
}

impl Trained {
    /// The model as saved and registered: the trees, the feature recipe, and what it was
    /// trained and measured on (with the fingerprint of the input files).
    pub fn artifact(&self, options: &TrainOptions, input: &TrainInput) -> Result<ModelArtifact> {
        let sources: Vec<&PathBuf> = input.sources.iter().collect();
        let data_fingerprint =
            retain_store::fingerprint_files(&sources).map_err(|source| PipelineError::Io {
                context: "reading the training data again for its fingerprint".into(),
                source,
            })?;
        Ok(ModelArtifact {
            format: ARTIFACT_FORMAT.into(),
            task: self.task,
            target: self.data.target.clone(),
            recipe: self.recipe.clone(),
            training: TrainingInfo {
                rows: self.data.frame.rows,
                features: self.data.frame.columns.len(),
                label_mean: self.data.label_mean(),
                cutoff: match self.recipe {
                    FeatureRecipe::Transactions(_) => options.cutoff.map(day_text),
                    FeatureRecipe::Table { .. } => None,
                },
                sources: sources.iter().map(|p| p.display().to_string()).collect(),
                folds: options.folds,
                cv: self
                    .cv
                    .summary()
                    .iter()
                    .map(|(n, m, s)| ((*n).to_string(), (*m, *s)))
                    .collect(),
                trained_at_unix: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                data_fingerprint,
                boosting: GradientBoosting {
                    task: self.task,
                    ..options.boosting
                },
            },
            model: self.model.clone(),
            training_sample: Some(TrainingSample::of(
                &self.data.frame,
                &self.model.predict(&self.data.frame)?.score,
            )),
        })
    }

    /// Scores customers with their top `reasons`: the table's rows, or the log's customers at
    /// `at` (default: the log's last day) with features made by the model's recipe.
    pub fn score(
        &self,
        input: &TrainInput,
        options: &TrainOptions,
        at: Option<i32>,
        reasons: usize,
        attribution: Attribution,
    ) -> Result<(Vec<String>, Vec<Explanation>)> {
        let (frame, ids) = match (&input.history, &self.recipe) {
            (Some(history), FeatureRecipe::Transactions(recipe)) => {
                let at = at.unwrap_or_else(|| history.span().map_or(0, |s| s.1));
                let mut notes = Vec::new();
                let (frame, customers) = log_features(
                    history,
                    input.table.as_ref(),
                    recipe,
                    at,
                    &options.attributes,
                    &mut notes,
                )?;
                let ids = customers
                    .iter()
                    .map(|&k| history.id(k).to_string())
                    .collect();
                (frame, ids)
            }
            _ => (self.data.frame.clone(), self.data.ids.clone()),
        };
        Ok((
            ids,
            self.model
                .explain(&frame, reasons, attribution)?
                .explanations,
        ))
    }
}

/// Features and labels from a customer table with a label column.
fn table_dataset(
    table: &CustomerTable,
    task: Task,
    label: &str,
    selection: &AttributeSelection,
) -> Result<Dataset> {
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
    let (frame, skipped) = attribute_frame(table, &rows, &[label], selection)?;
    let ids = match table.ids() {
        Some(ids) => ids.iter().map(|id| id.unwrap_or("").to_string()).collect(),
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
    selection: &AttributeSelection,
) -> Result<(FeatureFrame, Vec<SkippedColumn>)> {
    let chosen = selection.select(table, leave_out)?;
    let mut frame = FeatureFrame::new(rows.len());
    for column in chosen.columns {
        let values = match &column.values {
            AttributeValues::Numbers(values) => ColumnValues::Numbers(
                rows.iter()
                    .map(|&r| values.get(r).copied().flatten().unwrap_or(f64::NAN))
                    .collect(),
            ),
            AttributeValues::Categories(values) => ColumnValues::categories(
                rows.iter()
                    .map(|&r| values.get(r).and_then(|v| v.as_deref())),
            ),
        };
        frame.push(column.name, values)?;
    }
    Ok((frame, chosen.skipped))
}

/// Features of the log's customers at `day` (by the recipe; attributes when a table is
/// given), and the customers (indices into the history) they describe.
fn log_features(
    history: &PurchaseHistory,
    table: Option<&CustomerTable>,
    recipe: &LogRecipe,
    day: i32,
    selection: &AttributeSelection,
    notes: &mut Vec<String>,
) -> Result<(FeatureFrame, Vec<usize>)> {
    let made = recipe.features(history, day)?;
    let mut frame = made.frame;
    let n = made.customers.len();
    if let Some(table) = table {
        let ids = table.ids().ok_or_else(|| {
            PipelineError::missing(
                "id_col",
                "joining a customer table to a log needs the table's customer id column",
            )
        })?;
        let index: HashMap<&str, usize> = ids
            .iter()
            .enumerate()
            .filter_map(|(i, id)| id.map(|id| (id, i)))
            .collect();
        let rows: Vec<usize> = made
            .customers
            .iter()
            .map(|&k| index.get(history.id(k)).copied().unwrap_or(usize::MAX))
            .collect();
        let unmatched = rows.iter().filter(|&&r| r == usize::MAX).count();
        if unmatched > 0 {
            notes.push(format!(
                "{unmatched} of {n} customers of the log are not in the customer table: their \
                 attributes are missing"
            ));
        }
        let (attributes, skipped) = attribute_frame(table, &rows, &[], selection)?;
        notes.extend(skipped.iter().map(|s| format!("left out: {s}")));
        for column in attributes.columns {
            frame.push(column.name, column.values)?;
        }
    }
    Ok((frame, made.customers))
}

/// Features at the cutoff and labels from the window after it.
fn log_dataset(
    options: &TrainOptions,
    history: &PurchaseHistory,
    table: Option<&CustomerTable>,
    recipe: &LogRecipe,
    cutoff: i32,
    notes: &mut Vec<String>,
) -> Result<Dataset> {
    let (frame, customers) =
        log_features(history, table, recipe, cutoff, &options.attributes, notes)?;
    if customers.len() < 2 {
        return Err(invalid!(
            "fewer than 2 customers had bought by {}",
            day_text(cutoff)
        ));
    }
    let window = outcomes(history, &customers, cutoff, options.horizon_days);
    let horizon = options.horizon_days;
    let (y, target) = match options.task {
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
            window.top_value(options.top_share),
            format!(
                "in the top {:.0}% by spend in the {horizon} days after {}",
                100.0 * options.top_share,
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

fn day_text(day: i32) -> String {
    retain_data::dates::format_day(day)
}

/// One row per customer: id, score, base, log-odds (or raw amount) and the top reasons as
/// feature / value / contribution columns.
pub fn predictions_batch(
    task: Task,
    ids: &[String],
    explained: &[Explanation],
    reasons: usize,
) -> Result<RecordBatch> {
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
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| invalid!("the predictions table: {e}"))
}
