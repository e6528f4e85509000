//! What a model saw at training, kept in its artifact, and how the data of a scoring run
//! compares with it (`retain_models::drift`, Evidently's defaults).
//!
//! The training sample is up to [`TRAINING_SAMPLE_ROWS`] training rows drawn at random with a
//! fixed seed (all of them when there are fewer), with the model's score of each. The drift
//! test is chosen by the size of the whole training set, as if all of it had been kept: a
//! Wasserstein distance or Jensen-Shannon distance over 5,000 rows differs from the one over
//! all rows by far less than their 0.1 threshold.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use retain_models::drift::{feature_drift, DatasetDrift, DriftOptions, FeatureDrift, Values};
use retain_models::supervised::{ColumnValues, FeatureFrame};
use serde::{Deserialize, Serialize};

/// Training rows kept in an artifact for drift.
pub const TRAINING_SAMPLE_ROWS: usize = 5_000;

/// The name the scores go by in a drift report.
pub const PREDICTION: &str = "prediction";

/// A sample of a model's training data and its scores of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingSample {
    /// Rows in the whole training set.
    pub rows: usize,
    pub features: Vec<SampleColumn>,
    /// The model's score of each sampled row (a purchase model's P(alive)).
    pub scores: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleColumn {
    pub name: String,
    #[serde(flatten)]
    pub values: SampleValues,
}

/// A sampled column, kept small: numbers to single precision (seven digits, far finer than
/// any drift threshold; JSON has no NaN, so a missing number is `null`), categories as codes
/// into their levels (0 for missing, `k` for `levels[k - 1]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SampleValues {
    Numbers {
        values: Vec<Option<f32>>,
    },
    Categories {
        levels: Vec<String>,
        codes: Vec<u32>,
    },
}

/// The drift of one scoring run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunDrift {
    /// The features, and whether the data set drifts.
    pub data: DatasetDrift,
    /// The scores against the training scores.
    pub prediction: FeatureDrift,
    /// Mean score at training and now (a purchase model's mean P(alive)).
    pub mean_score_reference: f64,
    pub mean_score_current: f64,
}

impl TrainingSample {
    /// A sample of `frame`'s rows with `scores` (one a row).
    pub fn of(frame: &FeatureFrame, scores: &[f64]) -> TrainingSample {
        let mut rows: Vec<usize> = (0..frame.rows).collect();
        if rows.len() > TRAINING_SAMPLE_ROWS {
            rows.shuffle(&mut rand::rngs::StdRng::seed_from_u64(0x5eed));
            rows.truncate(TRAINING_SAMPLE_ROWS);
            rows.sort_unstable();
        }
        let features = frame
            .columns
            .iter()
            .map(|c| SampleColumn {
                name: c.name.clone(),
                values: match &c.values {
                    ColumnValues::Numbers(v) => SampleValues::Numbers {
                        values: rows
                            .iter()
                            .map(|&r| Some(v[r] as f32).filter(|x| x.is_finite()))
                            .collect(),
                    },
                    ColumnValues::Categories { levels, codes } => SampleValues::Categories {
                        levels: levels.clone(),
                        codes: rows.iter().map(|&r| codes[r]).collect(),
                    },
                },
            })
            .collect();
        TrainingSample {
            rows: frame.rows,
            features,
            scores: rows.iter().map(|&r| f64::from(scores[r] as f32)).collect(),
        }
    }

    /// How `frame` (the scored customers' features) and `scores` compare with the sample.
    /// Features the frame lacks are left out (the scoring run reports them missing itself).
    pub fn drift(&self, frame: &FeatureFrame, scores: &[f64], options: &DriftOptions) -> RunDrift {
        let features = self
            .features
            .iter()
            .filter_map(|reference| {
                let current = frame.column(&reference.name)?;
                Some(compare(
                    &reference.name,
                    &reference.values,
                    &current.values,
                    self.rows,
                    options,
                ))
            })
            .collect();
        let prediction = feature_drift(
            PREDICTION,
            Values::Numbers(&self.scores),
            Values::Numbers(scores),
            self.rows,
            options,
        );
        RunDrift {
            data: DatasetDrift::of(features, options),
            prediction,
            mean_score_reference: mean(&self.scores),
            mean_score_current: mean(scores),
        }
    }
}

fn compare(
    name: &str,
    reference: &SampleValues,
    current: &ColumnValues,
    rows: usize,
    options: &DriftOptions,
) -> FeatureDrift {
    if let (SampleValues::Numbers { values }, ColumnValues::Numbers(c)) = (reference, current) {
        let r: Vec<f64> = values
            .iter()
            .map(|x| x.map_or(f64::NAN, f64::from))
            .collect();
        return feature_drift(name, Values::Numbers(&r), Values::Numbers(c), rows, options);
    }
    // Categories; a feature read as another kind than at training is compared as text.
    let r = sample_text(reference);
    let c = column_text(current);
    let r: Vec<Option<&str>> = r.iter().map(|x| x.as_deref()).collect();
    let c: Vec<Option<&str>> = c.iter().map(|x| x.as_deref()).collect();
    feature_drift(
        name,
        Values::Categories(&r),
        Values::Categories(&c),
        rows,
        options,
    )
}

fn sample_text(values: &SampleValues) -> Vec<Option<String>> {
    match values {
        SampleValues::Numbers { values } => {
            values.iter().map(|x| x.map(|x| x.to_string())).collect()
        }
        SampleValues::Categories { levels, codes } => codes
            .iter()
            .map(|&k| k.checked_sub(1).map(|k| levels[k as usize].clone()))
            .collect(),
    }
}

fn column_text(values: &ColumnValues) -> Vec<Option<String>> {
    match values {
        ColumnValues::Numbers(v) => v
            .iter()
            .map(|x| x.is_finite().then(|| (*x as f32).to_string()))
            .collect(),
        ColumnValues::Categories { levels, codes } => codes
            .iter()
            .map(|&k| k.checked_sub(1).map(|k| levels[k as usize].clone()))
            .collect(),
    }
}

fn mean(x: &[f64]) -> f64 {
    let finite: Vec<f64> = x.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        f64::NAN
    } else {
        finite.iter().sum::<f64>() / finite.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: usize, shift: f64) -> FeatureFrame {
        let mut f = FeatureFrame::new(n);
        let x: Vec<f64> = (0..n).map(|i| (i % 97) as f64 + shift).collect();
        f.push("recency_days", ColumnValues::Numbers(x)).unwrap();
        let plan: Vec<Option<&str>> = (0..n)
            .map(|i| match i % 5 {
                0 => None,
                1 | 2 => Some("monthly"),
                _ => Some("yearly"),
            })
            .collect();
        f.push("plan", ColumnValues::categories(plan)).unwrap();
        f
    }

    #[test]
    fn sample_keeps_at_most_the_limit_and_reads_back() {
        let f = frame(12_000, 0.0);
        let scores: Vec<f64> = (0..12_000).map(|i| (i % 10) as f64 / 10.0).collect();
        let sample = TrainingSample::of(&f, &scores);
        assert_eq!(sample.rows, 12_000);
        assert_eq!(sample.scores.len(), TRAINING_SAMPLE_ROWS);
        let json = serde_json::to_string(&sample).unwrap();
        let back: TrainingSample = serde_json::from_str(&json).unwrap();
        assert_eq!(back, sample);
        // The same data, sampled again: the same rows (a fixed seed).
        assert_eq!(TrainingSample::of(&f, &scores), sample);
    }

    #[test]
    fn same_data_does_not_drift_and_a_shift_does() {
        let options = DriftOptions::default();
        let f = frame(4_000, 0.0);
        let scores: Vec<f64> = (0..4_000).map(|i| (i % 10) as f64 / 10.0).collect();
        let sample = TrainingSample::of(&f, &scores);
        let same = sample.drift(&f, &scores, &options);
        assert!(!same.data.dataset_drift);
        assert!(!same.prediction.drift);
        assert_eq!(same.data.features.len(), 2);
        assert!((same.data.features[1].current_missing_share - 0.2).abs() < 1e-12);
        let moved = frame(4_000, 20.0);
        let higher: Vec<f64> = scores.iter().map(|s| (s + 0.3f64).min(1.0)).collect();
        let drifted = sample.drift(&moved, &higher, &options);
        assert!(drifted.data.features[0].drift);
        assert!(!drifted.data.features[1].drift);
        assert!(drifted.data.dataset_drift, "one of two features is half");
        assert!(drifted.prediction.drift);
        assert!(drifted.mean_score_current > drifted.mean_score_reference);
    }
}
