//! `retain cohorts`: acquisition cohorts and their retention, period by period, from a purchase
//! log or from contracts with start and end dates; and the retention and churn rate of each
//! calendar period. Definitions in `retain_data::cohorts`; the tables are
//! `retain_pipeline::cohorts`'s, here are the flags and the tables for people.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, ValueEnum};
use retain_data::output::write_table;
use retain_data::{CohortTable, CustomerTableOptions, Period};
use retain_pipeline::cohorts::{cohorts, long_table, CohortOptions, CohortSource, ContractDates};

use crate::args::{parse_day, CustomerSourceArgs, Format, TransactionArgs};
use crate::failure::with_flags;
use crate::fmt::{money, table, thousands};

/// Arguments of `retain cohorts`.
#[derive(Debug, Args)]
pub struct CohortArgs {
    #[command(flatten)]
    pub transactions: TransactionArgs,
    /// Contracts instead of purchases: one row per customer with a start and an end date.
    #[arg(long, short = 'c', value_name = "FILE", conflicts_with = "files")]
    pub customers: Option<PathBuf>,
    #[command(flatten)]
    pub customer_source: CustomerSourceArgs,
    /// Contracts: the start date column.
    #[arg(long, value_name = "COL", default_value = "start_date")]
    pub start_col: String,
    /// Contracts: the end date column (blank while the contract runs).
    #[arg(long, value_name = "COL", default_value = "end_date")]
    pub end_col: String,
    /// Length of a period.
    #[arg(long, value_enum, default_value_t = CohortPeriod::Month)]
    pub period: CohortPeriod,
    /// End of observation (default: the last date in the data).
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub observation_end: Option<i32>,
    /// What the table shows per cohort and period.
    #[arg(long, value_enum, default_value_t = Show::Share)]
    pub show: Show,
    /// Output: tables for people or JSON for programs.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also write the cohort table, one row per cohort and period (.csv, .parquet, .jsonl).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CohortPeriod {
    Week,
    Month,
    Quarter,
}

impl From<CohortPeriod> for Period {
    fn from(p: CohortPeriod) -> Period {
        match p {
            CohortPeriod::Week => Period::Week,
            CohortPeriod::Month => Period::Month,
            CohortPeriod::Quarter => Period::Quarter,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
pub enum Show {
    /// Share of the cohort active.
    Share,
    /// Customers active.
    Customers,
    /// What the cohort spent.
    Revenue,
}

pub fn run(args: CohortArgs) -> anyhow::Result<()> {
    let flags = [
        (args.start_col.as_str(), "start-col"),
        (args.end_col.as_str(), "end-col"),
    ];
    let (source, options) = options(&args)?;
    let cohorts = cohorts(&source, &options).map_err(|e| with_flags(e, &flags))?;
    if let Some(path) = &args.output {
        write_table(&long_table(&cohorts).map_err(|e| with_flags(e, &[]))?, path)?;
    }
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string(&cohorts)?)?,
        Format::Table => {
            out!("{}", cohort_matrix(&cohorts, args.show, usize::MAX))?;
            outln!()?;
            out!("{}", rate_table(&cohorts))?;
        }
    }
    Ok(())
}

/// The flags as the library's source and options.
fn options(args: &CohortArgs) -> anyhow::Result<(CohortSource, CohortOptions)> {
    let options = CohortOptions {
        period: args.period.into(),
        observation_end: args.observation_end,
    };
    if let Some(path) = &args.customers {
        let source = CohortSource::Contracts {
            path: path.clone(),
            read: CustomerTableOptions {
                id_col: None,
                delimiter: args.transactions.delimiter.into(),
                na_values: vec![],
                bad_rows: None,
                database: args.customer_source.database(path),
            },
            columns: ContractDates {
                start_col: args.start_col.clone(),
                end_col: args.end_col.clone(),
            },
        };
        return Ok((source, options));
    }
    if args.transactions.files.is_empty() {
        bail!("cohorts needs -t FILE (a transaction log) or --customers FILE (contracts with start and end dates)");
    }
    let log = args.transactions.source();
    Ok((CohortSource::Log(log), options))
}

/// The cohort table for people: a row per cohort, a column per period since acquisition (at
/// most `max_periods`).
pub fn cohort_matrix(cohorts: &CohortTable, show: Show, max_periods: usize) -> String {
    let width = cohorts
        .cohorts
        .iter()
        .map(|c| c.active.len())
        .max()
        .unwrap_or(0)
        .min(max_periods);
    let mut header = vec!["cohort".to_string(), "customers".into()];
    header.extend((0..width).map(|k| format!("+{k}")));
    let rows: Vec<Vec<String>> = cohorts
        .cohorts
        .iter()
        .map(|c| {
            let mut row = vec![c.cohort.clone(), thousands(c.size)];
            row.extend((0..width).map(|k| match show {
                _ if k >= c.active.len() => String::new(),
                Show::Share => format!("{:.1}%", 100.0 * c.share[k]),
                Show::Customers => thousands(c.active[k]),
                Show::Revenue => money(c.revenue[k]),
            }));
            row
        })
        .collect();
    let what = match show {
        Show::Share => "share of each cohort active",
        Show::Customers => "customers of each cohort active",
        Show::Revenue => "revenue of each cohort",
    };
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    format!(
        "{what}, by {} since acquisition ({}):\n{}",
        format!("{:?}", cohorts.period).to_lowercase(),
        cohorts.basis,
        table(&header, &rows)
    )
}

/// Retention and churn per calendar period.
pub fn rate_table(cohorts: &CohortTable) -> String {
    let rate = |r: Option<f64>| r.map_or(String::new(), |r| format!("{:.1}%", 100.0 * r));
    let rows: Vec<Vec<String>> = cohorts
        .rates
        .iter()
        .map(|r| {
            vec![
                format!("{}{}", r.period, if r.partial { " (partial)" } else { "" }),
                thousands(r.new),
                thousands(r.active),
                thousands(r.base),
                rate(r.retention_rate),
                rate(r.churn_rate),
                money(r.revenue),
            ]
        })
        .collect();
    let base = if cohorts.basis == "contracts" {
        "active at start"
    } else {
        "active before"
    };
    format!(
        "retention by calendar period ({}):\n{}",
        if cohorts.basis == "contracts" {
            "churn = contracts ending in the period / contracts active at its start"
        } else {
            "retention = active in the previous period and in this one / active in the previous"
        },
        table(
            &[
                "period",
                "new",
                "active",
                base,
                "retention",
                "churn",
                "revenue"
            ],
            &rows
        )
    )
}
