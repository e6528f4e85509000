//! `retain drivers`: what separates customers who churned from those who stayed. For each
//! attribute of a customer table, the churn rate of each value (numbers binned at quantiles)
//! with its confidence interval, and the attributes ranked by information value. The ranking
//! is `retain_pipeline::drivers`'s; here are the flags and the tables.

use std::path::PathBuf;

use clap::Args;
use retain_data::CustomerTableOptions;
use retain_models::drivers::Driver;
use retain_pipeline::attributes::AttributeSelection;
use retain_pipeline::drivers::{drivers_of_file, DriverOptions};

use crate::args::{CustomerSourceArgs, DelimiterArg, Format};
use crate::failure::with_flags;
use crate::fmt::{table, thousands};

/// Arguments of `retain drivers`.
#[derive(Debug, Args)]
pub struct DriverArgs {
    /// Customer table: one row per customer with attributes and a churn flag.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub customers: PathBuf,
    #[command(flatten)]
    pub customer_source: CustomerSourceArgs,
    /// Churn flag column: 1/0, true/false or yes/no.
    #[arg(long, value_name = "COL", default_value = "churned")]
    pub churn_col: String,
    /// Customer id column, left out of the attributes (unique per row).
    #[arg(long, value_name = "COL")]
    pub id_col: Option<String>,
    /// Other columns to leave out, comma-separated.
    #[arg(long, value_name = "COLS", value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Quantile bins per numeric attribute.
    #[arg(long, default_value_t = 5)]
    pub bins: usize,
    /// Text attributes with more distinct values than this are left out (ids, free text).
    #[arg(long, default_value_t = 50)]
    pub max_categories: u64,
    /// Level of the churn rates' confidence intervals.
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
    /// Values read as missing besides a blank field, comma-separated (e.g. NA,NULL).
    #[arg(long, value_name = "VALUES", value_delimiter = ',')]
    pub na: Vec<String>,
    #[arg(long, value_enum, default_value_t = DelimiterArg::Auto)]
    pub delimiter: DelimiterArg,
    /// Output: tables for people or JSON for programs.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn run(args: DriverArgs) -> anyhow::Result<()> {
    let (read, options) = options(&args);
    let ranked = drivers_of_file(&args.customers, &read, &options)
        .map_err(|e| with_flags(e, &[(&args.churn_col, "churn-col")]))?;
    let skipped = crate::fmt::skipped_lines(&ranked.skipped);
    let drivers = &ranked.drivers;
    match args.format {
        Format::Json => outln!(
            "{}",
            serde_json::json!({
                "customers": ranked.customers,
                "churned": ranked.churned,
                "skipped": skipped,
                "drivers": drivers,
            })
        )?,
        Format::Table => {
            let (n, bad) = (ranked.customers, ranked.churned);
            outln!(
                "{} customers, {} churned ({:.1}%)\n",
                thousands(n),
                thousands(bad),
                100.0 * bad as f64 / n as f64
            )?;
            out!("{}", ranking(drivers))?;
            outln!()?;
            out!("{}", bins_table(drivers, usize::MAX, args.confidence))?;
            for s in &skipped {
                eprintln!("left out: {s}");
            }
        }
    }
    Ok(())
}

/// The flags as the library's table reading and options.
fn options(args: &DriverArgs) -> (CustomerTableOptions, DriverOptions) {
    let read = CustomerTableOptions {
        id_col: args.id_col.clone(),
        delimiter: args.delimiter.into(),
        na_values: args.na.clone(),
        bad_rows: None,
        database: args.customer_source.database(&args.customers),
    };
    let options = DriverOptions {
        churn_col: args.churn_col.clone(),
        attributes: AttributeSelection {
            exclude: args.exclude.clone(),
            max_categories: args.max_categories,
        },
        bins: args.bins,
        confidence: args.confidence,
    };
    (read, options)
}

fn strength(iv: f64) -> &'static str {
    match iv {
        iv if iv < 0.02 => "useless",
        iv if iv < 0.1 => "weak",
        iv if iv < 0.3 => "medium",
        _ => "strong",
    }
}

/// Attributes by information value.
pub fn ranking(drivers: &[Driver]) -> String {
    let rows: Vec<Vec<String>> = drivers
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let (lowest, highest) = extremes(d);
            vec![
                format!("{}", i + 1),
                d.attribute.clone(),
                format!("{:.3}", d.information_value),
                strength(d.information_value).into(),
                highest,
                lowest,
            ]
        })
        .collect();
    format!(
        "churn drivers by information value (IV < 0.02 useless, < 0.1 weak, < 0.3 medium, else strong):\n{}",
        table(
            &["rank", "attribute", "IV", "strength", "highest churn", "lowest churn"],
            &rows
        )
    )
}

/// The values with the lowest and highest churn rate, as "value: rate".
fn extremes(d: &Driver) -> (String, String) {
    let show =
        |b: &retain_models::drivers::Bin| format!("{}: {:.1}%", b.label, 100.0 * b.churn_rate);
    let by_rate = |a: &&retain_models::drivers::Bin, b: &&retain_models::drivers::Bin| {
        a.churn_rate.total_cmp(&b.churn_rate)
    };
    (
        d.bins.iter().min_by(by_rate).map(show).unwrap_or_default(),
        d.bins.iter().max_by(by_rate).map(show).unwrap_or_default(),
    )
}

/// Churn rate per value of the first `top` attributes.
pub fn bins_table(drivers: &[Driver], top: usize, confidence: f64) -> String {
    let rows: Vec<Vec<String>> = drivers
        .iter()
        .take(top)
        .flat_map(|d| {
            d.bins.iter().enumerate().map(move |(i, b)| {
                vec![
                    if i == 0 {
                        d.attribute.clone()
                    } else {
                        String::new()
                    },
                    b.label.clone(),
                    thousands(b.customers),
                    thousands(b.churned),
                    format!("{:.1}%", 100.0 * b.churn_rate),
                    format!("{:.1}% - {:.1}%", 100.0 * b.lower, 100.0 * b.upper),
                    format!("{:+.3}", b.woe),
                ]
            })
        })
        .collect();
    let interval = format!("{:.0}% interval", 100.0 * confidence);
    format!(
        "churn rate by value (WoE > 0: more retained than churned):\n{}",
        table(
            &[
                "attribute",
                "value",
                "customers",
                "churned",
                "churn rate",
                &interval,
                "WoE"
            ],
            &rows
        )
    )
}
