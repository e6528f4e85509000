//! `retain segment`: customers of a transaction log grouped the way marketing acts on them, at a
//! date (`retain_pipeline::segment`): the flags, the profile table or JSON, the per-customer
//! file and the saved segmentation.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use retain_pipeline::segment::{segment_log, Profile, SegmentMethod, SegmentOptions, Segments};

use crate::args::{parse_day, Format, TransactionArgs};
use crate::failure::with_flags;
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

impl From<Method> for SegmentMethod {
    fn from(m: Method) -> SegmentMethod {
        match m {
            Method::Rfm => SegmentMethod::Rfm,
            Method::Kmeans => SegmentMethod::Kmeans,
            Method::Dbscan => SegmentMethod::Dbscan,
        }
    }
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

impl SegmentArgs {
    /// The library's options for these arguments.
    pub fn options(&self) -> SegmentOptions {
        SegmentOptions {
            method: self.method.into(),
            at: self.at,
            k: self.k,
            eps: self.eps,
            min_points: self.min_points,
            months: self.months,
            discount: self.discount,
            seed: self.seed,
            ..SegmentOptions::default()
        }
    }
}

pub fn run(args: SegmentArgs) -> anyhow::Result<()> {
    if args.save.is_some() && args.method == Method::Dbscan {
        anyhow::bail!(
            "DBSCAN has no centres to assign other customers by: --save works with --method rfm \
             or kmeans"
        );
    }
    let segments =
        segment_log(&args.log.source(), &args.options()).map_err(|e| with_flags(e, &[]))?;
    for note in &segments.notes {
        eprintln!("note: {note}");
    }
    if let Some(path) = &args.save {
        save(path, &segments, &args.log.provenance())?;
    }
    match args.format {
        Format::Json => {
            let mut json = serde_json::json!({
                "method": segments.method.name(),
                "at": retain_data::dates::format_day(segments.at),
                "customers": segments.customers.ids.len(),
                "note": segments.note,
                "segments": segments.profiles,
            });
            if segments.weakly_identified() {
                json["warnings"] = serde_json::json!(segments.warnings());
            }
            outln!("{json}")?
        }
        Format::Table => {
            outln!(
                "{} customers at {}; {}\n",
                thousands(segments.customers.ids.len() as u64),
                retain_data::dates::format_day(segments.at),
                segments.note
            )?;
            out!("{}", profile_report(&segments, args.months))?;
        }
    }
    if let Some(path) = &args.output {
        let table = segments.customers.table().map_err(|e| with_flags(e, &[]))?;
        write_result(&table, Some(path))?;
    }
    Ok(())
}

/// The profile table, and under it a caution for each weakly identified fit the churn risk and
/// CLV rest on (their columns then marked with `*`).
pub fn profile_report(segments: &Segments, months: u32) -> String {
    let mut out = profile_table(&segments.profiles, months, segments.weakly_identified());
    for caution in &segments.cautions {
        out.push_str(&format!("* caution: {caution}\n"));
    }
    out
}

/// One row per segment; `marked`: the CLV and churn risk columns carry a `*` (a caution
/// follows).
pub fn profile_table(profiles: &[Profile], months: u32, marked: bool) -> String {
    let mark = if marked { " *" } else { "" };
    let clv = format!("mean CLV {months}m{mark}");
    let churn = format!("churn risk{mark}");
    table(
        &[
            "segment",
            "customers",
            "share",
            "revenue",
            "mean spend",
            &clv,
            &churn,
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

/// Writes the segmentation as a registrable file (`retain-segments/1`).
pub fn save(
    path: &std::path::Path,
    segments: &Segments,
    sources: &[PathBuf],
) -> anyhow::Result<()> {
    let artifact = segments.artifact(sources).map_err(|e| with_flags(e, &[]))?;
    retain_data::output::write_file(path, &serde_json::to_vec(&artifact)?)?;
    eprintln!("saved the segmentation to {}", path.display());
    Ok(())
}
