//! `retain segment`: customers of a transaction log grouped the way marketing acts on them, at a
//! date: RFM scores and named segments, or k-means / DBSCAN clusters of log-RFM ordered by value;
//! with a profile of each segment (size, revenue share, mean 12-month CLV and churn risk from
//! MBG/NBD and Gamma-Gamma fitted on the same purchases).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};
use retain_data::datafusion::arrow::array::{
    ArrayRef, Float64Array, RecordBatch, StringArray, UInt8Array,
};
use retain_data::datafusion::arrow::datatypes::{DataType, Field, Schema};
use retain_data::features::{behaviour_features, repeat_summary};
use retain_data::PurchaseHistory;
use retain_models::btyd::gamma_gamma::SpendData;
use retain_models::btyd::{score_customers, ClvOptions, FitOptions, GammaGamma, MbgNbd};
use retain_models::segment::{
    dbscan, kmeans, log_standardize, rfm_scores, Segmentation, RFM_SEGMENTS,
};
use serde::Serialize;

use crate::args::{parse_day, Format, TransactionArgs};
use crate::fmt::{money, table, thousands, write_result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// Recency, frequency and monetary quintile scores and the named segments of the R × F map.
    Rfm,
    /// k-means on standardised log-RFM; k by silhouette unless given.
    Kmeans,
    /// DBSCAN on standardised log-RFM; eps from the k-distance elbow unless given.
    Dbscan,
}

/// Arguments of `retain segment`.
#[derive(Debug, Args)]
pub struct SegmentArgs {
    #[command(flatten)]
    pub log: TransactionArgs,
    #[arg(long, value_enum, default_value_t = Method::Rfm)]
    pub method: Method,
    /// Segment customers as of this day (default: the log's last day).
    #[arg(long, value_parser = parse_day, value_name = "YYYY-MM-DD")]
    pub at: Option<i32>,
    /// k-means: number of clusters (default: best silhouette for k = 2..8).
    #[arg(short, long)]
    pub k: Option<usize>,
    /// DBSCAN: neighbourhood radius in standardised units (default: the k-distance elbow).
    #[arg(long)]
    pub eps: Option<f64>,
    /// DBSCAN: customers (itself included) within eps that make a core customer.
    #[arg(long, default_value_t = 6)]
    pub min_points: usize,
    /// Months of CLV in the profile.
    #[arg(long, default_value_t = 12)]
    pub months: u32,
    /// Monthly discount rate of the CLV.
    #[arg(long, default_value_t = 0.01)]
    pub discount: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Per-customer segments, scores, CLV and P(alive) (CSV, Parquet or JSON lines).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Save the segmentation (RFM cut points or k-means centres, with the profiles) to assign
    /// other customers and to register (`retain registry register NAME FILE`).
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Customers at a day with their RFM, value and segment.
pub struct Segmented {
    pub ids: Vec<String>,
    pub recency_days: Vec<f64>,
    pub purchase_days: Vec<f64>,
    pub spend: Vec<f64>,
    pub p_alive: Vec<f64>,
    pub clv: Vec<f64>,
    pub segment: Vec<String>,
    /// RFM scores (rfm method only).
    pub scores: Option<[Vec<u8>; 3]>,
    /// Segment names from lowest to highest value (clusters) or by first appearance (RFM).
    pub order: Vec<String>,
    pub note: String,
    /// What assigns other customers (RFM and k-means; DBSCAN has no centres).
    pub segmentation: Option<Segmentation>,
}

/// A segment's profile.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub segment: String,
    pub customers: usize,
    pub share: f64,
    pub revenue_share: f64,
    pub mean_spend: f64,
    pub mean_clv: f64,
    pub mean_churn_risk: f64,
    pub mean_recency_days: f64,
    pub mean_purchase_days: f64,
}

pub fn run(args: SegmentArgs) -> anyhow::Result<()> {
    let (history, (_, last)) = args.log.purchase_history()?;
    let at = args.at.unwrap_or(last);
    let segmented = segment(&history, at, &args)?;
    let profiles = profile(&segmented);
    if let Some(path) = &args.save {
        save(path, &segmented, &profiles, at, &args)?;
    }
    match args.format {
        Format::Json => outln!(
            "{}",
            serde_json::json!({
                "method": format!("{:?}", args.method).to_lowercase(),
                "at": retain_data::dates::format_day(at),
                "customers": segmented.ids.len(),
                "note": segmented.note,
                "segments": profiles,
            })
        )?,
        Format::Table => {
            outln!(
                "{} customers at {}; {}\n",
                thousands(segmented.ids.len() as u64),
                retain_data::dates::format_day(at),
                segmented.note
            )?;
            out!("{}", profile_table(&profiles, args.months))?;
        }
    }
    if let Some(path) = &args.output {
        write_result(&customers_batch(&segmented)?, Some(path))?;
    }
    Ok(())
}

/// Segments the customers acquired by `at`.
pub fn segment(
    history: &PurchaseHistory,
    at: i32,
    args: &SegmentArgs,
) -> anyhow::Result<Segmented> {
    let behaviour = behaviour_features(history, at, 90);
    let customers = &behaviour.customers;
    if customers.len() < 3 {
        anyhow::bail!(
            "fewer than 3 customers had bought by {}",
            retain_data::dates::format_day(at)
        );
    }
    let mut columns = behaviour.columns;
    let [recency_days, _, purchase_days, spend] =
        [0, 1, 2, 3].map(|j| std::mem::take(&mut columns[j]));
    let (p_alive, clv) = value_scores(history, customers, at, args)?;
    let ids: Vec<String> = customers
        .iter()
        .map(|&k| history.id(k).to_string())
        .collect();
    let (segment, scores, order, note, segmentation) = match args.method {
        Method::Rfm => {
            let s = rfm_scores(&recency_days, &purchase_days, &spend);
            let segmentation = Segmentation::rfm(&recency_days, &purchase_days, &spend, &s);
            let order = RFM_SEGMENTS.map(String::from).to_vec();
            let segment = s.segment.iter().map(|n| (*n).to_string()).collect();
            (
                segment,
                Some([s.recency, s.frequency, s.monetary]),
                order,
                "RFM quintile scores (ties share a score), segments by recency and frequency"
                    .to_string(),
                Some(segmentation),
            )
        }
        Method::Kmeans | Method::Dbscan => {
            let (x, scale) = log_standardize(&[&recency_days, &purchase_days, &spend]);
            let clusters = if args.method == Method::Kmeans {
                kmeans(&x, args.k, &spend, args.seed)?
            } else {
                dbscan(&x, args.eps, args.min_points, &spend, args.seed)?
            };
            let segment = clusters
                .labels
                .iter()
                .map(|l| l.map_or_else(|| "noise".to_string(), |c| clusters.names[c].clone()))
                .collect();
            let mut order = clusters.names.clone();
            order.reverse();
            let note = match (args.method, clusters.eps) {
                (Method::Kmeans, _) if clusters.silhouettes.is_empty() => {
                    format!(
                        "k-means on standardised log-RFM, k = {} as given",
                        order.len()
                    )
                }
                (Method::Kmeans, _) => format!(
                    "k-means on standardised log-RFM, k = {} by silhouette ({})",
                    order.len(),
                    clusters
                        .silhouettes
                        .iter()
                        .map(|(k, s)| format!("{k}: {s:.3}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                (_, eps) => {
                    order.push("noise".into());
                    format!(
                        "DBSCAN on standardised log-RFM, eps {:.3}{}, min points {}",
                        eps.unwrap_or(f64::NAN),
                        if args.eps.is_some() {
                            ""
                        } else {
                            " (k-distance elbow)"
                        },
                        args.min_points
                    )
                }
            };
            let segmentation =
                (args.method == Method::Kmeans).then(|| Segmentation::kmeans(&x, scale, &clusters));
            (segment, None, order, note, segmentation)
        }
    };
    Ok(Segmented {
        ids,
        recency_days,
        purchase_days,
        spend,
        p_alive,
        clv,
        segment,
        scores,
        order,
        note,
        segmentation,
    })
}

/// P(alive) and CLV of each customer from MBG/NBD (whose P(alive) is below 1 for one-time
/// buyers, unlike BG/NBD's) and Gamma-Gamma, fitted in weeks on the purchases up to `at`.
fn value_scores(
    history: &PurchaseHistory,
    customers: &[usize],
    at: i32,
    args: &SegmentArgs,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let s = repeat_summary(history, customers, at, 7.0);
    let options = FitOptions::default();
    let purchases = MbgNbd::fit(
        &retain_scoring::recipe::fit_data(&s.x, &s.t_x, &s.t)?,
        &options,
    )
    .context("fitting MBG/NBD for P(alive) and CLV")?
    .params;
    let spend = if history.has_amounts {
        Some(
            GammaGamma::fit(
                &SpendData::from_repeat_customers(&s.x, &s.monetary, None)?,
                &options,
            )
            .context("fitting Gamma-Gamma for CLV")?
            .params,
        )
    } else {
        None
    };
    let clv_options = ClvOptions {
        months: args.months,
        monthly_discount: args.discount,
        units_per_month: retain_models::btyd::WEEKS_PER_MONTH,
    };
    let scores = score_customers(
        &purchases,
        (&s.x, &s.t_x, &s.t),
        1.0,
        spend
            .as_ref()
            .map(|g| (g, s.monetary.as_slice(), &clv_options)),
    )?;
    let clv = scores.clv.unwrap_or_else(|| vec![f64::NAN; s.x.len()]);
    Ok((scores.p_alive, clv))
}

/// One profile per segment, in the segments' order.
pub fn profile(s: &Segmented) -> Vec<Profile> {
    let n = s.ids.len();
    let revenue: f64 = s.spend.iter().sum();
    s.order
        .iter()
        .filter_map(|name| {
            let rows: Vec<usize> = (0..n).filter(|&i| &s.segment[i] == name).collect();
            if rows.is_empty() {
                return None;
            }
            let mean = |v: &[f64]| rows.iter().map(|&i| v[i]).sum::<f64>() / rows.len() as f64;
            Some(Profile {
                segment: name.clone(),
                customers: rows.len(),
                share: rows.len() as f64 / n as f64,
                revenue_share: rows.iter().map(|&i| s.spend[i]).sum::<f64>() / revenue,
                mean_spend: mean(&s.spend),
                mean_clv: mean(&s.clv),
                mean_churn_risk: 1.0 - mean(&s.p_alive),
                mean_recency_days: mean(&s.recency_days),
                mean_purchase_days: mean(&s.purchase_days),
            })
        })
        .collect()
}

pub fn profile_table(profiles: &[Profile], months: u32) -> String {
    let clv = format!("mean CLV {months}m");
    table(
        &[
            "segment",
            "customers",
            "share",
            "revenue",
            "mean spend",
            &clv,
            "churn risk",
            "days since last",
            "purchase days",
        ],
        &profiles
            .iter()
            .map(|p| {
                vec![
                    p.segment.clone(),
                    thousands(p.customers as u64),
                    format!("{:.1}%", 100.0 * p.share),
                    format!("{:.1}%", 100.0 * p.revenue_share),
                    money(p.mean_spend),
                    money(p.mean_clv),
                    format!("{:.1}%", 100.0 * p.mean_churn_risk),
                    format!("{:.0}", p.mean_recency_days),
                    format!("{:.1}", p.mean_purchase_days),
                ]
            })
            .collect::<Vec<_>>(),
    )
}

fn customers_batch(s: &Segmented) -> anyhow::Result<RecordBatch> {
    let number = |name: &str, v: &[f64]| -> (Field, ArrayRef) {
        (
            Field::new(name, DataType::Float64, false),
            Arc::new(Float64Array::from(v.to_vec())),
        )
    };
    let mut columns: Vec<(Field, ArrayRef)> = vec![
        (
            Field::new("customer_id", DataType::Utf8, false),
            Arc::new(StringArray::from_iter_values(&s.ids)),
        ),
        (
            Field::new("segment", DataType::Utf8, false),
            Arc::new(StringArray::from_iter_values(&s.segment)),
        ),
        number("recency_days", &s.recency_days),
        number("purchase_days", &s.purchase_days),
        number("spend", &s.spend),
        number("p_alive", &s.p_alive),
        number("clv", &s.clv),
    ];
    if let Some(scores) = &s.scores {
        for (name, v) in ["r_score", "f_score", "m_score"].iter().zip(scores) {
            columns.push((
                Field::new(*name, DataType::UInt8, false),
                Arc::new(UInt8Array::from(v.clone())),
            ));
        }
    }
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns.into_iter().unzip();
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

/// Writes the segmentation as a registrable file (`retain-segments/1`).
pub fn save(
    path: &std::path::Path,
    segmented: &Segmented,
    profiles: &[Profile],
    at: i32,
    args: &SegmentArgs,
) -> anyhow::Result<()> {
    let segmentation = segmented.segmentation.clone().context(
        "DBSCAN has no centres to assign other customers by: --save works with --method rfm or kmeans",
    )?;
    let artifact = retain_scoring::SegmentsArtifact {
        format: retain_scoring::SEGMENTS_FORMAT.into(),
        at: retain_data::dates::format_day(at),
        data_fingerprint: retain_store::fingerprint_files(&args.log.files)
            .context("reading the log again for its fingerprint")?,
        note: segmented.note.clone(),
        features: retain_scoring::SEGMENT_FEATURES.map(String::from).to_vec(),
        segmentation,
        profiles: serde_json::to_value(profiles)?,
    };
    retain_data::output::write_file(path, &serde_json::to_vec(&artifact)?)?;
    eprintln!("saved the segmentation to {}", path.display());
    Ok(())
}
