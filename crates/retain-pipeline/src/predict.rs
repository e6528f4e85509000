//! A saved purchase model applied: every customer's P(alive) and the purchases to expect over
//! a horizon (lifetimes' `conditional_probability_alive` and
//! `conditional_expected_number_of_purchases_up_to_time`), or a newly acquired customer's
//! expected purchases and the distribution of their number.
//!
//! ```
//! use retain_models::btyd::{BgNbd, SavedPurchaseModel};
//! use retain_pipeline::predict::new_customer;
//!
//! let model = SavedPurchaseModel::BgNbd(BgNbd { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 });
//! let new = new_customer(&model, 39.0, 5)?;
//! assert!(new.probabilities[0] > 0.5); // most new CDNOW customers buy nothing again in 39 weeks
//! # Ok::<(), retain_pipeline::PipelineError>(())
//! ```

use retain_data::datafusion::arrow::array::RecordBatch;
use retain_models::btyd::{score_customers, SavedPurchaseModel};

use crate::fit::PurchaseData;
use crate::source::SummaryColumns;
use crate::{PipelineError, Result};

/// Every customer's expectations, in the input's order.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectations {
    pub ids: Vec<String>,
    pub frequency: Vec<f64>,
    pub recency: Vec<f64>,
    pub t: Vec<f64>,
    pub p_alive: Vec<f64>,
    pub expected_purchases: Vec<f64>,
}

/// A new customer's purchases in their first `horizon`: the mean and P(n) for n = 0..=max.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCustomer {
    pub horizon: f64,
    pub expected_purchases: f64,
    pub probabilities: Vec<f64>,
}

/// A horizon the model can take: >= 0, whole for BG/BB's opportunities.
fn check_horizon(model: &SavedPurchaseModel, horizon: f64) -> Result<()> {
    if !(horizon.is_finite() && horizon >= 0.0) {
        return Err(PipelineError::Unfit {
            options: &["horizon"],
            why: format!("the horizon must be >= 0, found {horizon}"),
        });
    }
    if model.is_discrete() && horizon.fract() != 0.0 {
        return Err(PipelineError::Unfit {
            options: &["horizon"],
            why: format!(
                "the horizon counts transaction opportunities for BG/BB: a whole number, found \
                 {horizon}"
            ),
        });
    }
    Ok(())
}

/// P(alive) and expected purchases over `horizon` of every customer of `columns`, whose
/// histories are checked as a fit checks them.
pub fn expectations(
    model: &SavedPurchaseModel,
    columns: &SummaryColumns,
    horizon: f64,
) -> Result<Expectations> {
    check_horizon(model, horizon)?;
    PurchaseData::from_columns(columns)?;
    let n = columns.len();
    let scores = score_customers(
        model.model(),
        (&columns.frequency, &columns.recency, &columns.t),
        horizon,
        None,
    )?;
    Ok(Expectations {
        ids: columns
            .ids
            .clone()
            .unwrap_or_else(|| (1..=n).map(|i| i.to_string()).collect()),
        frequency: columns.frequency.clone(),
        recency: columns.recency.clone(),
        t: columns.t.clone(),
        p_alive: scores.p_alive,
        expected_purchases: scores.expected_purchases,
    })
}

/// A newly acquired customer's purchases in their first `horizon`.
pub fn new_customer(
    model: &SavedPurchaseModel,
    horizon: f64,
    max_purchases: u32,
) -> Result<NewCustomer> {
    check_horizon(model, horizon)?;
    let m = model.model();
    Ok(NewCustomer {
        horizon,
        expected_purchases: m.expected_purchases_new(horizon)?,
        probabilities: (0..=max_purchases)
            .map(|n| m.probability_of_purchases(n, horizon))
            .collect(),
    })
}

impl Expectations {
    /// One row per customer: the summary, P(alive) and expected purchases.
    pub fn batch(&self) -> RecordBatch {
        crate::source::customer_batch(
            &self.ids,
            &[
                ("frequency", &self.frequency),
                ("recency", &self.recency),
                ("T", &self.t),
                ("p_alive", &self.p_alive),
                ("expected_purchases", &self.expected_purchases),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use retain_models::btyd::{BgBb, BgNbd};

    #[test]
    fn lifetimes_values_and_named_errors() {
        let model = SavedPurchaseModel::BgNbd(BgNbd {
            r: 0.243,
            alpha: 4.414,
            a: 0.793,
            b: 2.426,
        });
        let columns = SummaryColumns {
            ids: Some(vec!["0001".into(), "x".into()]),
            frequency: vec![2.0, 0.0],
            recency: vec![30.43, 0.0],
            t: vec![38.86, 38.86],
            ..SummaryColumns::default()
        };
        let e = expectations(&model, &columns, 39.0).unwrap();
        // lifetimes: 0.7266 and 1.2259 for CDNOW's customer 1.
        assert!((e.p_alive[0] - 0.7266).abs() < 1e-3);
        assert!((e.expected_purchases[0] - 1.2259).abs() < 1e-3);
        assert_eq!(e.p_alive[1], 1.0);
        let bad = SummaryColumns {
            recency: vec![30.43, 2.0],
            ..columns
        };
        let error = expectations(&model, &bad, 39.0).unwrap_err().to_string();
        assert_eq!(
            error,
            "customer x: recency must be 0 when frequency is 0, found 2"
        );
        let new = new_customer(&model, 39.0, 60).unwrap();
        let total: f64 = new.probabilities.iter().sum();
        assert!((total - 1.0).abs() < 1e-4, "{total}");
        // The distribution's mean is the expectation (the tail past 60 purchases is negligible).
        let mean: f64 = new
            .probabilities
            .iter()
            .enumerate()
            .map(|(n, p)| n as f64 * p)
            .sum();
        assert!(
            (mean - new.expected_purchases).abs() < 1e-2,
            "{mean} vs {}",
            new.expected_purchases
        );
        let bgbb = SavedPurchaseModel::BgBb(BgBb {
            alpha: 1.2,
            beta: 0.75,
            gamma: 0.66,
            delta: 2.78,
        });
        assert_eq!(
            new_customer(&bgbb, 2.5, 3).unwrap_err().unfit_options(),
            ["horizon"]
        );
    }
}
