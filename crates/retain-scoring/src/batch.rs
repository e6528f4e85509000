//! Batch scoring: a customer file scored by a registered model version, every prediction with
//! its reasons written into the store as one run. The run id is a hash of the model version,
//! the file's SHA-256 and the settings, so scoring the same file again finds the run instead of
//! writing it twice; the run is written in one transaction, so a killed job leaves nothing.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use retain_data::{
    read_customer_table, CustomerTable, CustomerTableOptions, Delimiter, PurchaseHistory,
    ReadOptions,
};
use retain_models::drift::DriftOptions;
use retain_models::supervised::{ColumnValues, FeatureFrame, FeatureKind, FeatureSchema};
use retain_store::{NewDrift, NewRun, RunFacts, RunOutcome, Store, StoreError, StoredPrediction};
use serde::Serialize;

use crate::monitor::RunDrift;
use crate::{FeatureRecipe, Scorer, ScoringError, UnseenLevels, ID_FIELD};

/// A registered model by name, with the alias or version to use: `churn` (its `production`
/// alias), `churn@challenger`, `churn:3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    pub name: String,
    pub selector: Selector,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Alias(String),
    Version(i64),
}

/// The alias a model name alone stands for.
pub const DEFAULT_ALIAS: &str = "production";

impl FromStr for ModelRef {
    type Err = String;

    fn from_str(s: &str) -> Result<ModelRef, String> {
        let (name, selector) = if let Some((name, alias)) = s.split_once('@') {
            (name, Selector::Alias(alias.to_string()))
        } else if let Some((name, version)) = s.split_once(':') {
            let version = version.parse().map_err(|_| {
                format!("{s}: expected NAME:VERSION with a version number, found {version:?}")
            })?;
            (name, Selector::Version(version))
        } else {
            (s, Selector::Alias(DEFAULT_ALIAS.into()))
        };
        if name.is_empty() || matches!(&selector, Selector::Alias(a) if a.is_empty()) {
            return Err(format!(
                "{s}: expected NAME, NAME@ALIAS or NAME:VERSION (churn, churn@challenger, churn:3)"
            ));
        }
        Ok(ModelRef {
            name: name.to_string(),
            selector,
        })
    }
}

impl std::fmt::Display for ModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.selector {
            Selector::Alias(a) => write!(f, "{}@{a}", self.name),
            Selector::Version(v) => write!(f, "{}:{v}", self.name),
        }
    }
}

impl ModelRef {
    /// The version this reference points at now.
    pub async fn resolve(&self, store: &Store) -> Result<i64, StoreError> {
        match &self.selector {
            Selector::Alias(alias) => store.resolve(&self.name, alias).await,
            Selector::Version(v) => store.version(&self.name, *v).await.map(|m| m.version),
        }
    }
}

/// How a batch reads its file and what it stores.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// The customer id column; default: the training table's id column, else `customer_id`.
    pub id_col: Option<String>,
    pub delimiter: Delimiter,
    pub na_values: Vec<String>,
    /// Reasons stored per customer.
    pub reasons: usize,
    /// The day a log, or customers given with their transactions, are read at (default: the
    /// log's last day; today for customers).
    pub at: Option<i32>,
    /// Purchase models: the horizon (model time units), CLV's months and monthly discount
    /// (defaults as [`crate::JsonScoring`]'s).
    pub horizon: Option<f64>,
    pub clv_months: Option<u32>,
    pub discount: Option<f64>,
    /// The drift tests' thresholds.
    pub drift: DriftOptions,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            id_col: None,
            delimiter: Delimiter::Auto,
            na_values: Vec::new(),
            reasons: 3,
            at: None,
            horizon: None,
            clv_months: None,
            discount: None,
            drift: DriftOptions::default(),
        }
    }
}

impl BatchOptions {
    /// How each customer is answered, at `at` (else the options' day).
    fn scoring(&self, at: Option<i32>) -> crate::JsonScoring {
        crate::JsonScoring {
            reasons: self.reasons,
            at: at.or(self.at),
            horizon: self.horizon,
            clv_months: self.clv_months,
            discount: self.discount,
        }
    }
}

/// Why a batch failed.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Data(#[from] retain_data::DataError),
    #[error(transparent)]
    Scoring(#[from] ScoringError),
    #[error("{path} has no column {column}, a feature of the model; its columns: {columns}")]
    MissingColumn {
        path: PathBuf,
        column: String,
        columns: String,
    },
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl BatchError {
    /// The message without any value read from the input (its header, a field): what a job
    /// shows to callers who may not read the file.
    pub fn without_values(&self) -> String {
        match self {
            BatchError::Data(e) => e.without_values(),
            BatchError::MissingColumn { path, column, .. } => format!(
                "{} has no column {column}, a feature of the model",
                path.display()
            ),
            other => other.to_string(),
        }
    }
}

/// What a batch did.
#[derive(Debug, Clone, Serialize)]
pub struct BatchOutcome {
    pub model: String,
    pub version: i64,
    #[serde(flatten)]
    pub outcome: RunOutcome,
    /// Category values unseen at training (scored as missing), when the run was written now.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unseen: Vec<UnseenLevels>,
    /// How the run's data drifted from the model's training data, when the run was written now
    /// and the model keeps a training sample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<RunDrift>,
}

/// The customers a batch scores.
// One value per batch job: the size of its largest variant (a log's read options) costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum BatchInput {
    /// A customer table (CSV, plain or .gz, or Parquet).
    File(PathBuf),
    /// Customers as JSON objects, as the predict endpoint takes them; each needs its id.
    Customers(Vec<serde_json::Map<String, serde_json::Value>>),
    /// A transaction log: every customer who had bought by the options' `at` (default: the
    /// log's last day), with features made by the model's recipe (a model trained from a log),
    /// summarised (a purchase model) or segmented; their attributes from `attributes` (a
    /// customer table) when the model reads them.
    Log {
        files: Vec<PathBuf>,
        read: ReadOptions,
        attributes: Option<PathBuf>,
        /// Where the log is read and merged (results are the same wherever).
        engine: retain_data::Engine,
    },
}

impl BatchInput {
    /// What a run records as its source.
    fn source(&self, at: Option<i32>) -> String {
        match self {
            BatchInput::File(path) => path.display().to_string(),
            BatchInput::Customers(c) => format!("request body ({} customers)", c.len()),
            BatchInput::Log {
                files, attributes, ..
            } => {
                let mut source: Vec<String> =
                    files.iter().map(|p| p.display().to_string()).collect();
                source.extend(attributes.iter().map(|p| p.display().to_string()));
                match at {
                    Some(day) => format!(
                        "{} at {}",
                        source.join(", "),
                        retain_data::dates::format_day(day)
                    ),
                    None => source.join(", "),
                }
            }
        }
    }

    /// The SHA-256 of the input: a file's bytes, or the customers' JSON as sent.
    async fn sha256(&self) -> Result<String, BatchError> {
        match self {
            BatchInput::File(path) => {
                let path = path.to_path_buf();
                tokio::task::spawn_blocking(move || {
                    retain_store::fingerprint_files(&[&path])
                        .map_err(|source| BatchError::Io { path, source })
                })
                .await
                .expect("hashing does not panic")
            }
            BatchInput::Customers(customers) => Ok(retain_store::sha256_hex(
                &serde_json::to_vec(customers).expect("JSON values serialize"),
            )),
            BatchInput::Log {
                files,
                read,
                attributes,
                ..
            } => {
                let paths: Vec<PathBuf> = files.iter().chain(attributes).cloned().collect();
                // How the log is read decides the features, as the bytes do.
                let how = format!("{read:?}");
                tokio::task::spawn_blocking(move || {
                    let files = retain_store::fingerprint_files(&paths).map_err(|source| {
                        BatchError::Io {
                            path: paths.first().cloned().unwrap_or_default(),
                            source,
                        }
                    })?;
                    Ok(retain_store::sha256_hex(
                        format!("{files} {how}").as_bytes(),
                    ))
                })
                .await
                .expect("hashing does not panic")
            }
        }
    }
}

/// Scores the customers of `path` with the model `model` and stores the run.
pub async fn score_file(
    store: &Store,
    model: &ModelRef,
    path: &Path,
    options: &BatchOptions,
) -> Result<BatchOutcome, BatchError> {
    score_batch(store, model, BatchInput::File(path.to_path_buf()), options).await
}

/// Scores `input` with the model `model` and stores the run (found, not written again, when
/// the same version scored the same input with the same settings before).
pub async fn score_batch(
    store: &Store,
    model: &ModelRef,
    input: BatchInput,
    options: &BatchOptions,
) -> Result<BatchOutcome, BatchError> {
    let version = model.resolve(store).await?;
    let input_sha256 = input.sha256().await?;
    // Settings a purchase model does not read are left out, so that runs stored before they
    // existed are found again.
    let mut settings = serde_json::json!({"reasons": options.reasons, "id_col": options.id_col});
    for (name, value) in [
        ("at", serde_json::json!(options.at)),
        ("horizon", serde_json::json!(options.horizon)),
        ("clv_months", serde_json::json!(options.clv_months)),
        ("discount", serde_json::json!(options.discount)),
    ] {
        if !value.is_null() {
            settings[name] = value;
        }
    }
    let settings = settings.to_string();
    let source = input.source(options.at);
    let run = NewRun {
        model: &model.name,
        version,
        source: &source,
        input_sha256: &input_sha256,
        settings: &settings,
    };
    let done = |outcome| BatchOutcome {
        model: model.name.clone(),
        version,
        outcome,
        unseen: Vec::new(),
        drift: None,
    };
    // Scored before: nothing to read or score.
    if let Ok(stored) = store.run(&run.run_id()).await {
        return Ok(done(RunOutcome::AlreadyStored(stored)));
    }
    let scorer = Scorer::from_bytes(&store.artifact(&model.name, version).await?)?;
    let (scored, drift) = {
        let options = options.clone();
        tokio::task::spawn_blocking(move || {
            let scored = match input {
                BatchInput::File(path) => score_table(&scorer, &path, &options),
                BatchInput::Customers(customers) => score_customers(&scorer, &customers, &options),
                BatchInput::Log {
                    files,
                    read,
                    attributes,
                    engine,
                } => score_log(
                    &scorer,
                    &files,
                    read,
                    &engine,
                    attributes.as_deref(),
                    &options,
                ),
            }?;
            let drift = scored.drift(&scorer, &options.drift);
            Ok::<_, BatchError>((scored, drift))
        })
        .await
        .expect("scoring does not panic")?
    };
    let facts = RunFacts {
        as_of: scored.as_of.map(retain_data::dates::format_day),
        horizon_days: scored.horizon_days,
        drift: drift.as_ref().map(|d| NewDrift {
            dataset_drift: d.data.dataset_drift,
            drifted_share: d.data.drifted_share,
            prediction_drift: d.prediction.drift,
            report: serde_json::to_value(d).expect("drift reports serialize"),
        }),
    };
    let outcome = store
        .write_run_with(&run, &facts, &scored.predictions)
        .await?;
    let written = matches!(outcome, RunOutcome::Written(_));
    Ok(BatchOutcome {
        unseen: scored.unseen,
        drift: drift.filter(|_| written),
        ..done(outcome)
    })
}

/// A batch scored, before it is stored.
struct ScoredBatch {
    predictions: Vec<StoredPrediction>,
    unseen: Vec<UnseenLevels>,
    /// The customers' inputs, in the predictions' order, for drift.
    features: Option<FeatureFrame>,
    as_of: Option<i32>,
    horizon_days: Option<i64>,
}

impl ScoredBatch {
    fn new(predictions: Vec<StoredPrediction>, unseen: Vec<UnseenLevels>) -> ScoredBatch {
        ScoredBatch {
            predictions,
            unseen,
            features: None,
            as_of: None,
            horizon_days: None,
        }
    }

    /// How the batch's inputs and scores compare with the model's training sample.
    fn drift(&self, scorer: &Scorer, options: &DriftOptions) -> Option<RunDrift> {
        let sample = scorer.training_sample()?;
        let features = self.features.as_ref()?;
        let scores: Vec<f64> = self.predictions.iter().map(|p| p.score).collect();
        Some(sample.drift(features, &scores, options))
    }
}

/// Scores customers given as JSON; each must have its id (a stored prediction is found by it).
fn score_customers(
    scorer: &Scorer,
    customers: &[serde_json::Map<String, serde_json::Value>],
    options: &BatchOptions,
) -> Result<ScoredBatch, BatchError> {
    let scored = scorer.score_json_with(customers, &options.scoring(None))?;
    if let Some(customer) = scored
        .predictions
        .iter()
        .position(|p| p.customer_id.is_none())
    {
        return Err(ScoringError::Input(crate::InputError {
            customer,
            field: ID_FIELD.into(),
            problem: "a stored prediction needs the customer's id; found none".into(),
        })
        .into());
    }
    let features = match scorer.boosted() {
        Some(_) => Some(scorer.frame_from_json(customers, options.at)?.0),
        None => Some(json_numbers(customers, scorer.schema())),
    };
    Ok(ScoredBatch {
        features,
        as_of: options.at,
        horizon_days: horizon_days(scorer, options),
        ..ScoredBatch::new(stored(scored.predictions), scored.unseen)
    })
}

/// The number inputs of customers given as JSON (a purchase model's summary, a segmentation's
/// inputs); an absent or non-number value is missing.
fn json_numbers(
    customers: &[serde_json::Map<String, serde_json::Value>],
    schema: &FeatureSchema,
) -> FeatureFrame {
    let mut frame = FeatureFrame::new(customers.len());
    for spec in &schema.features {
        let values = customers
            .iter()
            .map(|c| {
                c.get(&spec.name)
                    .and_then(|v| v.as_f64())
                    .unwrap_or(f64::NAN)
            })
            .collect();
        frame
            .push(spec.name.clone(), ColumnValues::Numbers(values))
            .expect("a schema names each feature once");
    }
    frame
}

/// The days the model's scores speak of: a log-trained model's label window, a purchase
/// model's horizon in days.
fn horizon_days(scorer: &Scorer, options: &BatchOptions) -> Option<i64> {
    if let Some(FeatureRecipe::Transactions(recipe)) = scorer.boosted().map(|a| &a.recipe) {
        return Some(i64::from(recipe.horizon_days));
    }
    let purchase = scorer.purchase()?;
    let unit = purchase.unit?;
    let horizon = options
        .horizon
        .unwrap_or_else(|| purchase.default_horizon());
    Some((horizon * unit.days()).round() as i64)
}

/// Predictions as the store keeps them; every one has its customer's id.
fn stored(predictions: Vec<crate::Prediction>) -> Vec<StoredPrediction> {
    predictions
        .into_iter()
        .map(|p| StoredPrediction {
            details: p.details(),
            label: match &p.segment {
                Some(s) => Some(s.segment.clone()),
                None => p.label.map(String::from),
            },
            reasons: serde_json::to_value(&p.reasons).expect("reasons serialize"),
            score: p.score,
            customer_id: p.customer_id.expect("every row has an id"),
        })
        .collect()
}

/// Reads the file and scores every row: predictions as stored, and unseen category values.
fn score_table(
    scorer: &Scorer,
    path: &Path,
    options: &BatchOptions,
) -> Result<ScoredBatch, BatchError> {
    let id_col = options
        .id_col
        .clone()
        .or_else(|| match scorer.boosted().map(|a| &a.recipe) {
            Some(FeatureRecipe::Table { id_col }) => id_col.clone(),
            _ => None,
        })
        .unwrap_or_else(|| ID_FIELD.to_string());
    let table = read_customer_table(
        path,
        &CustomerTableOptions {
            id_col: Some(id_col),
            delimiter: options.delimiter,
            na_values: options.na_values.clone(),
            bad_rows: None,
            // Scoring reads files (a request names one inside the server's data folder).
            database: None,
        },
    )?;
    check_columns(&table, scorer.schema(), path)?;
    let frame = frame_of_table(&table, scorer.schema())?;
    let ids = table.ids().expect("read with an id column");
    let ids: Vec<Option<String>> = ids.iter().map(|id| id.map(String::from)).collect();
    if scorer.boosted().is_none() {
        // A summary (purchase model) or RFM inputs (segmentation): each row as the customer
        // the API would be sent, so that both check and answer alike.
        let customers = rows_as_json(&frame, &ids);
        let scored = scorer.score_json_with(&customers, &options.scoring(None))?;
        return Ok(ScoredBatch {
            features: Some(frame),
            as_of: options.at,
            horizon_days: horizon_days(scorer, options),
            ..ScoredBatch::new(stored(scored.predictions), scored.unseen)
        });
    }
    let scored = scorer.score_frame(&frame, ids, options.reasons)?;
    Ok(ScoredBatch {
        features: Some(frame),
        as_of: options.at,
        horizon_days: horizon_days(scorer, options),
        ..ScoredBatch::new(stored(scored.predictions), scored.unseen)
    })
}

/// Scores the customers of a log at `at` (default: its last day) with a model trained from a
/// log: features by the model's recipe, attributes from the customer table when it reads them.
fn score_log(
    scorer: &Scorer,
    files: &[PathBuf],
    read: ReadOptions,
    engine: &retain_data::Engine,
    attributes: Option<&Path>,
    options: &BatchOptions,
) -> Result<ScoredBatch, BatchError> {
    let history = PurchaseHistory::read_on(
        files,
        ReadOptions {
            period: retain_data::Period::Day,
            ..read
        },
        engine,
    )?;
    let Some(at) = options.at.or_else(|| history.span().map(|s| s.1)) else {
        return Err(ScoringError::Artifact("the log has no usable transactions".into()).into());
    };
    let horizon = horizon_days(scorer, options);
    if let Some(purchase) = scorer.purchase() {
        let (predictions, inputs) =
            purchase.score_history(&history, at, &options.scoring(Some(at)))?;
        return Ok(ScoredBatch {
            features: Some(inputs),
            as_of: Some(at),
            horizon_days: horizon,
            ..ScoredBatch::new(stored(predictions), Vec::new())
        });
    }
    if let Some(segments) = scorer.segments() {
        return Ok(ScoredBatch {
            as_of: Some(at),
            ..ScoredBatch::new(stored(segments.assign_history(&history, at)), Vec::new())
        });
    }
    let Some(FeatureRecipe::Transactions(recipe)) = scorer.boosted().map(|a| &a.recipe) else {
        return Err(ScoringError::NotServable(
            "this model was trained on a customer table: score a customer table with it, not a \
             transaction log"
                .into(),
        )
        .into());
    };
    let made = recipe.features(&history, at).map_err(ScoringError::from)?;
    let mut frame = made.frame;
    let ids: Vec<String> = made
        .customers
        .iter()
        .map(|&k| history.id(k).to_string())
        .collect();
    let wanted = recipe.attribute_schema(scorer.schema());
    if !wanted.is_empty() {
        let Some(path) = attributes else {
            return Err(ScoringError::NotServable(format!(
                "this model reads the customers' attributes ({}) besides their purchases: give \
                 the customer table too",
                wanted
                    .features
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .into());
        };
        let table = read_customer_table(
            path,
            &CustomerTableOptions {
                id_col: Some(options.id_col.clone().unwrap_or_else(|| ID_FIELD.into())),
                delimiter: options.delimiter,
                na_values: options.na_values.clone(),
                bad_rows: None,
                database: None,
            },
        )?;
        check_columns(&table, &wanted, path)?;
        let table_ids = table.ids().expect("read with an id column");
        let row_of: std::collections::HashMap<&str, usize> = (0..table_ids.iter().len())
            .map(|r| (table_ids.value(r), r))
            .collect();
        let rows: Vec<Option<usize>> = ids
            .iter()
            .map(|id| row_of.get(id.as_str()).copied())
            .collect();
        let by_row = frame_of_table(&table, &wanted)?;
        for column in by_row.columns {
            let values = match column.values {
                ColumnValues::Numbers(v) => ColumnValues::Numbers(
                    rows.iter().map(|r| r.map_or(f64::NAN, |r| v[r])).collect(),
                ),
                ColumnValues::Categories { levels, codes } => {
                    ColumnValues::categories(rows.iter().map(|r| {
                        r.and_then(|r| match codes[r] {
                            0 => None,
                            code => Some(levels[code as usize - 1].as_str()),
                        })
                    }))
                }
            };
            frame
                .push(column.name, values)
                .map_err(ScoringError::from)?;
        }
    }
    let scored =
        scorer.score_frame(&frame, ids.into_iter().map(Some).collect(), options.reasons)?;
    Ok(ScoredBatch {
        features: Some(frame),
        as_of: Some(at),
        horizon_days: horizon,
        ..ScoredBatch::new(stored(scored.predictions), scored.unseen)
    })
}

/// Rows of number columns as JSON customers, with their ids.
fn rows_as_json(
    frame: &FeatureFrame,
    ids: &[Option<String>],
) -> Vec<serde_json::Map<String, serde_json::Value>> {
    (0..frame.rows)
        .map(|row| {
            let mut customer = serde_json::Map::new();
            if let Some(id) = &ids[row] {
                customer.insert(ID_FIELD.into(), id.clone().into());
            }
            for column in &frame.columns {
                if let ColumnValues::Numbers(v) = &column.values {
                    let value = serde_json::Number::from_f64(v[row])
                        .map_or(serde_json::Value::Null, serde_json::Value::Number);
                    customer.insert(column.name.clone(), value);
                }
            }
            customer
        })
        .collect()
}

/// An error naming the first feature of `schema` that `table` has no column for.
fn check_columns(
    table: &CustomerTable,
    schema: &FeatureSchema,
    path: &Path,
) -> Result<(), BatchError> {
    match schema
        .features
        .iter()
        .find(|f| !table.columns.iter().any(|c| c.name == f.name))
    {
        Some(absent) => Err(BatchError::MissingColumn {
            path: path.to_path_buf(),
            column: absent.name.clone(),
            columns: table
                .columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
        None => Ok(()),
    }
}

/// The table's columns a model reads, by name; other columns (a label, notes) are ignored.
/// A column the model reads as a number must hold numbers: the error names the first row
/// that does not.
pub fn frame_of_table(
    table: &CustomerTable,
    schema: &FeatureSchema,
) -> Result<FeatureFrame, retain_data::DataError> {
    let rows = table.batch.num_rows();
    let mut frame = FeatureFrame::new(rows);
    for spec in &schema.features {
        let values = match spec.kind {
            FeatureKind::Number { .. } => ColumnValues::Numbers(
                table
                    .numbers(&spec.name, "model")?
                    .into_iter()
                    .map(|v| v.unwrap_or(f64::NAN))
                    .collect(),
            ),
            FeatureKind::Category { .. } => {
                let text = table.text(&spec.name, "model")?;
                ColumnValues::categories(text.iter().map(Option::as_deref))
            }
        };
        frame
            .push(spec.name.clone(), values)
            .expect("one column of the table's length per feature");
    }
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_references_read_as_documented() {
        let r: ModelRef = "churn".parse().unwrap();
        assert_eq!(r.selector, Selector::Alias("production".into()));
        let r: ModelRef = "churn@challenger".parse().unwrap();
        assert_eq!(
            (r.name.as_str(), r.selector),
            ("churn", Selector::Alias("challenger".into()))
        );
        let r: ModelRef = "churn:3".parse().unwrap();
        assert_eq!(r.selector, Selector::Version(3));
        assert_eq!(r.to_string(), "churn:3");
        for bad in ["", "@x", "churn@", "churn:three"] {
            assert!(bad.parse::<ModelRef>().is_err(), "{bad}");
        }
    }
}
