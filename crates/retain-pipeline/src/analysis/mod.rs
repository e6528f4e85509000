//! An analysis of a transaction log: everything the dashboard and the report show, computed
//! once so that opening a page only reads it. Per customer: segment (RFM), lifecycle stage,
//! P(alive), churn risk, expected purchases and CLV from a purchase model with Gamma-Gamma,
//! historic value, the expected day of the next purchase and the reasons for the churn risk;
//! and the pages (overview, segments, value, retention, at-risk) with their charts and tables.
//!
//! ```no_run
//! use retain_pipeline::analysis::{analyze_log, AnalysisOptions};
//! use retain_pipeline::source::Log;
//!
//! let log = Log { files: vec!["transactions.csv".into()], ..Log::default() };
//! let analysis = analyze_log(&log, &AnalysisOptions::named("my shop"))?;
//! println!("{} customers, {} pages", analysis.customers.len(), analysis.pages.len());
//! # Ok::<(), retain_pipeline::PipelineError>(())
//! ```
//!
//! **Churn risk** is 1 − P(alive) of the purchase model (MBG/NBD by default: unlike BG/NBD it
//! lets one-time buyers be gone, so their risk is not 0). **Value at risk** is churn risk ×
//! historic value. **Next purchase**: given that a customer is still alive at T, their purchase
//! rate is Gamma(r + x, α + T) (BG/NBD, MBG/NBD and Pareto/NBD alike), so the wait to the next
//! purchase is Lomax: P(wait > t) = ((α + T)/(α + T + t))^(r + x). The day shown is the median
//! wait, T + (α + T)(2^(1/(r + x)) − 1); it is left out when P(alive) < 0.5, where "probably
//! gone" is the better answer.

mod campaign;
mod contracts;
mod customer;
mod models;
pub mod page;
mod pages;
mod production;
mod report;

use rayon::prelude::*;
use retain_data::dates::{format_day, TimeUnit};
use retain_data::features::{behaviour_features, repeat_summary};
use retain_data::PurchaseHistory;
use retain_models::btyd::{score_customers, ClvOptions, FitOptions, SavedPurchaseModel};
use retain_models::lifecycle::LifecycleRules;
use retain_models::supervised::{FeatureValue, Reason};
use retain_scoring::purchase::{units_per_month, PurchaseScorer};
use retain_store::{AnalysisCustomer, NewAnalysis, StoredCustomer};
use serde::{Deserialize, Serialize};

pub use campaign::CampaignOptions;
pub use contracts::{analyze_contracts, ContractAnalysisOptions, ContractColumns};
pub use customer::{customer_page, CustomerModel};
pub use models::models_page;
pub use page::Page;
pub use production::{production_page, production_records, ModelRecord};
pub use report::{report_data, ReportOptions};

use crate::error::invalid;
use crate::fit::{
    fit_purchase_model, fit_spend_model, FitSummary, PurchaseData, PurchaseModelKind,
};
use crate::lifecycle::stages_at;
use crate::segment::{group, SegmentMethod, SegmentOptions};
use crate::source::{Log, SummaryColumns};
use crate::{PipelineError, Result};

/// The time unit of the purchase model.
const UNIT: TimeUnit = TimeUnit::Weeks;

/// What to compute.
#[derive(Debug, Clone)]
pub struct AnalysisOptions {
    /// What the analysis is of: analyses of one name are compared run to run.
    pub name: String,
    /// The day the customers are seen at; `None`: the log's last day.
    pub at: Option<i32>,
    /// The purchase model (continuous time).
    pub purchase_model: PurchaseModelKind,
    /// Months of CLV and of expected purchases.
    pub clv_months: u32,
    /// Monthly discount rate of the CLV.
    pub discount: f64,
    /// Days without a purchase after which a customer counts as churned in the survival
    /// curves.
    pub inactive_days: i32,
    pub fit: FitOptions,
    /// The headline numbers of earlier analyses of the same name, oldest first.
    pub earlier: Vec<EarlierAnalysis>,
    /// A campaign to measure (the campaigns page).
    pub campaign: Option<CampaignOptions>,
}

impl AnalysisOptions {
    /// The defaults, for an analysis called `name`.
    pub fn named(name: impl Into<String>) -> AnalysisOptions {
        AnalysisOptions {
            name: name.into(),
            at: None,
            purchase_model: PurchaseModelKind::MbgNbd,
            clv_months: 12,
            discount: 0.01,
            inactive_days: 180,
            fit: FitOptions::default(),
            earlier: Vec::new(),
            campaign: None,
        }
    }
}

/// An earlier analysis's headline numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct EarlierAnalysis {
    pub as_of: String,
    pub kpis: Kpis,
}

/// The headline numbers, compared run to run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Kpis {
    pub customers: f64,
    /// New and active customers (lifecycle stages).
    pub active: f64,
    pub at_risk: f64,
    /// Revenue in the 12 months to the analysis day.
    pub revenue_12m: f64,
    /// The customers' CLV over the horizon, summed.
    pub clv: Option<f64>,
    /// Of the customers who bought in the year before last, the share who did not buy in the
    /// last year.
    pub churn_rate: Option<f64>,
}

/// An analysis ready to store.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub name: String,
    pub as_of: i32,
    pub pages: Vec<Page>,
    pub customers: Vec<StoredCustomer>,
    pub model: CustomerModel,
    pub kpis: Kpis,
    /// What happened to every row of the log (a log's analysis).
    pub ingest: Option<retain_data::IngestReport>,
}

impl Analysis {
    /// The analysis as the store takes it; `source` names the input.
    pub fn to_store(&self, source: &str) -> NewAnalysis {
        NewAnalysis {
            analysis_id: None,
            name: self.name.clone(),
            source: source.into(),
            as_of: format_day(self.as_of),
            pages: self
                .pages
                .iter()
                .map(|p| {
                    (
                        p.page.clone(),
                        serde_json::to_string(p).expect("pages serialize"),
                    )
                })
                .collect(),
            model: serde_json::to_value(&self.model).expect("models serialize"),
            kpis: serde_json::to_value(self.kpis).expect("numbers serialize"),
        }
    }
}

/// The headline numbers of the earlier analyses of `name`, for the change shown beside each.
pub async fn earlier_analyses(
    store: &retain_store::Store,
    name: &str,
) -> Result<Vec<EarlierAnalysis>> {
    store
        .analysis_kpis(name)
        .await?
        .into_iter()
        .map(|(as_of, _, kpis)| {
            Ok(EarlierAnalysis {
                as_of,
                kpis: serde_json::from_value::<Kpis>(kpis).map_err(|e| {
                    crate::error::invalid!(
                        "the store's headline numbers of an earlier analysis: {e}"
                    )
                })?,
            })
        })
        .collect()
}

/// [`analyze`] of a transaction log.
pub fn analyze_log(log: &Log, options: &AnalysisOptions) -> Result<Analysis> {
    let (history, _) = log.history()?;
    analyze(&history, options)
}

/// What [`analyze`] knows of every customer, in the order of [`Customers::index`].
pub(crate) struct Customers {
    /// Indices into the history of the customers who bought by the analysis day.
    pub index: Vec<usize>,
    pub ids: Vec<String>,
    pub recency_days: Vec<f64>,
    pub purchase_days: Vec<f64>,
    pub spend: Vec<f64>,
    pub segment: Vec<String>,
    /// RFM scores: recency, frequency, monetary.
    pub scores: [Vec<u8>; 3],
    pub tier: Vec<String>,
    pub stage: Vec<String>,
    pub p_alive: Vec<f64>,
    pub expected_purchases: Vec<f64>,
    pub clv: Vec<Option<f64>>,
    /// Repeat purchases and age in weeks (the model's summary).
    pub x: Vec<f64>,
    pub t: Vec<f64>,
}

/// The fitted models the pages describe.
pub(crate) struct Fits {
    pub kind: PurchaseModelKind,
    pub purchase: SavedPurchaseModel,
    pub purchase_fit: FitSummary,
    pub spend_fit: Option<FitSummary>,
    pub left_out: usize,
    pub notes: Vec<String>,
}

/// Computes every customer's values and the pages at [`AnalysisOptions::at`].
pub fn analyze(history: &PurchaseHistory, options: &AnalysisOptions) -> Result<Analysis> {
    if options.purchase_model == PurchaseModelKind::BgBb {
        return Err(PipelineError::Unfit {
            options: &["purchase_model"],
            why: "an analysis of a log needs a continuous-time purchase model (BG/NBD, \
                  Pareto/NBD or MBG/NBD), not BG/BB"
                .into(),
        });
    }
    let Some((first, last)) = history.span() else {
        return Err(invalid!("the log has no usable transactions"));
    };
    let at = options.at.unwrap_or(last);
    if at < first {
        return Err(PipelineError::Unfit {
            options: &["at"],
            why: format!(
                "the analysis day {} is before the first purchase ({})",
                format_day(at),
                format_day(first)
            ),
        });
    }
    let behaviour = behaviour_features(history, at, 90);
    let index = behaviour.customers;
    if index.len() < 10 {
        return Err(invalid!(
            "{} customers had bought by {}: an analysis needs at least 10",
            index.len(),
            format_day(at)
        ));
    }
    let mut columns = behaviour.columns;
    let [recency_days, _, purchase_days, spend] =
        [0, 1, 2, 3].map(|j| std::mem::take(&mut columns[j]));
    let ids: Vec<String> = index.iter().map(|&k| history.id(k).to_string()).collect();

    // The purchase and spend models, fitted once on the summary at the day.
    let summary = repeat_summary(history, &index, at, UNIT.days());
    let summary_columns = SummaryColumns {
        ids: Some(ids.clone()),
        frequency: summary.x.clone(),
        recency: summary.t_x.clone(),
        t: summary.t.clone(),
        monetary: history.has_amounts.then(|| summary.monetary.clone()),
        weights: None,
    };
    let data = PurchaseData::from_columns(&summary_columns)?;
    let purchases = fit_purchase_model(options.purchase_model, &data, &options.fit)?;
    let purchase_fit = purchases.summary();
    let mut notes: Vec<String> = vec![history.report.to_string().replace("\n  ", "; ")];
    notes.extend(data.note());
    notes.extend(purchase_fit.caution());
    let record = purchases.artifact(&data, &summary_columns, UNIT);
    let mut spend_fit = None;
    let mut spend_model = None;
    if history.has_amounts && summary.x.iter().any(|&x| x > 0.0) {
        match fit_spend_model(&summary_columns, &options.fit) {
            Ok(gg) if gg.params.q > 1.0 => {
                spend_model = Some(gg.params);
                let fit = FitSummary::of("Gamma-Gamma", &gg);
                notes.extend(fit.caution());
                spend_fit = Some(fit);
            }
            Ok(gg) => notes.push(format!(
                "Gamma-Gamma q = {:.3} <= 1: the mean spend is infinite, so no CLV is shown",
                gg.params.q
            )),
            Err(e) => notes.push(format!("no CLV: Gamma-Gamma could not be fitted ({e})")),
        }
    } else {
        notes.push("no CLV: the log has no amounts or no repeat purchases".into());
    }
    let saved = purchases.saved();
    // Every customer's values at once (customers with the same history share them), and the
    // reasons of their P(alive) in parallel.
    let horizon = f64::from(options.clv_months) * units_per_month(UNIT);
    let clv_options = ClvOptions {
        months: options.clv_months,
        monthly_discount: options.discount,
        units_per_month: units_per_month(UNIT),
    };
    let scores = score_customers(
        saved.model(),
        (&summary.x, &summary.t_x, &summary.t),
        horizon,
        spend_model
            .as_ref()
            .map(|gg| (gg, summary.monetary.as_slice(), &clv_options)),
    )?;
    let scorer = PurchaseScorer::from_record(saved, &record).map_err(|e| invalid!("{e}"))?;
    let reasons: Vec<Vec<Reason>> = (0..index.len())
        .into_par_iter()
        .map(|i| scorer.p_alive_reasons(summary.x[i], summary.t_x[i], summary.t[i]))
        .collect::<std::result::Result<_, _>>()?;

    // Segments: RFM by name, and k-means value tiers (low, mid, high).
    let rfm = group(
        &recency_days,
        &purchase_days,
        &spend,
        &SegmentOptions::default(),
    )?;
    let tiers = group(
        &recency_days,
        &purchase_days,
        &spend,
        &SegmentOptions {
            method: SegmentMethod::Kmeans,
            k: Some(3),
            ..SegmentOptions::default()
        },
    )?;
    let stages = stages_at(
        history,
        at,
        &LifecycleRules::default(),
        Some((saved.model(), UNIT)),
    );

    let (r, alpha) = rate_prior(&saved);
    let mut stored = Vec::with_capacity(index.len());
    let mut p_alive = Vec::with_capacity(index.len());
    let mut expected_purchases = Vec::with_capacity(index.len());
    let mut clv = Vec::with_capacity(index.len());
    let mut stage = Vec::with_capacity(index.len());
    for (i, &k) in index.iter().enumerate() {
        let p = scores.p_alive[i];
        let customer_clv = scores.clv.as_ref().map(|v| v[i]);
        let risk = 1.0 - p;
        let historic: f64 = history.amounts(k)[..history.days(k).partition_point(|&d| d <= at)]
            .iter()
            .sum();
        let stage_name = stages[k].map_or("new", |s| s.stage.name()).to_string();
        let next_purchase = (p >= 0.5).then(|| {
            let wait = median_wait(r, alpha, summary.x[i], summary.t[i]);
            format_day(at + (wait * UNIT.days()).round().min(36_500.0) as i32)
        });
        // What raises the churn risk is positive: the reasons of P(alive), turned around.
        let reasons: Vec<serde_json::Value> = reasons[i]
            .iter()
            .map(|reason| {
                serde_json::json!({
                    "feature": reason.feature,
                    "value": match &reason.value {
                        FeatureValue::Number(v) => serde_json::json!(v),
                        other => serde_json::to_value(other).unwrap_or_default(),
                    },
                    "contribution": -reason.contribution,
                })
            })
            .collect();
        let days = &history.days(k)[..history.days(k).partition_point(|&d| d <= at)];
        stored.push(StoredCustomer {
            customer: AnalysisCustomer {
                customer_id: ids[i].clone(),
                segment: rfm.segment[i].clone(),
                stage: stage_name.clone(),
                churn_risk: risk,
                p_alive: Some(p),
                expected_purchases: Some(scores.expected_purchases[i]),
                clv: customer_clv,
                historic_value: historic,
                value_at_risk: risk * historic,
                next_purchase,
                reasons: serde_json::Value::Array(reasons),
            },
            purchases: serde_json::json!({
                "days": days.iter().map(|&d| format_day(d)).collect::<Vec<_>>(),
                "amounts": &history.amounts(k)[..days.len()],
            }),
        });
        p_alive.push(p);
        expected_purchases.push(scores.expected_purchases[i]);
        clv.push(customer_clv);
        stage.push(stage_name);
    }
    let customers = Customers {
        index,
        ids,
        recency_days,
        purchase_days,
        spend,
        segment: rfm.segment,
        scores: rfm.scores.ok_or_else(|| invalid!("RFM gave no scores"))?,
        tier: tiers.segment,
        stage,
        p_alive,
        expected_purchases,
        clv,
        x: summary.x,
        t: summary.t,
    };
    let fits = Fits {
        kind: options.purchase_model,
        purchase: saved,
        purchase_fit,
        spend_fit,
        left_out: data.left_out,
        notes,
    };
    let kpis = pages::kpis(history, &customers, at);
    let pages = pages::all(history, &customers, &fits, kpis, at, options, &rfm.order)?;
    Ok(Analysis {
        name: options.name.clone(),
        as_of: at,
        pages,
        customers: stored,
        model: CustomerModel {
            model: Some(saved),
            unit: "weeks".into(),
            as_of: format_day(at),
            reasons: "Shapley values over repeat purchases (frequency), recency and age (T) in \
                      weeks, from the fit's average customer; positive raises the risk."
                .into(),
            reasons_in_log_odds: false,
        },
        kpis,
        ingest: Some(history.report.clone()),
    })
}

/// r and α of the purchase rate's gamma prior.
fn rate_prior(model: &SavedPurchaseModel) -> (f64, f64) {
    match model {
        SavedPurchaseModel::BgNbd(p) => (p.r, p.alpha),
        SavedPurchaseModel::MbgNbd(p) => (p.r, p.alpha),
        SavedPurchaseModel::ParetoNbd(p) => (p.r, p.alpha),
        // Not reached: an analysis refuses BG/BB.
        SavedPurchaseModel::BgBb(_) => (f64::NAN, f64::NAN),
    }
}

/// The median wait to the next purchase of a customer still alive, in model time units.
pub fn median_wait(r: f64, alpha: f64, x: f64, t: f64) -> f64 {
    (alpha + t) * (2f64.powf(1.0 / (r + x)) - 1.0)
}

#[cfg(test)]
mod tests;
