//! Customer lifetime value as lifetimes' `customer_lifetime_value` computes it: a purchase
//! model (BG/NBD, Pareto/NBD or MBG/NBD) and Gamma-Gamma fitted on the customers' summaries,
//! then each customer's expected purchases month by month over a horizon, discounted monthly,
//! times their expected spend per purchase.
//!
//! ```no_run
//! use retain_pipeline::clv::{clv, ClvSettings};
//! use retain_pipeline::source::SummaryFile;
//!
//! let columns = SummaryFile::new("summary.csv").load(true, "T")?;
//! let report = clv(&columns, &ClvSettings::default())?;
//! println!("12-month CLV of the first customer: {}", report.values.clv[0]);
//! # Ok::<(), retain_pipeline::PipelineError>(())
//! ```

use retain_data::datafusion::arrow::array::RecordBatch;
use retain_data::TimeUnit;
use retain_models::btyd::{
    score_customers, ClvOptions, FitOptions, GammaGamma, SavedPurchaseModel,
};

use crate::error::invalid;
use crate::fit::{
    fit_purchase_model, fit_spend_model, FitSummary, PurchaseData, PurchaseModelKind,
};
use crate::source::SummaryColumns;
use crate::{PipelineError, Result};

/// How CLV is computed.
#[derive(Debug, Clone)]
pub struct ClvSettings {
    /// The model of the purchases (continuous time: not BG/BB).
    pub purchase_model: PurchaseModelKind,
    /// Horizon in months.
    pub months: u32,
    /// Monthly discount rate (0.01 = 1% a month).
    pub discount: f64,
    /// The time unit of the summary's recency and T.
    pub unit: TimeUnit,
    pub fit: FitOptions,
}

impl Default for ClvSettings {
    fn default() -> Self {
        ClvSettings {
            purchase_model: PurchaseModelKind::BgNbd,
            months: 12,
            discount: 0.01,
            unit: TimeUnit::Weeks,
            fit: FitOptions::default(),
        }
    }
}

/// Model time units in a month (lifetimes' factors: 4.345 weeks, 30 days, 1 month).
pub use retain_scoring::purchase::units_per_month;

/// Every customer's summary and values, in the input's order.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerValues {
    pub ids: Vec<String>,
    pub frequency: Vec<f64>,
    pub recency: Vec<f64>,
    pub t: Vec<f64>,
    pub monetary_value: Vec<f64>,
    pub p_alive: Vec<f64>,
    /// Purchases expected over the horizon.
    pub expected_purchases: Vec<f64>,
    /// Gamma-Gamma's expected spend per purchase.
    pub expected_spend: Vec<f64>,
    pub clv: Vec<f64>,
}

/// CLV of every customer with the fits it rests on.
#[derive(Debug, Clone)]
pub struct ClvReport {
    pub values: CustomerValues,
    pub purchase_fit: FitSummary,
    pub purchase_model: SavedPurchaseModel,
    pub spend_fit: FitSummary,
    pub spend_model: GammaGamma,
    /// For the user: customers left out of the fit, weakly identified fits.
    pub notes: Vec<String>,
}

/// Fits the purchase and spend models on `columns` and values every customer.
pub fn clv(columns: &SummaryColumns, settings: &ClvSettings) -> Result<ClvReport> {
    if !(settings.discount.is_finite() && settings.discount > -1.0) {
        return Err(PipelineError::Unfit {
            options: &["discount"],
            why: format!(
                "the discount must be a rate above -1 (0.01 = 1% a month), found {}",
                settings.discount
            ),
        });
    }
    if settings.purchase_model == PurchaseModelKind::BgBb {
        return Err(invalid!(
            "CLV is computed in continuous time: BG/NBD, Pareto/NBD or MBG/NBD, not BG/BB"
        ));
    }
    if columns.weights.is_some() {
        return Err(PipelineError::Unfit {
            options: &["weights_col"],
            why: "CLV is per customer, so it needs one row per customer (no weights)".into(),
        });
    }
    let monetary = columns.monetary.clone().ok_or_else(|| {
        PipelineError::missing("monetary", "CLV needs each customer's mean spend")
    })?;
    let data = PurchaseData::from_columns(columns)?;
    let mut notes: Vec<String> = data.note().into_iter().collect();
    let purchases = fit_purchase_model(settings.purchase_model, &data, &settings.fit)?;
    let purchase_fit = purchases.summary();
    let spend = fit_spend_model(columns, &settings.fit)?;
    let spend_fit = FitSummary::of("Gamma-Gamma", &spend);
    let gg = spend.params;
    if gg.q <= 1.0 {
        return Err(invalid!(
            "Gamma-Gamma q = {:.3} <= 1: the population mean spend is infinite, so CLV is undefined",
            gg.q
        ));
    }
    notes.extend(purchase_fit.caution());
    notes.extend(spend_fit.caution());
    let per_month = units_per_month(settings.unit);
    let clv_options = ClvOptions {
        months: settings.months,
        monthly_discount: settings.discount,
        units_per_month: per_month,
    };
    let horizon = f64::from(settings.months) * per_month;
    let saved = purchases.saved();
    let n = columns.len();
    let scores = score_customers(
        saved.model(),
        (&columns.frequency, &columns.recency, &columns.t),
        horizon,
        Some((&gg, &monetary, &clv_options)),
    )?;
    let ids = columns
        .ids
        .clone()
        .unwrap_or_else(|| (1..=n).map(|i| i.to_string()).collect());
    Ok(ClvReport {
        values: CustomerValues {
            ids,
            frequency: columns.frequency.clone(),
            recency: columns.recency.clone(),
            t: columns.t.clone(),
            monetary_value: monetary,
            p_alive: scores.p_alive,
            expected_purchases: scores.expected_purchases,
            expected_spend: scores.expected_spend.unwrap_or_default(),
            clv: scores.clv.unwrap_or_default(),
        },
        purchase_fit,
        purchase_model: saved,
        spend_fit,
        spend_model: gg,
        notes,
    })
}

impl CustomerValues {
    /// One row per customer: the summary, P(alive), expected purchases and spend, CLV.
    pub fn batch(&self) -> RecordBatch {
        crate::source::customer_batch(
            &self.ids,
            &[
                ("frequency", &self.frequency),
                ("recency", &self.recency),
                ("T", &self.t),
                ("monetary_value", &self.monetary_value),
                ("p_alive", &self.p_alive),
                ("expected_purchases", &self.expected_purchases),
                ("expected_spend", &self.expected_spend),
                ("clv", &self.clv),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CDNOW's calibration summary (weeks) with spend: the published BG/NBD and Gamma-Gamma.
    fn cdnow() -> SummaryColumns {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../data/cdnow/cdnow_customers_summary_with_transactions.csv"
        );
        crate::source::SummaryFile {
            frequency_col: "x".into(),
            recency_col: "t_x".into(),
            monetary_col: "zbar".into(),
            ..crate::source::SummaryFile::new(path)
        }
        .load(true, "T")
        .unwrap()
    }

    #[test]
    fn cdnow_clv_rests_on_the_published_fits() {
        let report = clv(&cdnow(), &ClvSettings::default()).unwrap();
        let r = report.purchase_fit.params[0].1;
        assert!((r - 0.243).abs() < 5e-4, "BG/NBD r {r}");
        let p = report.spend_fit.params[0].1;
        assert!((p - 6.25).abs() < 5e-3, "Gamma-Gamma p {p}");
        assert_eq!(report.values.clv.len(), 2357);
        // A customer with no repeat purchase is worth the population's mean spend times
        // few expected purchases; every CLV is finite and >= 0.
        assert!(report.values.clv.iter().all(|c| c.is_finite() && *c >= 0.0));
        assert!(report.notes.is_empty(), "{:?}", report.notes);
        assert_eq!(report.values.batch().num_rows(), 2357);
    }

    #[test]
    fn a_discount_of_minus_one_is_refused_by_name() {
        let settings = ClvSettings {
            discount: -1.0,
            ..ClvSettings::default()
        };
        let error = clv(&cdnow(), &settings).unwrap_err();
        assert_eq!(error.unfit_options(), ["discount"]);
    }
}
