//! The feature recipe of a model trained from a transaction log, executed: each customer's
//! behaviour at a day (recency, frequency, spend, tenure, trend; see
//! `retain_data::features`), and BG/NBD's P(alive) and expected purchases over the label
//! window when the recipe asks for them. Training, batch scoring from a log and the API's
//! per-customer transactions all make their features here, so a customer with the same
//! purchases at the same day gets the same features, bit for bit, at every door.
//!
//! BG/NBD is fitted once, on the training log at the cutoff, and its parameters are saved in
//! the recipe: scoring evaluates that model at the scoring day (as every other part of a
//! trained model is frozen), and can do so for a single customer.

use retain_data::features::{behaviour_features, repeat_summary, BEHAVIOUR_FEATURES};
use retain_data::PurchaseHistory;
use retain_models::btyd::{score_customers, BgNbd, FitOptions, ModelError, RfmData};
use retain_models::supervised::{ColumnValues, FeatureFrame, FeatureSchema};
use serde::{Deserialize, Serialize};

/// Names of the BG/NBD features, in column order after the behaviour features.
pub const BTYD_FEATURES: [&str; 2] = ["p_alive", "expected_purchases"];

/// Days in a BG/NBD time unit: weeks, as the BG/NBD literature.
const BTYD_UNIT_DAYS: f64 = 7.0;

/// How a model's features are made from a transaction log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecipe {
    /// Days in each of the two windows the spend-trend features compare.
    pub trend_days: i32,
    /// Days in the label window after the cutoff (the BG/NBD expectation's horizon).
    pub horizon_days: i32,
    /// P(alive) and expected purchases from BG/NBD are features.
    pub btyd: bool,
    /// The customer table's attributes are features too.
    pub attributes: bool,
    /// BG/NBD as fitted on the training log at the cutoff (models saved before it was kept
    /// refit on the scored log's customers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgnbd: Option<BgNbd>,
    /// Only customers who bought in the last this many days are trained on and scored (the
    /// active customer base, as a business monitors it); none: every customer ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_days: Option<i32>,
}

/// The log-made features of customers at a day, and which customers (indices into the
/// history) the rows describe.
#[derive(Debug, Clone)]
pub struct LogFeatures {
    pub frame: FeatureFrame,
    pub customers: Vec<usize>,
}

impl LogRecipe {
    /// The recipe ready to make features: BG/NBD fitted on `history` at `cutoff` when the
    /// recipe asks for its features.
    pub fn fitted(
        mut self,
        history: &PurchaseHistory,
        cutoff: i32,
    ) -> Result<LogRecipe, ModelError> {
        self.bgnbd = None;
        if self.btyd {
            self.bgnbd = Some(fit_bgnbd(history, cutoff)?);
        }
        Ok(self)
    }

    /// Whether this feature is made from the log (else it is an attribute).
    pub fn makes(&self, feature: &str) -> bool {
        BEHAVIOUR_FEATURES.contains(&feature) || (self.btyd && BTYD_FEATURES.contains(&feature))
    }

    /// The part of a model's schema that is attributes, not made from the log.
    pub fn attribute_schema(&self, schema: &FeatureSchema) -> FeatureSchema {
        FeatureSchema {
            features: schema
                .features
                .iter()
                .filter(|f| !self.makes(&f.name))
                .cloned()
                .collect(),
        }
    }

    /// The features of every customer of `history` who had bought by the end of `day`.
    /// Purchases after `day` are never read.
    pub fn features(&self, history: &PurchaseHistory, day: i32) -> Result<LogFeatures, ModelError> {
        let made = self.all_features(history, day)?;
        let Some(active) = self.active_days else {
            return Ok(made);
        };
        // Those whose last purchase by `day` is within the window.
        let keep: Vec<usize> = (0..made.customers.len())
            .filter(|&i| {
                let days = history.days(made.customers[i]);
                let last = days[days.partition_point(|&d| d <= day) - 1];
                last > day - active
            })
            .collect();
        Ok(LogFeatures {
            frame: made.frame.select(&keep),
            customers: keep.iter().map(|&i| made.customers[i]).collect(),
        })
    }

    fn all_features(&self, history: &PurchaseHistory, day: i32) -> Result<LogFeatures, ModelError> {
        let behaviour = behaviour_features(history, day, self.trend_days);
        let n = behaviour.customers.len();
        let mut frame = FeatureFrame::new(n);
        for (name, column) in BEHAVIOUR_FEATURES.iter().zip(behaviour.columns) {
            frame.push(*name, ColumnValues::Numbers(column))?;
        }
        if self.btyd {
            let model = match self.bgnbd {
                Some(model) => model,
                None => fit_bgnbd(history, day)?,
            };
            let summary = repeat_summary(history, &behaviour.customers, day, BTYD_UNIT_DAYS);
            let horizon = f64::from(self.horizon_days) / BTYD_UNIT_DAYS;
            let scores = score_customers(
                &model,
                (&summary.x, &summary.t_x, &summary.t),
                horizon,
                None,
            )?;
            frame.push(BTYD_FEATURES[0], ColumnValues::Numbers(scores.p_alive))?;
            frame.push(
                BTYD_FEATURES[1],
                ColumnValues::Numbers(scores.expected_purchases),
            )?;
        }
        Ok(LogFeatures {
            frame,
            customers: behaviour.customers,
        })
    }
}

/// BG/NBD fitted on the purchases up to `day` of the customers acquired before it.
fn fit_bgnbd(history: &PurchaseHistory, day: i32) -> Result<BgNbd, ModelError> {
    let customers = history.customers_by(day);
    let summary = repeat_summary(history, &customers, day, BTYD_UNIT_DAYS);
    let data = fit_data(&summary.x, &summary.t_x, &summary.t)?;
    Ok(BgNbd::fit(&data, &FitOptions::default())?.params)
}

/// The data a purchase model is fitted on: every customer but those acquired at the end of
/// the window itself (T = 0), who add nothing to the likelihood (they are still scored).
pub fn fit_data(x: &[f64], t_x: &[f64], t: &[f64]) -> Result<RfmData, ModelError> {
    let kept: Vec<usize> = (0..t.len()).filter(|&i| t[i] > 0.0).collect();
    let pick = |v: &[f64]| -> Vec<f64> { kept.iter().map(|&i| v[i]).collect() };
    RfmData::new(&pick(x), &pick(t_x), &pick(t), None)
}
