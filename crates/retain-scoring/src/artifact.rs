//! The model files retain writes, as saved and as registered: what each holds, and the
//! metadata the registry keeps of it (kind, metrics, parameters, feature schema, training-data
//! fingerprint).

use std::collections::HashMap;

use retain_models::btyd::SavedPurchaseModel;
use retain_models::segment::Segmentation;
use retain_models::supervised::{FittedModel, GradientBoosting, Task};
use retain_store::VersionInfo;
use serde::{Deserialize, Serialize};

use crate::monitor::TrainingSample;
use crate::recipe::LogRecipe;
use crate::ScoringError;

/// The format tag of a gradient-boosted model file (`retain train -o`).
pub const ARTIFACT_FORMAT: &str = "retain-gbdt/2";

/// How the features of a model are made, so that later scoring makes them the same way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum FeatureRecipe {
    /// The customer table's columns as they are.
    Table { id_col: Option<String> },
    /// Behaviour from a transaction log at a date, with the table's attributes when given.
    Transactions(LogRecipe),
}

/// A trained model as saved: the model, how its features are made, and what it was trained
/// and measured on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelArtifact {
    pub format: String,
    pub task: Task,
    /// What the label is.
    pub target: String,
    pub recipe: FeatureRecipe,
    pub training: TrainingInfo,
    pub model: FittedModel,
    /// A sample of the training rows and their scores, for drift (models trained before it was
    /// kept have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_sample: Option<TrainingSample>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainingInfo {
    pub rows: usize,
    pub features: usize,
    /// Mean of the label (share of positives for yes/no tasks).
    pub label_mean: f64,
    pub cutoff: Option<String>,
    pub sources: Vec<String>,
    pub folds: usize,
    /// Cross-validated metrics: mean and standard deviation over the folds.
    pub cv: HashMap<String, (f64, f64)>,
    pub trained_at_unix: u64,
    /// SHA-256 over the SHA-256 of each source file: which data the model saw.
    pub data_fingerprint: String,
    pub boosting: GradientBoosting,
}

/// The format tag of a segmentation file (`retain segment --save`).
pub const SEGMENTS_FORMAT: &str = "retain-segments/1";

/// The inputs of a saved segmentation, in the order [`Segmentation::assign`] takes them.
pub const SEGMENT_FEATURES: [&str; 3] = ["recency_days", "purchase_days", "total_spend"];

/// Segments as saved: what assigns a customer to one, and the segments' profiles when fitted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentsArtifact {
    pub format: String,
    /// The day the customers were segmented at.
    pub at: String,
    /// SHA-256 over the SHA-256 of each source file.
    pub data_fingerprint: String,
    /// How the segments were made (method, k, …), in words.
    pub note: String,
    pub features: Vec<String>,
    pub segmentation: Segmentation,
    /// Each segment's size, revenue share, mean CLV and churn risk at fitting.
    pub profiles: serde_json::Value,
}

/// Any model file retain can register.
#[derive(Debug, Clone)]
pub enum Artifact {
    /// `retain train -o`: a gradient-boosted churn, value-tier or CLV model.
    Boosted(Box<ModelArtifact>),
    /// `retain fit -o`: a purchase model (BG/NBD, Pareto/NBD, MBG/NBD, BG/BB) with the
    /// fit's record (log-likelihood, customers, data fingerprint).
    Purchase {
        model: SavedPurchaseModel,
        record: serde_json::Value,
    },
    /// `retain segment --save`: RFM cut points or k-means centres.
    Segments(Box<SegmentsArtifact>),
}

/// A purchase model file (`retain fit MODEL -o`) with a Gamma-Gamma fit
/// (`retain fit gamma-gamma -o`) as its spend model: the purchase model's record with the
/// spend fit under `"spend_model"`, which then also answers expected spend and CLV.
pub fn with_spend_model(purchase: &[u8], spend: &[u8]) -> Result<Vec<u8>, ScoringError> {
    let Artifact::Purchase { mut record, .. } = Artifact::from_bytes(purchase)? else {
        return Err(ScoringError::Artifact(
            "a spend model goes with a purchase model (`retain fit bgnbd|pareto-nbd|mbgnbd -o`)"
                .into(),
        ));
    };
    if record["model"] == "bgbb" {
        return Err(ScoringError::Artifact(
            "BG/BB counts opportunities, not time: CLV in months needs BG/NBD, Pareto/NBD or \
             MBG/NBD"
                .into(),
        ));
    }
    let spend: serde_json::Value = serde_json::from_slice(spend)
        .map_err(|e| ScoringError::Artifact(format!("expected a JSON spend model: {e}")))?;
    if spend["model"] != "gamma-gamma" {
        return Err(ScoringError::Artifact(format!(
            "expected a Gamma-Gamma fit (`retain fit gamma-gamma -o FILE`, \"model\": \
             \"gamma-gamma\"), found a model of {}",
            spend["model"]
        )));
    }
    serde_json::from_value::<retain_models::btyd::GammaGamma>(spend["params"].clone())
        .map_err(|e| ScoringError::Artifact(format!("the spend model's params: {e}")))?;
    record["spend_model"] = spend;
    Ok(record.to_string().into_bytes())
}

impl Artifact {
    /// Reads a model file retain wrote.
    pub fn from_bytes(bytes: &[u8]) -> Result<Artifact, ScoringError> {
        let json: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| ScoringError::Artifact(format!("expected a JSON model file: {e}")))?;
        if let Some(format) = json["format"].as_str() {
            if format == SEGMENTS_FORMAT {
                let segments: SegmentsArtifact = serde_json::from_value(json).map_err(|e| {
                    ScoringError::Artifact(format!(
                        "a {SEGMENTS_FORMAT} file that does not read: {e}"
                    ))
                })?;
                return Ok(Artifact::Segments(Box::new(segments)));
            }
            if format != ARTIFACT_FORMAT {
                return Err(ScoringError::Artifact(format!(
                    "a model of format {format}; this retain reads {ARTIFACT_FORMAT} and \
                     {SEGMENTS_FORMAT} (make it again)"
                )));
            }
            let artifact: ModelArtifact = serde_json::from_value(json).map_err(|e| {
                ScoringError::Artifact(format!("a {ARTIFACT_FORMAT} file that does not read: {e}"))
            })?;
            return Ok(Artifact::Boosted(Box::new(artifact)));
        }
        if json["model"].is_string() {
            let model: SavedPurchaseModel = serde_json::from_value(json.clone()).map_err(|e| {
                ScoringError::Artifact(format!(
                    "a purchase model file (\"model\": bgnbd, pareto-nbd, mbgnbd or bgbb, with its \
                     \"params\") that does not read: {e}"
                ))
            })?;
            return Ok(Artifact::Purchase {
                model,
                record: json,
            });
        }
        Err(ScoringError::Artifact(format!(
            "expected a file written by `retain train -o` (\"format\": \"{ARTIFACT_FORMAT}\"), \
 \
             `retain fit -o` (\"model\", \"params\") or `retain segment --save` (\"format\": \
             \"{SEGMENTS_FORMAT}\")"
        )))
    }

    /// What the registry records of this artifact.
    pub fn describe(&self) -> VersionInfo {
        match self {
            Artifact::Boosted(a) => {
                let t = &a.training;
                VersionInfo {
                    kind: format!("gbdt/{}", a.task.name()),
                    data_fingerprint: Some(t.data_fingerprint.clone()),
                    metrics: serde_json::json!({
                        "cv": t.cv,
                        "folds": t.folds,
                        "rows": t.rows,
                        "label_mean": t.label_mean,
                    }),
                    parameters: serde_json::to_value(t.boosting).unwrap_or_default(),
                    feature_schema: serde_json::to_value(&a.model.schema.features)
                        .unwrap_or_default(),
                }
            }
            Artifact::Purchase { model, record } => VersionInfo {
                kind: if record["spend_model"].is_object() {
                    format!("btyd/{}+gamma-gamma", model.name())
                } else {
                    format!("btyd/{}", model.name())
                },
                data_fingerprint: record["data_fingerprint"].as_str().map(String::from),
                metrics: serde_json::json!({
                    "log_likelihood": record["log_likelihood"],
                    "n_customers": record["n_customers"],
                    "converged": record["converged"],
                    "warnings": record["warnings"],
                    "spend_model": record["spend_model"]["params"],
                }),
                parameters: record["params"].clone(),
                feature_schema: serde_json::json!([]),
            },
            Artifact::Segments(a) => VersionInfo {
                kind: format!("segments/{}", a.segmentation.method()),
                data_fingerprint: Some(a.data_fingerprint.clone()),
                metrics: serde_json::json!({"at": a.at, "segments": a.profiles}),
                parameters: serde_json::to_value(&a.segmentation).unwrap_or_default(),
                feature_schema: a
                    .features
                    .iter()
                    .map(|name| serde_json::json!({"name": name, "kind": "number"}))
                    .collect(),
            },
        }
    }
}
