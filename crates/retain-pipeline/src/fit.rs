//! Fitting the "buy till you die" models on per-customer summaries: the purchase models
//! (BG/NBD, Pareto/NBD, MBG/NBD, BG/BB) and Gamma-Gamma for spend, with the data checks that
//! name the customer at fault.
//!
//! Customers acquired at the very end of the calibration window (T = 0, hence no repeat
//! purchase and recency 0) add nothing to the purchase likelihood (their term is 1, as in
//! lifetimes); they are left out of the fit and counted ([`PurchaseData::left_out`]), and are
//! still scored. A fit whose parameters the data hardly determine says so in its warnings
//! ([`FitSummary::weakly_identified`]), and every output built on it repeats them.
//!
//! ```no_run
//! use retain_pipeline::fit::{fit_purchase_model, PurchaseData, PurchaseModelKind};
//! use retain_pipeline::source::SummaryFile;
//!
//! let columns = SummaryFile::new("summary.csv").load(false, "T")?;
//! let data = PurchaseData::from_columns(&columns)?;
//! let fit = fit_purchase_model(PurchaseModelKind::BgNbd, &data, &Default::default())?;
//! println!("{:?} {:?}", fit.summary().params, fit.summary().warnings);
//! # Ok::<(), retain_pipeline::PipelineError>(())
//! ```

use retain_models::btyd::gamma_gamma::SpendData;
use retain_models::btyd::{
    score_customers, BgBb, BgNbd, FitOptions, Fitted, GammaGamma, MbgNbd, ModelError, Named,
    ParetoNbd, PurchaseModel, RfmData, SavedPurchaseModel,
};
use retain_scoring::monitor::TrainingSample;
use retain_scoring::purchase::{summary_frame, ReferenceCustomer};
use serde::Serialize;

use crate::error::invalid;
use crate::source::SummaryColumns;
use crate::{PipelineError, Result};

/// The purchase models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PurchaseModelKind {
    BgNbd,
    ParetoNbd,
    MbgNbd,
    /// Discrete opportunities: T is the number of opportunities.
    BgBb,
}

impl PurchaseModelKind {
    /// The name in papers and reports.
    pub fn title(self) -> &'static str {
        match self {
            PurchaseModelKind::BgNbd => "BG/NBD",
            PurchaseModelKind::ParetoNbd => "Pareto/NBD",
            PurchaseModelKind::MbgNbd => "MBG/NBD",
            PurchaseModelKind::BgBb => "BG/BB",
        }
    }
}

/// Customers' purchase histories ready to fit, and how many were left out for being acquired
/// at the end of the window.
#[derive(Debug, Clone)]
pub struct PurchaseData {
    pub data: RfmData,
    /// Customers with T = 0 (first purchase on the calibration end): no information.
    pub left_out: usize,
}

impl PurchaseData {
    /// Checks every customer's history; an error names the customer (its id, or its row in
    /// a summary without ids) and what is wrong.
    pub fn from_columns(columns: &SummaryColumns) -> Result<PurchaseData> {
        let n = columns.len();
        let acquired_at_end = |i: usize| {
            columns.t[i] == 0.0 && columns.frequency[i] == 0.0 && columns.recency[i] == 0.0
        };
        let kept: Vec<usize> = (0..n).filter(|&i| !acquired_at_end(i)).collect();
        let pick = |v: &[f64]| -> Vec<f64> { kept.iter().map(|&i| v[i]).collect() };
        let weights = columns.weights.as_deref().map(pick);
        let data = RfmData::new(
            &pick(&columns.frequency),
            &pick(&columns.recency),
            &pick(&columns.t),
            weights.as_deref(),
        )
        .map_err(|e| name_customer(e, columns, &kept))?;
        Ok(PurchaseData {
            data,
            left_out: n - kept.len(),
        })
    }

    /// The fitted customers' average history, the customer a served model's reasons are
    /// measured from: a customer that could be (whole purchases; whole opportunities for
    /// BG/BB); monetary value is the mean of the repeat customers' when `columns` have it.
    pub fn reference(&self, columns: &SummaryColumns, discrete: bool) -> ReferenceCustomer {
        let d = &self.data;
        let total: f64 = d.weight.iter().sum::<f64>().max(f64::MIN_POSITIVE);
        let mean = |v: &[f64]| -> f64 {
            let m = v.iter().zip(&d.weight).map(|(a, w)| a * w).sum::<f64>() / total;
            if discrete {
                m.round()
            } else {
                m
            }
        };
        let (frequency, t) = (mean(&d.x).round(), mean(&d.t));
        let recency = if frequency == 0.0 {
            0.0
        } else {
            mean(&d.t_x).min(t)
        };
        let monetary_value = columns.monetary.as_ref().map_or(0.0, |m| {
            let repeat: Vec<f64> = m
                .iter()
                .zip(&columns.frequency)
                .filter(|(_, &x)| x > 0.0)
                .map(|(m, _)| *m)
                .collect();
            repeat.iter().sum::<f64>() / repeat.len().max(1) as f64
        });
        ReferenceCustomer {
            frequency,
            recency,
            t,
            monetary_value,
        }
    }

    /// A note for the user on the customers left out, if any.
    pub fn note(&self) -> Option<String> {
        (self.left_out > 0).then(|| {
            format!(
                "{} customers first bought on the last day of the window (T = 0): they tell the \
                 fit nothing and are left out of it (they are still scored)",
                self.left_out
            )
        })
    }
}

/// A row error of the models, re-told with the customer's name.
fn name_customer(error: ModelError, columns: &SummaryColumns, rows: &[usize]) -> PipelineError {
    match error {
        ModelError::InvalidRow { row, message } => {
            let i = rows.get(row - 1).copied().unwrap_or(row - 1);
            invalid!("{}: {message}", columns.name_of(i))
        }
        other => other.into(),
    }
}

/// The repeat customers' spend, for Gamma-Gamma.
pub fn spend_data(columns: &SummaryColumns) -> Result<SpendData> {
    let monetary = columns.monetary.as_deref().ok_or_else(|| {
        PipelineError::missing(
            "monetary",
            "Gamma-Gamma needs each customer's mean spend (monetary value)",
        )
    })?;
    let rows: Vec<usize> = (0..columns.len()).collect();
    SpendData::from_repeat_customers(&columns.frequency, monetary, columns.weights.as_deref())
        .map_err(|e| name_customer(e, columns, &rows))
}

/// A fitted purchase model of any kind, with its fit record.
#[derive(Debug, Clone)]
pub enum PurchaseFit {
    BgNbd(Fitted<BgNbd>),
    ParetoNbd(Fitted<ParetoNbd>),
    MbgNbd(Fitted<MbgNbd>),
    BgBb(Fitted<BgBb>),
}

/// What a fit found, for reports: parameters by name with their standard errors, the
/// likelihood, and warnings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitSummary {
    pub title: &'static str,
    pub params: Vec<(&'static str, f64)>,
    pub std_errors: Option<Vec<(&'static str, f64)>>,
    pub log_likelihood: f64,
    pub n_customers: f64,
    pub converged: bool,
    pub iterations: u64,
    pub warnings: Vec<String>,
}

impl FitSummary {
    /// The summary of any fit (sBG and Gamma-Gamma too).
    pub fn of<P: Named>(title: &'static str, fit: &Fitted<P>) -> FitSummary {
        FitSummary {
            title,
            params: fit.params.named(),
            std_errors: fit.std_errors.as_ref().map(Named::named),
            log_likelihood: fit.log_likelihood,
            n_customers: fit.n_customers,
            converged: fit.converged,
            iterations: fit.iterations,
            warnings: fit.warnings.clone(),
        }
    }

    /// The data hardly determine a parameter (at the edge, a standard error above the
    /// estimate, or none): what is built on the fit should say so.
    pub fn weakly_identified(&self) -> bool {
        !self.warnings.is_empty()
    }

    /// The parameters the warnings are about, in the order of [`Self::params`] (empty when the
    /// warning is that there are no standard errors).
    pub fn weak_parameters(&self) -> Vec<&'static str> {
        // The warnings open with the parameter they are about ("a = 0.0019 has …").
        self.params
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| {
                self.warnings
                    .iter()
                    .any(|w| w.starts_with(&format!("{name} = ")))
            })
            .collect()
    }

    /// The weak parameters with their estimates and standard errors, "a = 0.0019 ± 0.0124, b =
    /// 11.8944 ± 66.4232" ("no standard errors" when the warning is that there are none).
    ///
    /// ```
    /// use retain_pipeline::fit::FitSummary;
    ///
    /// // MBG/NBD on the Online Retail log: the dropout parameter a is hardly determined.
    /// let fit = FitSummary {
    ///     title: "MBG/NBD",
    ///     params: vec![("r", 0.8273), ("alpha", 9.8601), ("a", 0.0019), ("b", 11.8944)],
    ///     std_errors: Some(vec![("r", 0.0268), ("alpha", 0.3722), ("a", 0.0124), ("b", 66.4232)]),
    ///     log_likelihood: -37647.86,
    ///     n_customers: 4338.0,
    ///     converged: true,
    ///     iterations: 42,
    ///     warnings: vec!["a = 0.0019 has a standard error of 0.0124, more than the estimate".into()],
    /// };
    /// assert_eq!(fit.weak_parameters(), ["a"]);
    /// assert_eq!(fit.weak_estimates(), "a = 0.0019 ± 0.0124");
    /// ```
    pub fn weak_estimates(&self) -> String {
        let named = self.weak_parameters();
        if named.is_empty() {
            return "no standard errors".into();
        }
        let find = |named: &[(&'static str, f64)], name: &str| {
            named.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
        };
        named
            .iter()
            .map(|name| {
                let value = find(&self.params, name).unwrap_or(f64::NAN);
                match self.std_errors.as_deref().and_then(|e| find(e, name)) {
                    Some(se) => format!("{name} = {} ± {}", figure(value), figure(se)),
                    None => format!("{name} = {}", figure(value)),
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// One line for outputs built on this fit, when it is weakly identified.
    pub fn caution(&self) -> Option<String> {
        if !self.weakly_identified() {
            return None;
        }
        let named = self.weak_parameters();
        let which = if named.is_empty() {
            "no standard errors".to_string()
        } else {
            format!("{} hardly determined", named.join(", "))
        };
        Some(format!(
            "{} is weakly identified on these data ({which}): the P(alive), expected purchases \
             and CLV built on it are uncertain",
            self.title
        ))
    }
}

/// A parameter or standard error for a message: 4 decimals, or 3 significant digits below
/// 0.001 (a parameter at the edge of its space).
fn figure(v: f64) -> String {
    if v != 0.0 && v.abs() < 1e-3 {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

impl PurchaseFit {
    pub fn kind(&self) -> PurchaseModelKind {
        match self {
            PurchaseFit::BgNbd(_) => PurchaseModelKind::BgNbd,
            PurchaseFit::ParetoNbd(_) => PurchaseModelKind::ParetoNbd,
            PurchaseFit::MbgNbd(_) => PurchaseModelKind::MbgNbd,
            PurchaseFit::BgBb(_) => PurchaseModelKind::BgBb,
        }
    }

    /// The model as saved and scored.
    pub fn saved(&self) -> SavedPurchaseModel {
        match self {
            PurchaseFit::BgNbd(f) => SavedPurchaseModel::BgNbd(f.params),
            PurchaseFit::ParetoNbd(f) => SavedPurchaseModel::ParetoNbd(f.params),
            PurchaseFit::MbgNbd(f) => SavedPurchaseModel::MbgNbd(f.params),
            PurchaseFit::BgBb(f) => SavedPurchaseModel::BgBb(f.params),
        }
    }

    pub fn summary(&self) -> FitSummary {
        let title = self.kind().title();
        match self {
            PurchaseFit::BgNbd(f) => FitSummary::of(title, f),
            PurchaseFit::ParetoNbd(f) => FitSummary::of(title, f),
            PurchaseFit::MbgNbd(f) => FitSummary::of(title, f),
            PurchaseFit::BgBb(f) => FitSummary::of(title, f),
        }
    }

    /// The model file to save and register: the fit record with what serving it needs, the
    /// time unit of the summaries (`unit`; not for BG/BB) and the average customer its reasons
    /// are measured from (`reference`).
    pub fn artifact(
        &self,
        data: &PurchaseData,
        columns: &SummaryColumns,
        unit: retain_data::TimeUnit,
    ) -> serde_json::Value {
        let mut record = self.record();
        let discrete = self.kind() == PurchaseModelKind::BgBb;
        if !discrete {
            record["unit"] = match unit {
                retain_data::TimeUnit::Days => "days",
                retain_data::TimeUnit::Weeks => "weeks",
                retain_data::TimeUnit::Months => "months",
            }
            .into();
        }
        record["reference"] =
            serde_json::to_value(data.reference(columns, discrete)).expect("numbers serialize");
        if let Ok(sample) = self.training_sample(columns) {
            record["training_sample"] = serde_json::to_value(sample).expect("numbers serialize");
        }
        record
    }

    /// The summaries fitted on with each customer's P(alive), for drift: a collapsed row (a
    /// `weights` column) counts as the customers it stands for.
    fn training_sample(&self, columns: &SummaryColumns) -> Result<TrainingSample> {
        let rows: Vec<usize> = match &columns.weights {
            None => (0..columns.len()).collect(),
            Some(w) => (0..columns.len())
                .flat_map(|i| std::iter::repeat_n(i, w[i].round().max(0.0) as usize))
                .collect(),
        };
        let pick = |v: &[f64]| -> Vec<f64> { rows.iter().map(|&i| v[i]).collect() };
        let frame = summary_frame(
            pick(&columns.frequency),
            pick(&columns.recency),
            pick(&columns.t),
            columns.monetary.as_deref().map(pick),
        );
        let saved = self.saved();
        let scores = score_customers(
            saved.model(),
            (
                &pick(&columns.frequency),
                &pick(&columns.recency),
                &pick(&columns.t),
            ),
            1.0,
            None,
        )?;
        Ok(TrainingSample::of(&frame, &scores.p_alive))
    }

    /// The fit record as `retain fit --format json` prints it: `{"model", "params",
    /// "std_errors", "log_likelihood", "n_customers", "converged", "iterations"}`.
    pub fn record(&self) -> serde_json::Value {
        match self {
            PurchaseFit::BgNbd(f) => serde_json::to_value(f),
            PurchaseFit::ParetoNbd(f) => serde_json::to_value(f),
            PurchaseFit::MbgNbd(f) => serde_json::to_value(f),
            PurchaseFit::BgBb(f) => serde_json::to_value(f),
        }
        .expect("fits serialize")
    }
}

/// Fits a purchase model by maximum likelihood.
pub fn fit_purchase_model(
    kind: PurchaseModelKind,
    data: &PurchaseData,
    options: &FitOptions,
) -> Result<PurchaseFit> {
    let data = &data.data;
    if data.x.is_empty() {
        return Err(invalid!(
            "no customer to fit {} on: every customer was acquired on the last day",
            kind.title()
        ));
    }
    Ok(match kind {
        PurchaseModelKind::BgNbd => PurchaseFit::BgNbd(BgNbd::fit(data, options)?),
        PurchaseModelKind::ParetoNbd => PurchaseFit::ParetoNbd(ParetoNbd::fit(data, options)?),
        PurchaseModelKind::MbgNbd => PurchaseFit::MbgNbd(MbgNbd::fit(data, options)?),
        PurchaseModelKind::BgBb => PurchaseFit::BgBb(BgBb::fit(data, options)?),
    })
}

/// Fits Gamma-Gamma on the repeat customers' spend.
pub fn fit_spend_model(
    columns: &SummaryColumns,
    options: &FitOptions,
) -> Result<Fitted<GammaGamma>> {
    Ok(GammaGamma::fit(&spend_data(columns)?, options)?)
}

/// The purchase model of a fit, to score with.
pub fn purchase_model(saved: &SavedPurchaseModel) -> &dyn PurchaseModel {
    saved.model()
}

/// Where contractual lifetimes for sBG come from.
#[derive(Debug, Clone, PartialEq)]
pub enum LifetimeSource {
    /// A survivor table: customers still active after each period, period 0 being the
    /// cohort; periods must run 0, 1, 2, … in order.
    Survivors {
        path: std::path::PathBuf,
        period_col: String,
        count_col: String,
    },
    /// One row per customer: the periods observed and whether the customer cancelled (a yes/no
    /// column).
    Customers {
        path: std::path::PathBuf,
        duration_col: String,
        churned_col: String,
    },
}

impl LifetimeSource {
    /// Reads the lifetimes.
    pub fn load(&self) -> Result<retain_models::btyd::Lifetimes> {
        use retain_data::{read_customer_table, CustomerTableOptions};
        let plain = CustomerTableOptions {
            id_col: None,
            ..CustomerTableOptions::default()
        };
        match self {
            LifetimeSource::Survivors {
                path,
                period_col,
                count_col,
            } => {
                let t = read_customer_table(path, &plain)?;
                let period = t.required_numbers(period_col, "period-col")?;
                let count = t.required_numbers(count_col, "count-col")?;
                if let Some((i, p)) = period.iter().enumerate().find(|(i, p)| **p != *i as f64) {
                    return Err(invalid!(
                        "{}: periods must run 0, 1, 2, … in order (row {} has period {p})",
                        path.display(),
                        i + 1
                    ));
                }
                Ok(retain_models::btyd::Lifetimes::from_survivors(&count)?)
            }
            LifetimeSource::Customers {
                path,
                duration_col,
                churned_col,
            } => {
                let t = read_customer_table(path, &plain)?;
                let periods = t.required_numbers(duration_col, "duration-col")?;
                let churned = t.flags(churned_col, "churned-col")?;
                Ok(retain_models::btyd::Lifetimes::from_customers(
                    &periods, &churned,
                )?)
            }
        }
    }
}

/// One period of a fitted sBG projected forward.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SbgPeriod {
    pub period: u32,
    /// Share of the cohort still active after the period.
    pub survival: f64,
    /// The period's retention rate.
    pub retention_rate: f64,
    /// Discounted expected residual lifetime of a customer active after the period.
    pub derl: f64,
}

/// The fitted sBG over `periods` periods, with the discounted expected residual lifetime at
/// `discount` a period; and a new customer's DERL.
pub fn sbg_projection(
    model: &retain_models::btyd::ShiftedBetaGeometric,
    periods: u32,
    discount: f64,
) -> Result<(Vec<SbgPeriod>, f64)> {
    let rows = (1..=periods)
        .map(|t| {
            let t_f = f64::from(t);
            Ok(SbgPeriod {
                period: t,
                survival: model.survival(t_f),
                retention_rate: model.retention_rate(t_f),
                derl: model.discounted_expected_residual_lifetime(discount, t)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((
        rows,
        model.discounted_expected_residual_lifetime(discount, 0)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(ids: &[&str], x: &[f64], t_x: &[f64], t: &[f64]) -> SummaryColumns {
        SummaryColumns {
            ids: Some(ids.iter().map(|s| s.to_string()).collect()),
            frequency: x.to_vec(),
            recency: t_x.to_vec(),
            t: t.to_vec(),
            ..SummaryColumns::default()
        }
    }

    #[test]
    fn customers_acquired_on_the_last_day_are_left_out_and_counted() {
        let c = columns(
            &["a", "b", "new"],
            &[2.0, 0.0, 0.0],
            &[10.0, 0.0, 0.0],
            &[20.0, 15.0, 0.0],
        );
        let data = PurchaseData::from_columns(&c).unwrap();
        assert_eq!(data.left_out, 1);
        assert_eq!(data.data.x.len(), 2);
        assert!(data.note().unwrap().starts_with("1 customers first bought"));
    }

    #[test]
    fn a_bad_history_names_the_customer() {
        let c = columns(
            &["a", "new", "c42"],
            &[2.0, 0.0, 0.0],
            &[10.0, 0.0, 3.0],
            &[20.0, 0.0, 15.0],
        );
        let error = PipelineError::to_string(&PurchaseData::from_columns(&c).unwrap_err());
        assert_eq!(
            error,
            "customer c42: recency must be 0 when frequency is 0, found 3"
        );
        let no_ids = SummaryColumns { ids: None, ..c };
        let error = PurchaseData::from_columns(&no_ids).unwrap_err().to_string();
        assert!(error.starts_with("customer row 3:"), "{error}");
    }

    #[test]
    fn sbg_projection_of_the_published_fit() {
        // Fader & Hardie (2007), regular customers: alpha 0.704, beta 1.182; 62.7% survive
        // the first year (the fit's own table).
        let model = retain_models::btyd::ShiftedBetaGeometric {
            alpha: 0.704,
            beta: 1.182,
        };
        let (rows, new) = sbg_projection(&model, 3, 0.1).unwrap();
        assert_eq!(rows.len(), 3);
        assert!((rows[0].survival - 0.627).abs() < 1e-3, "{rows:?}");
        assert!((rows[0].retention_rate - rows[0].survival).abs() < 1e-12);
        assert!(rows[1].retention_rate > rows[0].retention_rate);
        assert!(new > 2.9 && new < 3.0, "{new}");
    }

    #[test]
    fn weak_parameters_are_named_with_their_estimates() {
        // MBG/NBD on the Online Retail log (weeks, at 2011-12-09), as `retain fit` reports it.
        let summary = FitSummary {
            title: "MBG/NBD",
            params: vec![
                ("r", 0.8273),
                ("alpha", 9.8601),
                ("a", 0.0019),
                ("b", 11.8944),
            ],
            std_errors: Some(vec![
                ("r", 0.0268),
                ("alpha", 0.3722),
                ("a", 0.0124),
                ("b", 66.4232),
            ]),
            log_likelihood: -37647.86,
            n_customers: 4338.0,
            converged: true,
            iterations: 42,
            warnings: vec![
                "a = 0.0019 has a standard error of 0.0124, more than the estimate".into(),
                "b = 11.8944 has a standard error of 66.4232, more than the estimate".into(),
            ],
        };
        assert_eq!(summary.weak_parameters(), ["a", "b"]);
        assert_eq!(
            summary.weak_estimates(),
            "a = 0.0019 ± 0.0124, b = 11.8944 ± 66.4232"
        );
        assert!(summary
            .caution()
            .unwrap()
            .starts_with("MBG/NBD is weakly identified on these data (a, b hardly determined)"));
        let at_edge = FitSummary {
            params: vec![("a", 2.5e-9), ("b", 1.0)],
            std_errors: None,
            warnings: vec!["a = 2.500e-9 is at the edge of the parameter space".into()],
            ..summary
        };
        assert_eq!(at_edge.weak_estimates(), "a = 2.500e-9");
    }

    #[test]
    fn weak_identification_is_reported() {
        // Four customers cannot determine four parameters.
        let c = columns(
            &["a", "b", "c", "d"],
            &[1.0, 0.0, 3.0, 0.0],
            &[5.0, 0.0, 9.0, 0.0],
            &[10.0, 12.0, 10.0, 3.0],
        );
        let data = PurchaseData::from_columns(&c).unwrap();
        let fit =
            fit_purchase_model(PurchaseModelKind::BgNbd, &data, &FitOptions::default()).unwrap();
        let summary = fit.summary();
        assert!(summary.weakly_identified(), "{summary:?}");
        assert!(summary
            .caution()
            .unwrap()
            .starts_with("BG/NBD is weakly identified on these data ("));
    }
}
