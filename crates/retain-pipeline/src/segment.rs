//! Segments: a log's customers at a date grouped the way marketing acts on them, by RFM scores
//! and the named segments of the R × F map, or by k-means or DBSCAN clusters of log-RFM ordered
//! by value; with each segment's profile (size, revenue share, mean spend, mean CLV and churn
//! risk from MBG/NBD and Gamma-Gamma fitted on the same purchases, days since the last
//! purchase), and the segmentation as saved to assign other customers
//! ([`retain_scoring::SegmentsArtifact`]).
//!
//! The purchase model is fitted as [`crate::fit`] fits it: customers whose first purchase is on
//! the day of the segments (T = 0) are left out of the fit and counted, and still valued. When
//! the data hardly determine the model ([`FitSummary::weakly_identified`]), the churn risk and
//! CLV of the profiles are uncertain: [`Segments::cautions`] says so, and every output built on
//! them repeats it.
//!
//! ```no_run
//! use retain_pipeline::segment::{segment_log, SegmentMethod, SegmentOptions};
//! use retain_pipeline::source::Log;
//!
//! let log = Log { files: vec!["transactions.csv".into()], ..Log::default() };
//! let options = SegmentOptions { method: SegmentMethod::Kmeans, ..SegmentOptions::default() };
//! let segments = segment_log(&log, &options)?;
//! for p in &segments.profiles {
//!     println!("{}: {} customers, churn risk {:.1}%", p.segment, p.customers, 100.0 * p.mean_churn_risk);
//! }
//! for caution in &segments.cautions {
//!     println!("caution: {caution}");
//! }
//! # Ok::<(), retain_pipeline::PipelineError>(())
//! ```

use std::path::Path;
use std::sync::Arc;

use retain_data::datafusion::arrow::array::{
    ArrayRef, Float64Array, RecordBatch, StringArray, UInt8Array,
};
use retain_data::datafusion::arrow::datatypes::{DataType, Field, Schema};
use retain_data::dates::format_day;
use retain_data::features::behaviour_features;
use retain_data::{DataError, PurchaseHistory, TimeUnit};
use retain_models::btyd::{score_customers, ClvOptions, FitOptions};
use retain_models::segment::{
    dbscan, kmeans, log_standardize, rfm_scores, Segmentation, RFM_SEGMENTS,
};
use retain_scoring::{SegmentsArtifact, SEGMENTS_FORMAT, SEGMENT_FEATURES};
use serde::Serialize;

use crate::clv::units_per_month;
use crate::error::invalid;
use crate::fit::{
    fit_purchase_model, fit_spend_model, FitSummary, PurchaseData, PurchaseModelKind,
};
use crate::source::{Log, SummaryColumns};
use crate::{PipelineError, Result};

/// The time unit the purchase and spend models are fitted in.
const UNIT: TimeUnit = TimeUnit::Weeks;

/// Days in the spend-trend windows of the behaviour features (not part of the segments).
const TREND_DAYS: i32 = 90;

/// How customers are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SegmentMethod {
    /// Recency, frequency and monetary quintile scores and the named segments of the R × F map.
    #[default]
    Rfm,
    /// k-means on standardised log-RFM; k by silhouette unless given.
    Kmeans,
    /// DBSCAN on standardised log-RFM; eps from the k-distance elbow unless given. DBSCAN has
    /// no centres: its segmentation cannot be saved.
    Dbscan,
}

impl SegmentMethod {
    /// "rfm", "kmeans", "dbscan".
    ///
    /// ```
    /// assert_eq!(retain_pipeline::segment::SegmentMethod::Kmeans.name(), "kmeans");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            SegmentMethod::Rfm => "rfm",
            SegmentMethod::Kmeans => "kmeans",
            SegmentMethod::Dbscan => "dbscan",
        }
    }
}

/// How and when to segment, and the CLV of the profiles.
#[derive(Debug, Clone)]
pub struct SegmentOptions {
    pub method: SegmentMethod,
    /// The day of the segments; `None`: the log's last day.
    pub at: Option<i32>,
    /// k-means: the number of clusters (`None`: the best silhouette for k = 2..8).
    pub k: Option<usize>,
    /// DBSCAN: the neighbourhood radius in standardised units (`None`: the k-distance elbow).
    pub eps: Option<f64>,
    /// DBSCAN: customers (itself included) within eps that make a core customer.
    pub min_points: usize,
    /// Months of CLV in the profiles.
    pub months: u32,
    /// Monthly discount rate of the CLV (0.01 = 1% a month).
    pub discount: f64,
    pub seed: u64,
    /// How MBG/NBD and Gamma-Gamma are fitted.
    pub fit: FitOptions,
}

impl Default for SegmentOptions {
    /// RFM at the log's last day; 12 months of CLV at 1% a month; DBSCAN with 6 points.
    fn default() -> Self {
        SegmentOptions {
            method: SegmentMethod::Rfm,
            at: None,
            k: None,
            eps: None,
            min_points: 6,
            months: 12,
            discount: 0.01,
            seed: 0,
            fit: FitOptions::default(),
        }
    }
}

/// Every customer with a purchase by the day: RFM, value and segment, in the history's order.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentedCustomers {
    pub ids: Vec<String>,
    /// Days since the last purchase.
    pub recency_days: Vec<f64>,
    pub purchase_days: Vec<f64>,
    /// Total spend.
    pub spend: Vec<f64>,
    /// MBG/NBD's P(alive).
    pub p_alive: Vec<f64>,
    /// CLV over [`SegmentOptions::months`] (NaN when the log has no amounts).
    pub clv: Vec<f64>,
    pub segment: Vec<String>,
    /// RFM scores: recency, frequency, monetary (the rfm method only).
    pub scores: Option<[Vec<u8>; 3]>,
}

/// A segment's profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub segment: String,
    pub customers: usize,
    /// Share of the customers.
    pub share: f64,
    pub revenue_share: f64,
    pub mean_spend: f64,
    pub mean_clv: f64,
    /// 1 − mean P(alive).
    pub mean_churn_risk: f64,
    /// Mean days since the last purchase.
    pub mean_recency_days: f64,
    pub mean_purchase_days: f64,
}

/// The segments of the customers at a day, with the fits their values rest on.
#[derive(Debug, Clone)]
pub struct Segments {
    pub method: SegmentMethod,
    pub at: i32,
    pub customers: SegmentedCustomers,
    /// How the segments were made (method, k, …), in words.
    pub note: String,
    /// One per segment with customers: RFM segments in the map's order, clusters from the
    /// highest value down (DBSCAN's noise last).
    pub profiles: Vec<Profile>,
    /// What assigns other customers (RFM and k-means; DBSCAN has no centres).
    pub segmentation: Option<Segmentation>,
    /// MBG/NBD, fitted on the purchases up to the day in weeks.
    pub purchase_fit: FitSummary,
    /// Gamma-Gamma on the repeat customers' spend (`None`: the log has no amounts).
    pub spend_fit: Option<FitSummary>,
    /// Customers left out of the purchase fit (first purchase on the day, T = 0).
    pub left_out: usize,
    /// For the user: the customers left out of the fit.
    pub notes: Vec<String>,
    /// One line per weakly identified fit: what it means for the churn risk and CLV of the
    /// profiles. Empty when the data determine both fits.
    pub cautions: Vec<String>,
}

impl Segments {
    /// Whether the profiles' churn risk and CLV rest on a weakly identified fit.
    ///
    /// ```no_run
    /// use retain_pipeline::segment::{segment_log, SegmentOptions};
    /// use retain_pipeline::source::Log;
    ///
    /// let log = Log { files: vec!["transactions.csv".into()], ..Log::default() };
    /// let segments = segment_log(&log, &SegmentOptions::default())?;
    /// if segments.weakly_identified() {
    ///     // The cautions first, then the fits' own warnings.
    ///     for warning in segments.warnings() {
    ///         eprintln!("warning: {warning}");
    ///     }
    /// }
    /// # Ok::<(), retain_pipeline::PipelineError>(())
    /// ```
    pub fn weakly_identified(&self) -> bool {
        !self.cautions.is_empty()
    }

    /// The cautions, then each weak fit's own warnings ("MBG/NBD: a = 0.0019 has a standard
    /// error …"): what a program reading the profiles should know.
    pub fn warnings(&self) -> Vec<String> {
        let fits = std::iter::once(&self.purchase_fit).chain(&self.spend_fit);
        self.cautions
            .iter()
            .cloned()
            .chain(fits.flat_map(|f| f.warnings.iter().map(|w| format!("{}: {w}", f.title))))
            .collect()
    }

    /// The segmentation as saved (`retain-segments/1`), with the fingerprint of `sources` (the
    /// log's files) and the profiles; the cautions of a weak fit are in its note and in every
    /// profile (the registry shows the profiles). An error for DBSCAN, which has no centres to
    /// assign other customers by.
    ///
    /// ```no_run
    /// use retain_pipeline::segment::{segment_log, SegmentMethod, SegmentOptions};
    /// use retain_pipeline::source::Log;
    ///
    /// let log = Log { files: vec!["transactions.csv".into()], ..Log::default() };
    /// let options = SegmentOptions { method: SegmentMethod::Kmeans, k: Some(3), ..Default::default() };
    /// let artifact = segment_log(&log, &options)?.artifact(&log.files)?;
    /// std::fs::write("segments.json", serde_json::to_vec(&artifact).unwrap()).unwrap();
    /// # Ok::<(), retain_pipeline::PipelineError>(())
    /// ```
    pub fn artifact<P: AsRef<Path>>(&self, sources: &[P]) -> Result<SegmentsArtifact> {
        let segmentation = self.segmentation.clone().ok_or(PipelineError::Unfit {
            options: &["method"],
            why: "DBSCAN has no centres to assign other customers by: a saved segmentation \
                  needs the rfm or kmeans method"
                .into(),
        })?;
        let data_fingerprint =
            retain_store::fingerprint_files(sources).map_err(|source| PipelineError::Io {
                context: "reading the log again for its fingerprint".into(),
                source,
            })?;
        let mut note = self.note.clone();
        for caution in &self.cautions {
            note.push_str(&format!("; caution: {caution}"));
        }
        let mut profiles = serde_json::to_value(&self.profiles).expect("profiles serialize");
        if self.weakly_identified() {
            for profile in profiles.as_array_mut().expect("a list") {
                profile["warnings"] = serde_json::json!(self.cautions);
            }
        }
        Ok(SegmentsArtifact {
            format: SEGMENTS_FORMAT.into(),
            at: format_day(self.at),
            data_fingerprint,
            note,
            features: SEGMENT_FEATURES.map(String::from).to_vec(),
            segmentation,
            profiles,
        })
    }
}

impl SegmentedCustomers {
    /// One row per customer: customer_id, segment, recency_days, purchase_days, spend,
    /// p_alive, clv, and for RFM r_score, f_score, m_score.
    ///
    /// ```
    /// use retain_pipeline::segment::SegmentedCustomers;
    ///
    /// let customers = SegmentedCustomers {
    ///     ids: vec!["a".into()],
    ///     recency_days: vec![3.0],
    ///     purchase_days: vec![2.0],
    ///     spend: vec![40.0],
    ///     p_alive: vec![0.9],
    ///     clv: vec![35.5],
    ///     segment: vec!["champions".into()],
    ///     scores: Some([vec![5], vec![5], vec![4]]),
    /// };
    /// let table = customers.table()?;
    /// assert_eq!(table.num_columns(), 10);
    /// # Ok::<(), retain_pipeline::PipelineError>(())
    /// ```
    pub fn table(&self) -> Result<RecordBatch> {
        let number = |name: &str, v: &[f64]| -> (Field, ArrayRef) {
            (
                Field::new(name, DataType::Float64, false),
                Arc::new(Float64Array::from(v.to_vec())),
            )
        };
        let mut columns: Vec<(Field, ArrayRef)> = vec![
            (
                Field::new("customer_id", DataType::Utf8, false),
                Arc::new(StringArray::from_iter_values(&self.ids)),
            ),
            (
                Field::new("segment", DataType::Utf8, false),
                Arc::new(StringArray::from_iter_values(&self.segment)),
            ),
            number("recency_days", &self.recency_days),
            number("purchase_days", &self.purchase_days),
            number("spend", &self.spend),
            number("p_alive", &self.p_alive),
            number("clv", &self.clv),
        ];
        if let Some(scores) = &self.scores {
            for (name, v) in ["r_score", "f_score", "m_score"].iter().zip(scores) {
                columns.push((
                    Field::new(*name, DataType::UInt8, false),
                    Arc::new(UInt8Array::from(v.clone())),
                ));
            }
        }
        let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns.into_iter().unzip();
        Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(DataError::from)?)
    }
}

/// The segments of the customers of `history` who had bought by [`SegmentOptions::at`] (`None`:
/// the last purchase).
///
/// ```
/// use retain_data::PurchaseHistory;
/// use retain_pipeline::segment::{segment, SegmentOptions};
///
/// // Twelve customers over a year: every third buys monthly, the others once.
/// let history = PurchaseHistory::from_customers(
///     (0..12)
///         .map(|i| {
///             let first = 10 * i;
///             let days: Vec<(i32, f64)> = if i % 3 == 0 {
///                 (0..10).map(|m| (first + 30 * m, 20.0 + f64::from(i))).collect()
///             } else {
///                 vec![(first, 15.0 + f64::from(i))]
///             };
///             (format!("c{i}"), days)
///         })
///         .collect(),
/// );
/// let segments = segment(&history, &SegmentOptions::default())?;
/// let customers: usize = segments.profiles.iter().map(|p| p.customers).sum();
/// assert_eq!(customers, 12);
/// assert_eq!(segments.customers.segment.len(), 12);
/// # Ok::<(), retain_pipeline::PipelineError>(())
/// ```
pub fn segment(history: &PurchaseHistory, options: &SegmentOptions) -> Result<Segments> {
    let Some((_, last)) = history.span() else {
        return Err(invalid!("the log has no usable transactions"));
    };
    let at = options.at.unwrap_or(last);
    let behaviour = behaviour_features(history, at, TREND_DAYS);
    let customers = &behaviour.customers;
    if customers.len() < 3 {
        return Err(invalid!(
            "fewer than 3 customers had bought by {}",
            format_day(at)
        ));
    }
    let mut columns = behaviour.columns;
    let [recency_days, _, purchase_days, spend] =
        [0, 1, 2, 3].map(|j| std::mem::take(&mut columns[j]));
    let value = value_scores(history, customers, at, options)?;
    let ids: Vec<String> = customers
        .iter()
        .map(|&k| history.id(k).to_string())
        .collect();
    let grouped = group(&recency_days, &purchase_days, &spend, options)?;
    let customers = SegmentedCustomers {
        ids,
        recency_days,
        purchase_days,
        spend,
        p_alive: value.p_alive,
        clv: value.clv,
        segment: grouped.segment,
        scores: grouped.scores,
    };
    let profiles = profiles(&customers, &grouped.order);
    let cautions = cautions(&value.purchase_fit, value.spend_fit.as_ref());
    Ok(Segments {
        method: options.method,
        at,
        customers,
        note: grouped.note,
        profiles,
        segmentation: grouped.segmentation,
        purchase_fit: value.purchase_fit,
        spend_fit: value.spend_fit,
        left_out: value.left_out,
        notes: value.notes,
        cautions,
    })
}

/// [`segment`] of a transaction log.
///
/// ```no_run
/// use retain_pipeline::segment::{segment_log, SegmentOptions};
/// use retain_pipeline::source::Log;
///
/// let log = Log { files: vec!["transactions.csv".into()], ..Log::default() };
/// let segments = segment_log(&log, &SegmentOptions::default())?;
/// let artifact = segments.artifact(&log.files)?; // what `retain registry register` takes
/// # Ok::<(), retain_pipeline::PipelineError>(())
/// ```
pub fn segment_log(log: &Log, options: &SegmentOptions) -> Result<Segments> {
    let (history, _) = log.history()?;
    segment(&history, options)
}

/// Each customer's segment, in the segments' order.
pub(crate) struct Grouped {
    pub(crate) segment: Vec<String>,
    pub(crate) scores: Option<[Vec<u8>; 3]>,
    /// Segment names from the highest value down (clusters) or in the map's order (RFM).
    pub(crate) order: Vec<String>,
    pub(crate) note: String,
    segmentation: Option<Segmentation>,
}

pub(crate) fn group(
    recency_days: &[f64],
    purchase_days: &[f64],
    spend: &[f64],
    options: &SegmentOptions,
) -> Result<Grouped> {
    if options.method == SegmentMethod::Rfm {
        let s = rfm_scores(recency_days, purchase_days, spend);
        let segmentation = Segmentation::rfm(recency_days, purchase_days, spend, &s);
        return Ok(Grouped {
            segment: s.segment.iter().map(|n| (*n).to_string()).collect(),
            scores: Some([s.recency, s.frequency, s.monetary]),
            order: RFM_SEGMENTS.map(String::from).to_vec(),
            note: "RFM quintile scores (ties share a score), segments by recency and frequency"
                .into(),
            segmentation: Some(segmentation),
        });
    }
    let (x, scale) = log_standardize(&[recency_days, purchase_days, spend]);
    let kmeans_method = options.method == SegmentMethod::Kmeans;
    let clusters = if kmeans_method {
        kmeans(&x, options.k, spend, options.seed)?
    } else {
        dbscan(&x, options.eps, options.min_points, spend, options.seed)?
    };
    let segment = clusters
        .labels
        .iter()
        .map(|l| l.map_or_else(|| "noise".to_string(), |c| clusters.names[c].clone()))
        .collect();
    let mut order = clusters.names.clone();
    order.reverse();
    let note = if kmeans_method && clusters.silhouettes.is_empty() {
        format!(
            "k-means on standardised log-RFM, k = {} as given",
            order.len()
        )
    } else if kmeans_method {
        format!(
            "k-means on standardised log-RFM, k = {} by silhouette ({})",
            order.len(),
            clusters
                .silhouettes
                .iter()
                .map(|(k, s)| format!("{k}: {s:.3}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        order.push("noise".into());
        format!(
            "DBSCAN on standardised log-RFM, eps {:.3}{}, min points {}",
            clusters.eps.unwrap_or(f64::NAN),
            if options.eps.is_some() {
                ""
            } else {
                " (k-distance elbow)"
            },
            options.min_points
        )
    };
    let segmentation = kmeans_method.then(|| Segmentation::kmeans(&x, scale, &clusters));
    Ok(Grouped {
        segment,
        scores: None,
        order,
        note,
        segmentation,
    })
}

/// Each customer's P(alive) and CLV, and the fits they rest on.
struct Value {
    p_alive: Vec<f64>,
    clv: Vec<f64>,
    purchase_fit: FitSummary,
    spend_fit: Option<FitSummary>,
    left_out: usize,
    notes: Vec<String>,
}

/// P(alive) and CLV of each customer from MBG/NBD (whose P(alive) is below 1 for one-time
/// buyers, unlike BG/NBD's) and Gamma-Gamma, fitted in weeks on the purchases up to `at`.
fn value_scores(
    history: &PurchaseHistory,
    customers: &[usize],
    at: i32,
    options: &SegmentOptions,
) -> Result<Value> {
    let columns = SummaryColumns::of_history(history, customers, at, UNIT.days());
    let data = PurchaseData::from_columns(&columns)?;
    let purchases = fit_purchase_model(PurchaseModelKind::MbgNbd, &data, &options.fit)
        .map_err(|e| invalid!("fitting MBG/NBD for P(alive) and CLV: {e}"))?;
    let spend = match columns.monetary {
        Some(_) => Some(
            fit_spend_model(&columns, &options.fit)
                .map_err(|e| invalid!("fitting Gamma-Gamma for CLV: {e}"))?,
        ),
        None => None,
    };
    let per_month = units_per_month(UNIT);
    let clv_options = ClvOptions {
        months: options.months,
        monthly_discount: options.discount,
        units_per_month: per_month,
    };
    let saved = purchases.saved();
    let scores = score_customers(
        saved.model(),
        (&columns.frequency, &columns.recency, &columns.t),
        1.0,
        spend
            .as_ref()
            .zip(columns.monetary.as_deref())
            .map(|(g, monetary)| (&g.params, monetary, &clv_options)),
    )?;
    let n = columns.len();
    Ok(Value {
        p_alive: scores.p_alive,
        clv: scores.clv.unwrap_or_else(|| vec![f64::NAN; n]),
        purchase_fit: purchases.summary(),
        spend_fit: spend.map(|g| FitSummary::of("Gamma-Gamma", &g)),
        left_out: data.left_out,
        notes: data.note().into_iter().collect(),
    })
}

/// What a weakly identified fit means for the profiles.
fn cautions(purchase: &FitSummary, spend: Option<&FitSummary>) -> Vec<String> {
    let mut cautions = Vec::new();
    if purchase.weakly_identified() {
        cautions.push(format!(
            "{} is weakly identified on these data ({}; estimate ± standard error): the churn \
             risk and CLV built on it are uncertain, and a low churn risk does not show that \
             customers still buy: read it with the days since the last purchase",
            purchase.title,
            purchase.weak_estimates()
        ));
    }
    if let Some(spend) = spend.filter(|s| s.weakly_identified()) {
        cautions.push(format!(
            "{} is weakly identified on these data ({}; estimate ± standard error): the CLV \
             built on it is uncertain",
            spend.title,
            spend.weak_estimates()
        ));
    }
    cautions
}

/// One profile per segment with customers, in `order`.
fn profiles(c: &SegmentedCustomers, order: &[String]) -> Vec<Profile> {
    let n = c.ids.len();
    let revenue: f64 = c.spend.iter().sum();
    order
        .iter()
        .filter_map(|name| {
            let rows: Vec<usize> = (0..n).filter(|&i| &c.segment[i] == name).collect();
            if rows.is_empty() {
                return None;
            }
            let mean = |v: &[f64]| rows.iter().map(|&i| v[i]).sum::<f64>() / rows.len() as f64;
            Some(Profile {
                segment: name.clone(),
                customers: rows.len(),
                share: rows.len() as f64 / n as f64,
                revenue_share: rows.iter().map(|&i| c.spend[i]).sum::<f64>() / revenue,
                mean_spend: mean(&c.spend),
                mean_clv: mean(&c.clv),
                mean_churn_risk: 1.0 - mean(&c.p_alive),
                mean_recency_days: mean(&c.recency_days),
                mean_purchase_days: mean(&c.purchase_days),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use retain_data::dates::days_from_civil;
    use retain_data::{AmountSpec, ReadOptions, TransactionColumns};

    fn data(path: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../data")
            .join(path)
    }

    /// The CDNOW 1/10 sample: customer in column 2, date in 3, dollars in 5.
    fn cdnow() -> Log {
        Log {
            files: vec![data("cdnow/CDNOW_sample.txt")],
            read: ReadOptions {
                columns: TransactionColumns {
                    customer: "2".into(),
                    date: "3".into(),
                    amount: AmountSpec::Column("5".into()),
                },
                ..ReadOptions::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn cdnow_rfm_segments_rest_on_a_well_identified_fit() {
        let segments = segment_log(&cdnow(), &SegmentOptions::default()).unwrap();
        assert_eq!(segments.at, days_from_civil(1998, 6, 30));
        assert_eq!(segments.customers.ids.len(), 2357);
        let names: Vec<&str> = segments
            .profiles
            .iter()
            .map(|p| p.segment.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "champions",
                "loyal customers",
                "about to sleep",
                "can't lose them",
                "at risk",
                "hibernating"
            ]
        );
        let champions = &segments.profiles[0];
        assert_eq!(champions.customers, 471);
        assert!(
            (champions.revenue_share - 0.506).abs() < 5e-4,
            "{champions:?}"
        );
        assert!((champions.mean_clv - 109.04).abs() < 5e-3, "{champions:?}");
        assert!(
            (champions.mean_churn_risk - 0.193).abs() < 5e-4,
            "{champions:?}"
        );
        let hibernating = &segments.profiles[5];
        assert!((hibernating.mean_churn_risk - 0.687).abs() < 5e-4);
        assert!((hibernating.mean_recency_days - 514.0).abs() < 0.5);
        // Everyone first bought in Q1 1997: nobody is left out, and MBG/NBD is determined.
        assert_eq!(segments.left_out, 0);
        assert!(segments.notes.is_empty());
        assert_eq!(segments.purchase_fit.title, "MBG/NBD");
        assert!(!segments.weakly_identified(), "{:?}", segments.cautions);
        assert!(segments.warnings().is_empty());

        let table = segments.customers.table().unwrap();
        assert_eq!(table.num_rows(), 2357);
        assert_eq!(table.num_columns(), 10);
        let artifact = segments.artifact(&cdnow().files).unwrap();
        assert_eq!(artifact.at, "1998-06-30");
        assert_eq!(artifact.segmentation.method(), "rfm");
        assert_eq!(artifact.profiles.as_array().unwrap().len(), 6);
        assert!(artifact.profiles[0].get("warnings").is_none());
        assert!(!artifact.note.contains("caution"));
    }

    #[test]
    fn kmeans_and_dbscan_on_cdnow() {
        let options = SegmentOptions {
            method: SegmentMethod::Kmeans,
            k: Some(3),
            ..SegmentOptions::default()
        };
        let clusters = segment_log(&cdnow(), &options).unwrap();
        let names: Vec<&str> = clusters
            .profiles
            .iter()
            .map(|p| p.segment.as_str())
            .collect();
        assert_eq!(names, ["high value", "mid value", "low value"]);
        assert_eq!(
            clusters.note,
            "k-means on standardised log-RFM, k = 3 as given"
        );
        assert!(clusters.customers.scores.is_none());
        let artifact = clusters.artifact(&cdnow().files).unwrap();
        assert_eq!(artifact.segmentation.method(), "kmeans");

        let options = SegmentOptions {
            method: SegmentMethod::Dbscan,
            ..SegmentOptions::default()
        };
        let dense = segment_log(&cdnow(), &options).unwrap();
        assert!(dense.note.contains("(k-distance elbow), min points 6"));
        let total: usize = dense.profiles.iter().map(|p| p.customers).sum();
        assert_eq!(total, 2357);
        let error = dense.artifact(&cdnow().files).unwrap_err();
        assert_eq!(error.unfit_options(), ["method"]);
    }

    #[test]
    fn online_retail_churn_risk_comes_with_its_caution() {
        let log = Log {
            files: vec![data("online_retail/online_retail.csv.gz")],
            read: ReadOptions {
                columns: TransactionColumns {
                    customer: "CustomerID".into(),
                    date: "InvoiceDate".into(),
                    amount: AmountSpec::Product {
                        quantity: "Quantity".into(),
                        price: "UnitPrice".into(),
                    },
                },
                ..ReadOptions::default()
            },
            ..Default::default()
        };
        let segments = segment_log(&log, &SegmentOptions::default()).unwrap();
        assert_eq!(segments.customers.ids.len(), 4339);
        // One customer first bought on 2011-12-09: left out of the fit, still valued.
        assert_eq!(segments.left_out, 1);
        assert_eq!(segments.notes.len(), 1);
        assert_eq!(segments.customers.clv.len(), 4339);
        let fit = &segments.purchase_fit;
        assert_eq!(fit.n_customers, 4338.0);
        let a = fit.params.iter().find(|(n, _)| *n == "a").unwrap().1;
        assert!((a - 0.0019).abs() < 1e-4, "{fit:?}");
        assert!(fit.weakly_identified());
        // The "lost" have been silent for 278 days, yet MBG/NBD puts their churn risk near 0.
        let lost = segments
            .profiles
            .iter()
            .find(|p| p.segment == "lost")
            .unwrap();
        assert_eq!(lost.customers, 647);
        assert!((lost.mean_recency_days - 278.0).abs() < 1.0, "{lost:?}");
        assert!(lost.mean_churn_risk < 0.002, "{lost:?}");
        assert_eq!(segments.cautions.len(), 1);
        let caution = &segments.cautions[0];
        assert!(
            caution.starts_with("MBG/NBD is weakly identified on these data (a = 0.0019 ± 0.0124"),
            "{caution}"
        );
        assert!(caution.contains("the churn risk and CLV built on it are uncertain"));
        let warnings = segments.warnings();
        assert!(warnings.len() >= 2 && warnings[1].starts_with("MBG/NBD: a = 0.0019"));
        let artifact = segments.artifact(&log.files).unwrap();
        assert!(artifact
            .note
            .contains("; caution: MBG/NBD is weakly identified"));
        assert_eq!(
            artifact.profiles[0]["warnings"][0].as_str(),
            Some(caution.as_str())
        );
    }

    #[test]
    fn too_few_customers_is_an_error() {
        let history =
            PurchaseHistory::from_customers(vec![("a".into(), vec![(0, 1.0), (10, 2.0)])]);
        let error = segment(&history, &SegmentOptions::default()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "fewer than 3 customers had bought by 1970-01-11"
        );
    }
}
