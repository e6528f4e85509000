//! A registered model ready to answer. Reads a model file retain wrote, checks customers given
//! as JSON objects against the model's inputs (every field named, typed, none unknown), and
//! scores them with their reasons. The HTTP server and `retain score` both score through a
//! [`Scorer`]; neither knows how a model reads its features, and this crate knows nothing of
//! HTTP or the store's tables.

mod artifact;
pub mod batch;
mod input;

use retain_models::btyd::ModelError;
use retain_models::supervised::{Attribution, FeatureFrame, FeatureSchema, Reason, Task};
use serde::Serialize;

pub use artifact::{
    Artifact, FeatureRecipe, ModelArtifact, SegmentsArtifact, TrainingInfo, ARTIFACT_FORMAT,
    SEGMENTS_FORMAT, SEGMENT_FEATURES,
};
pub use input::{InputError, ID_FIELD};

/// Why a model cannot be loaded or cannot score.
#[derive(Debug, thiserror::Error)]
pub enum ScoringError {
    #[error("{0}")]
    Artifact(String),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{0}")]
    NotServable(String),
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// One customer's prediction: the score (probability of churn or of the top value tier, or
/// the amount), the label it implies, and the features that moved it most.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Prediction {
    pub customer_id: Option<String>,
    pub score: f64,
    /// `churn` / `stay` and `high_value` / `other` at a probability of 0.5; none for amounts.
    pub label: Option<&'static str>,
    pub reasons: Vec<Reason>,
}

/// A model loaded to score: a gradient-boosted model and how it reads its inputs.
#[derive(Debug, Clone)]
pub struct Scorer {
    artifact: ModelArtifact,
    /// The field that names a customer besides [`ID_FIELD`]: the training table's id column.
    id_alias: Option<String>,
    lookup: input::FieldLookup,
}

impl Scorer {
    /// Loads a model file (a registered version's artifact).
    pub fn from_bytes(bytes: &[u8]) -> Result<Scorer, ScoringError> {
        match Artifact::from_bytes(bytes)? {
            Artifact::Boosted(artifact) => Ok(Scorer::new(*artifact)),
            Artifact::Purchase { model, .. } => Err(ScoringError::NotServable(format!(
                "a {} purchase model scores summaries (`retain predict --model FILE`), not \
                 customer features; register a `retain train` model to serve",
                model.name()
            ))),
            Artifact::Segments(a) => Err(ScoringError::NotServable(format!(
                "{} segments are assigned by `retain segment`, not served",
                a.segmentation.method()
            ))),
        }
    }

    pub fn new(artifact: ModelArtifact) -> Scorer {
        let id_alias = match &artifact.recipe {
            FeatureRecipe::Table { id_col: Some(c) } if c != ID_FIELD => Some(c.clone()),
            _ => None,
        };
        let lookup = input::FieldLookup::new(&artifact.model.schema);
        artifact.model.prepare();
        Scorer {
            artifact,
            id_alias,
            lookup,
        }
    }

    pub fn task(&self) -> Task {
        self.artifact.task
    }

    pub fn schema(&self) -> &FeatureSchema {
        &self.artifact.model.schema
    }

    pub fn artifact(&self) -> &ModelArtifact {
        &self.artifact
    }

    /// The customers' features from JSON objects, checked against the model's inputs, with
    /// each customer's id when given.
    pub fn frame_from_json(
        &self,
        customers: &[serde_json::Map<String, serde_json::Value>],
    ) -> Result<(FeatureFrame, Vec<Option<String>>), InputError> {
        input::frame_from_json(
            &self.artifact.model.schema,
            &self.lookup,
            self.id_alias.as_deref(),
            customers,
        )
    }

    /// Scores customers given as JSON objects, with their `reasons` top reasons.
    pub fn score_json(
        &self,
        customers: &[serde_json::Map<String, serde_json::Value>],
        reasons: usize,
    ) -> Result<Scored, ScoringError> {
        let (frame, ids) = self.frame_from_json(customers)?;
        self.score_frame(&frame, ids, reasons)
    }

    /// Scores a frame of features (columns named as the schema's) with `reasons` top reasons.
    pub fn score_frame(
        &self,
        frame: &FeatureFrame,
        ids: Vec<Option<String>>,
        reasons: usize,
    ) -> Result<Scored, ScoringError> {
        // Path attribution: the reasons of `retain train --predictions`, and with the
        // prediction in one walk (exact SHAP costs 10-100× more per customer).
        let explained = self
            .artifact
            .model
            .explain(frame, reasons.max(1), Attribution::Path)?;
        let task = self.artifact.task;
        let predictions = explained
            .explanations
            .into_iter()
            .zip(ids)
            .map(|(mut e, customer_id)| {
                e.reasons.truncate(reasons);
                Prediction {
                    customer_id,
                    score: e.score,
                    label: label(task, e.score),
                    reasons: e.reasons,
                }
            })
            .collect();
        let unseen = explained
            .unseen
            .into_iter()
            .map(|(feature, customers)| UnseenLevels { feature, customers })
            .collect();
        Ok(Scored {
            predictions,
            unseen,
        })
    }
}

/// Predictions, with the category values the model never saw at training (read as missing).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    pub predictions: Vec<Prediction>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unseen: Vec<UnseenLevels>,
}

/// Values of a category feature unseen at training: they score as a missing value would.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnseenLevels {
    pub feature: String,
    pub customers: usize,
}

/// The label a score implies.
pub fn label(task: Task, score: f64) -> Option<&'static str> {
    match task {
        Task::Churn => Some(if score >= 0.5 { "churn" } else { "stay" }),
        Task::Value => Some(if score >= 0.5 { "high_value" } else { "other" }),
        Task::Clv => None,
    }
}

#[cfg(test)]
mod tests;
