//! Segmentations served: RFM cut points or k-means centres (`retain segment --save`) assign a
//! customer to a segment from their days since the last purchase, purchase days and total
//! spend, or from their own transactions at a day (the same behaviour features as training).

use retain_data::features::{behaviour_features, BEHAVIOUR_FEATURES};
use retain_data::PurchaseHistory;
use retain_models::supervised::{FeatureKind, FeatureSchema, FeatureSpec};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::input::{self, InputError, ID_FIELD, TRANSACTIONS_FIELD};
use crate::{JsonScoring, Prediction, ScoringError, SegmentsArtifact, SEGMENT_FEATURES};

/// A segmentation ready to answer.
#[derive(Debug, Clone)]
pub struct SegmentScorer {
    pub artifact: SegmentsArtifact,
    pub(crate) schema: FeatureSchema,
}

/// A customer's segment, and for RFM their recency, frequency and monetary scores (1 to 5).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentAnswer {
    pub segment: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rfm_scores: Option<[u8; 3]>,
}

/// Number inputs read as they are (the schema of models that are not boosted).
pub(crate) fn number_schema(names: &[&str]) -> FeatureSchema {
    FeatureSchema {
        features: names
            .iter()
            .map(|name| FeatureSpec {
                name: (*name).to_string(),
                kind: FeatureKind::Number {
                    log: false,
                    missing_as: f64::NAN,
                },
            })
            .collect(),
    }
}

impl SegmentScorer {
    pub fn new(artifact: SegmentsArtifact) -> SegmentScorer {
        SegmentScorer {
            artifact,
            schema: number_schema(&SEGMENT_FEATURES),
        }
    }

    /// The segment of inputs (days since the last purchase, purchase days, total spend).
    pub fn assign(&self, customer_id: Option<String>, inputs: [f64; 3]) -> Prediction {
        let a = self
            .artifact
            .segmentation
            .assign(inputs[0], inputs[1], inputs[2]);
        // The score orders segments: RFM's total score (3 to 15), or a cluster's value rank.
        let score = match a.scores {
            Some([r, f, m]) => f64::from(r + f + m),
            None => self.rank(&a.segment),
        };
        Prediction {
            customer_id,
            score,
            label: None,
            reasons: Vec::new(),
            purchases: None,
            segment: Some(SegmentAnswer {
                segment: a.segment,
                rfm_scores: a.scores,
            }),
        }
    }

    /// A k-means cluster's position by value (0 = lowest).
    fn rank(&self, segment: &str) -> f64 {
        match &self.artifact.segmentation {
            retain_models::segment::Segmentation::Kmeans { names, .. } => {
                names.iter().position(|n| n == segment).unwrap_or(0) as f64
            }
            retain_models::segment::Segmentation::Rfm { .. } => 0.0,
        }
    }

    /// Every customer of a history who had bought by `day`, with their segment.
    pub fn assign_history(&self, history: &PurchaseHistory, day: i32) -> Vec<Prediction> {
        let behaviour = behaviour_features(history, day, 90);
        let column = |name: &str| {
            let i = BEHAVIOUR_FEATURES
                .iter()
                .position(|f| *f == name)
                .expect("a behaviour feature");
            &behaviour.columns[i]
        };
        let (recency, days, spend) = (
            column(SEGMENT_FEATURES[0]),
            column(SEGMENT_FEATURES[1]),
            column(SEGMENT_FEATURES[2]),
        );
        behaviour
            .customers
            .iter()
            .enumerate()
            .map(|(row, &k)| {
                self.assign(
                    Some(history.id(k).to_string()),
                    [recency[row], days[row], spend[row]],
                )
            })
            .collect()
    }

    pub fn score_json(
        &self,
        customers: &[Map<String, Value>],
        how: &JsonScoring,
    ) -> Result<Vec<Prediction>, ScoringError> {
        let mut out = Vec::with_capacity(customers.len());
        for (row, customer) in customers.iter().enumerate() {
            let error = |field: &str, problem: String| InputError {
                customer: row,
                field: field.into(),
                problem,
            };
            if let Some(field) = customer.keys().find(|k| {
                *k != ID_FIELD
                    && *k != TRANSACTIONS_FIELD
                    && !SEGMENT_FEATURES.contains(&k.as_str())
            }) {
                return Err(error(
                    field,
                    format!(
                        "not read by a segmentation; it reads {} (or {TRANSACTIONS_FIELD})",
                        SEGMENT_FEATURES.join(", ")
                    ),
                )
                .into());
            }
            let id = input::customer_id(row, customer, None)?;
            if customer.contains_key(TRANSACTIONS_FIELD) {
                let at = how.at.unwrap_or_else(crate::today);
                let history = input::history_at(row, customer, at)?;
                let mut p = self
                    .assign_history(&history, at)
                    .pop()
                    .expect("the customer had bought by the day");
                p.customer_id = id;
                out.push(p);
                continue;
            }
            let mut inputs = [0.0; 3];
            for (value, field) in inputs.iter_mut().zip(SEGMENT_FEATURES) {
                *value = match customer.get(field) {
                    Some(Value::Number(n)) if n.as_f64().is_some_and(|v| v >= 0.0) => {
                        n.as_f64().expect("checked")
                    }
                    None => {
                        return Err(error(
                            field,
                            format!(
                                "missing: give {}, or the customer's {TRANSACTIONS_FIELD}",
                                SEGMENT_FEATURES.join(", ")
                            ),
                        )
                        .into())
                    }
                    Some(other) => {
                        return Err(error(
                            field,
                            format!("expected a number >= 0, found {}", input::found(other)),
                        )
                        .into())
                    }
                };
            }
            out.push(self.assign(id, inputs));
        }
        Ok(out)
    }
}
