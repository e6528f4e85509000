//! A registered model ready to answer. Reads a model file retain wrote, checks customers given
//! as JSON objects against the model's inputs (every field named, typed, none unknown), and
//! scores them with their reasons. The HTTP server and `retain score` both score through a
//! [`Scorer`]; neither knows how a model reads its features, and this crate knows nothing of
//! HTTP or the store's tables.

mod artifact;
pub mod batch;
mod input;
pub mod monitor;
pub mod purchase;
pub mod recipe;
pub mod segments;

use retain_models::btyd::ModelError;
use retain_models::supervised::{Attribution, FeatureFrame, FeatureSchema, Reason, Task};
use serde::Serialize;

pub use artifact::{
    with_spend_model, Artifact, FeatureRecipe, ModelArtifact, SegmentsArtifact, TrainingInfo,
    ARTIFACT_FORMAT, SEGMENTS_FORMAT, SEGMENT_FEATURES,
};
pub use input::{InputError, ID_FIELD, TRANSACTIONS_FIELD};
pub use recipe::{LogFeatures, LogRecipe};

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
    /// A setting of the request (not of one customer) the model cannot use.
    #[error("{field}: {problem}")]
    Request { field: String, problem: String },
}

/// One customer's prediction: the score (probability of churn or of the top value tier, or
/// the amount), the label it implies, and the features that moved it most.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    pub customer_id: Option<String>,
    pub score: f64,
    /// `churn` / `stay` and `high_value` / `other` at a probability of 0.5; none for amounts.
    /// A segmentation's segment.
    pub label: Option<&'static str>,
    pub reasons: Vec<Reason>,
    /// A purchase model's answer (the score is P(alive)).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub purchases: Option<purchase::PurchaseAnswer>,
    /// A segmentation's answer.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub segment: Option<segments::SegmentAnswer>,
}

// [`Prediction`] as the API documents it: every kind's fields, those of the other kinds absent
// (a schema derived from the flattened kinds would demand one of them).
/// One customer's prediction: the score, the label it implies, the reasons; a purchase model
/// adds P(alive), expected purchases and CLV, a segmentation the segment.
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema)]
#[schema(as = Prediction)]
#[allow(dead_code)]
pub struct PredictionSchema {
    pub customer_id: Option<String>,
    /// Churn or top-tier probability, an amount, a purchase model's P(alive), or a
    /// segmentation's RFM total score (3 to 15) or cluster rank by value (0 = lowest).
    pub score: f64,
    /// `churn` / `stay`, `high_value` / `other` at a probability of 0.5.
    pub label: Option<String>,
    /// The features that moved the score most (purchase models: frequency, recency and T,
    /// in P(alive) points from the reference customer's).
    pub reasons: Vec<Reason>,
    /// Purchase models: P(alive), and over `horizon` (model time units) the purchases expected
    /// and the probability of none.
    pub p_alive: Option<f64>,
    pub horizon: Option<f64>,
    pub expected_purchases: Option<f64>,
    pub p_no_purchase: Option<f64>,
    /// Purchase models with a spend model: expected spend per purchase and CLV over
    /// `clv_months`, with the reasons of the CLV (money).
    pub expected_spend: Option<f64>,
    pub clv: Option<f64>,
    pub clv_months: Option<u32>,
    pub clv_reasons: Option<Vec<Reason>>,
    pub reference: Option<purchase::ReferenceCustomer>,
    /// The fit is weakly identified: these numbers are uncertain.
    pub warnings: Option<Vec<String>>,
    /// Segmentations: the segment, and RFM's recency, frequency and monetary scores.
    pub segment: Option<String>,
    pub rfm_scores: Option<Vec<u8>>,
}

impl Prediction {
    /// What the store keeps besides the score, label and reasons.
    pub fn details(&self) -> Option<serde_json::Value> {
        match (&self.purchases, &self.segment) {
            (Some(p), _) => serde_json::to_value(p).ok(),
            (_, Some(s)) => serde_json::to_value(s).ok(),
            _ => None,
        }
    }
}

/// A registered model ready to answer: a gradient-boosted model, a purchase model (with its
/// spend model), or a segmentation.
#[derive(Debug, Clone)]
pub struct Scorer {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Boosted(Box<Boosted>),
    Purchase(Box<purchase::PurchaseScorer>),
    Segments(Box<segments::SegmentScorer>),
}

/// A gradient-boosted model and how it reads its inputs.
#[derive(Debug, Clone)]
struct Boosted {
    artifact: ModelArtifact,
    /// The field that names a customer besides [`ID_FIELD`]: the training table's id column.
    id_alias: Option<String>,
    lookup: input::FieldLookup,
    /// For a model made from a log: the features customers give as fields (attributes).
    attributes: Option<(FeatureSchema, input::FieldLookup)>,
}

/// How customers given as JSON are scored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JsonScoring {
    /// Reasons per customer.
    pub reasons: usize,
    /// The day (days since 1970-01-01) whose features are scored, for customers given with
    /// their transactions: purchases after it are not read. Default: today (UTC).
    pub at: Option<i32>,
    /// Purchase models: the horizon of expected purchases, in the model's time unit (default:
    /// a year; BG/BB: one opportunity).
    pub horizon: Option<f64>,
    /// Purchase models with spend: CLV's months (default 12) and monthly discount rate
    /// (default 0.01).
    pub clv_months: Option<u32>,
    pub discount: Option<f64>,
}

impl Default for JsonScoring {
    fn default() -> Self {
        JsonScoring {
            reasons: 3,
            at: None,
            horizon: None,
            clv_months: None,
            discount: None,
        }
    }
}

/// A day as requests give it (YYYY-MM-DD, YYYYMMDD or an ISO date-time), in days since
/// 1970-01-01.
pub fn parse_day(text: &str) -> Option<i32> {
    retain_data::dates::parse_date(text.as_bytes(), &retain_data::DateFormat::Auto)
}

/// Today (UTC) in days since 1970-01-01.
pub fn today() -> i32 {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (seconds / 86_400) as i32
}

impl Scorer {
    /// Loads a model file (a registered version's artifact).
    pub fn from_bytes(bytes: &[u8]) -> Result<Scorer, ScoringError> {
        let kind = match Artifact::from_bytes(bytes)? {
            Artifact::Boosted(artifact) => return Ok(Scorer::new(*artifact)),
            Artifact::Purchase { model, record } => Kind::Purchase(Box::new(
                purchase::PurchaseScorer::from_record(model, &record)?,
            )),
            Artifact::Segments(a) => Kind::Segments(Box::new(segments::SegmentScorer::new(*a))),
        };
        Ok(Scorer { kind })
    }

    /// A gradient-boosted model ready to score.
    pub fn new(artifact: ModelArtifact) -> Scorer {
        Scorer {
            kind: Kind::Boosted(Box::new(Boosted::new(artifact))),
        }
    }

    /// The model's inputs: a boosted model's features, a purchase model's summary fields, a
    /// segmentation's inputs.
    pub fn schema(&self) -> &FeatureSchema {
        match &self.kind {
            Kind::Boosted(b) => &b.artifact.model.schema,
            Kind::Purchase(p) => &p.schema,
            Kind::Segments(s) => &s.schema,
        }
    }

    /// The gradient-boosted model's artifact, for a boosted model.
    pub fn boosted(&self) -> Option<&ModelArtifact> {
        match &self.kind {
            Kind::Boosted(b) => Some(&b.artifact),
            _ => None,
        }
    }

    /// The purchase model, for a purchase model.
    pub fn purchase(&self) -> Option<&purchase::PurchaseScorer> {
        match &self.kind {
            Kind::Purchase(p) => Some(p),
            _ => None,
        }
    }

    /// The sample of its training data the model keeps for drift, when it keeps one.
    pub fn training_sample(&self) -> Option<&monitor::TrainingSample> {
        match &self.kind {
            Kind::Boosted(b) => b.artifact.training_sample.as_ref(),
            Kind::Purchase(p) => p.training_sample.as_ref(),
            Kind::Segments(_) => None,
        }
    }

    /// The segmentation, for a segmentation.
    pub fn segments(&self) -> Option<&segments::SegmentScorer> {
        match &self.kind {
            Kind::Segments(s) => Some(s),
            _ => None,
        }
    }

    /// The customers' features from JSON objects (a boosted model's), checked against the
    /// model's inputs, with each customer's id when given.
    pub fn frame_from_json(
        &self,
        customers: &[serde_json::Map<String, serde_json::Value>],
        at: Option<i32>,
    ) -> Result<(FeatureFrame, Vec<Option<String>>), ScoringError> {
        match &self.kind {
            Kind::Boosted(b) => b.frame_from_json(customers, at),
            _ => Err(ScoringError::NotServable(
                "not a gradient-boosted model: it reads no feature frame".into(),
            )),
        }
    }

    /// Scores customers given as JSON objects, with their `reasons` top reasons (customers
    /// given with their transactions at today's date; see [`Scorer::score_json_with`]).
    pub fn score_json(
        &self,
        customers: &[serde_json::Map<String, serde_json::Value>],
        reasons: usize,
    ) -> Result<Scored, ScoringError> {
        self.score_json_with(
            customers,
            &JsonScoring {
                reasons,
                ..JsonScoring::default()
            },
        )
    }

    /// Scores customers given as JSON objects.
    pub fn score_json_with(
        &self,
        customers: &[serde_json::Map<String, serde_json::Value>],
        how: &JsonScoring,
    ) -> Result<Scored, ScoringError> {
        match &self.kind {
            Kind::Boosted(b) => {
                let (frame, ids) = b.frame_from_json(customers, how.at)?;
                b.score_frame(&frame, ids, how.reasons)
            }
            Kind::Purchase(p) => Ok(Scored {
                predictions: p.score_json(customers, how)?,
                unseen: Vec::new(),
            }),
            Kind::Segments(s) => Ok(Scored {
                predictions: s.score_json(customers, how)?,
                unseen: Vec::new(),
            }),
        }
    }

    /// Scores a frame of features (a boosted model's, columns named as the schema's) with
    /// `reasons` top reasons.
    pub fn score_frame(
        &self,
        frame: &FeatureFrame,
        ids: Vec<Option<String>>,
        reasons: usize,
    ) -> Result<Scored, ScoringError> {
        match &self.kind {
            Kind::Boosted(b) => b.score_frame(frame, ids, reasons),
            _ => Err(ScoringError::NotServable(
                "not a gradient-boosted model: it scores no feature frame".into(),
            )),
        }
    }
}

impl Boosted {
    fn new(artifact: ModelArtifact) -> Boosted {
        let id_alias = match &artifact.recipe {
            FeatureRecipe::Table { id_col: Some(c) } if c != ID_FIELD => Some(c.clone()),
            _ => None,
        };
        let lookup = input::FieldLookup::new(&artifact.model.schema);
        let attributes = match &artifact.recipe {
            FeatureRecipe::Transactions(recipe) => {
                let schema = recipe.attribute_schema(&artifact.model.schema);
                let lookup = input::FieldLookup::new(&schema);
                Some((schema, lookup))
            }
            FeatureRecipe::Table { .. } => None,
        };
        artifact.model.prepare();
        Boosted {
            artifact,
            id_alias,
            lookup,
            attributes,
        }
    }

    /// The customers' features from JSON objects, checked against the model's inputs, with
    /// each customer's id when given. A model made from a log reads each customer's
    /// `transactions` up to `at` through its feature recipe, and its attributes as fields.
    fn frame_from_json(
        &self,
        customers: &[serde_json::Map<String, serde_json::Value>],
        at: Option<i32>,
    ) -> Result<(FeatureFrame, Vec<Option<String>>), ScoringError> {
        let (FeatureRecipe::Transactions(recipe), Some((schema, lookup))) =
            (&self.artifact.recipe, &self.attributes)
        else {
            return Ok(input::frame_from_json(
                &self.artifact.model.schema,
                &self.lookup,
                self.id_alias.as_deref(),
                customers,
                &[],
            )?);
        };
        let (mut frame, ids) =
            input::frame_from_json(schema, lookup, None, customers, &[TRANSACTIONS_FIELD])?;
        let purchases = customers
            .iter()
            .enumerate()
            .map(|(row, customer)| {
                Ok((
                    row.to_string(),
                    input::transactions_from_json(row, customer)?,
                ))
            })
            .collect::<Result<Vec<_>, InputError>>()?;
        let history = retain_data::PurchaseHistory::from_customers(purchases);
        let at = at.unwrap_or_else(today);
        let made = recipe.features(&history, at)?;
        if let Some(customer) = (0..customers.len()).find(|k| made.customers.get(*k) != Some(k)) {
            return Err(InputError {
                customer,
                field: TRANSACTIONS_FIELD.into(),
                problem: format!(
                    "no purchase on or before {}: the model scores customers who have bought",
                    retain_data::dates::format_day(at)
                ),
            }
            .into());
        }
        for column in made.frame.columns {
            frame.push(column.name, column.values)?;
        }
        Ok((frame, ids))
    }

    /// Scores a frame of features (columns named as the schema's) with `reasons` top reasons.
    fn score_frame(
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
                    purchases: None,
                    segment: None,
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
