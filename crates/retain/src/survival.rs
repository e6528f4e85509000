//! `retain survival`: how long customers stay. Kaplan-Meier curves with confidence intervals
//! and median lifetimes, overall or by group, the log-rank test between groups, and with
//! `--model sbg` the curve projected beyond the observed periods. The estimates are
//! `retain_pipeline::survival`'s; here are the flags and the tables.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, ValueEnum};
use retain_data::dates::format_day;
use retain_data::CustomerTableOptions;
use retain_pipeline::survival::{
    survival, DurationColumns, LogLifetimes, SurvivalOptions, SurvivalReport, SurvivalSource,
};

use crate::args::{parse_day, CustomerSourceArgs, Format, TransactionArgs, UnitArg};
use crate::failure::with_flags;
use crate::fmt::{p_clause, param, table, thousands};

/// Arguments of `retain survival`.
#[derive(Debug, Args)]
pub struct SurvivalArgs {
    /// Contractual data: one row per customer with a duration and a churn flag.
    #[arg(long, short = 'c', value_name = "FILE", conflicts_with = "files")]
    pub customers: Option<PathBuf>,
    #[command(flatten)]
    pub customer_source: CustomerSourceArgs,
    /// Duration column (whole periods for --model sbg), e.g. Telco's `tenure`.
    #[arg(long, value_name = "COL", default_value = "tenure")]
    pub duration_col: String,
    /// Churn flag column: 1/0, true/false or yes/no (e.g. Telco's `Churn`).
    #[arg(long, value_name = "COL", default_value = "churned")]
    pub event_col: String,
    /// A curve per value of this column, and the log-rank test between them.
    #[arg(long, value_name = "COL")]
    pub by: Option<String>,
    /// Values read as missing besides a blank field, comma-separated (e.g. NA,NULL).
    #[arg(long, value_name = "VALUES", value_delimiter = ',')]
    pub na: Vec<String>,
    #[command(flatten)]
    pub transactions: TransactionArgs,
    /// Transaction logs: a customer has churned after this many days without a purchase.
    #[arg(long, value_name = "DAYS", default_value_t = 180,
          value_parser = clap::value_parser!(i32).range(1..))]
    pub inactive_days: i32,
    /// Transaction logs: the end of observation (default: the last purchase).
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub observation_end: Option<i32>,
    /// Transaction logs: the time unit of durations.
    #[arg(long, value_enum, default_value_t = UnitArg::Days)]
    pub unit: UnitArg,
    /// Level of the confidence intervals.
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
    /// Project the curve with a model fitted to each group's lifetimes.
    #[arg(long, value_enum)]
    pub model: Option<SurvivalModel>,
    /// Periods to project beyond the last observed one (with --model).
    #[arg(long, default_value_t = 24)]
    pub project: u32,
    /// Output: a summary table for people or every curve as JSON.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SurvivalModel {
    /// Shifted-beta-geometric (Fader & Hardie 2007), on whole periods.
    Sbg,
}

pub fn run(args: SurvivalArgs) -> anyhow::Result<()> {
    let (source, options) = options(&args)?;
    let mut flags = vec![
        (args.duration_col.as_str(), "duration-col"),
        (args.event_col.as_str(), "event-col"),
    ];
    flags.extend(args.by.as_deref().map(|by| (by, "by")));
    let data = source.load().map_err(|e| with_flags(e, &flags))?;
    if let (SurvivalSource::Log { lifetimes, .. }, Some(end)) = (&source, data.observation_end) {
        eprintln!(
            "{} customers; churned = no purchase for {} days, observed to {}; time in {}",
            thousands(data.len() as u64),
            lifetimes.inactive_days,
            format_day(end),
            data.unit
        );
    }
    let report = survival(&data, &options).map_err(|e| with_flags(e, &flags))?;
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string(&report)?)?,
        Format::Table => out!("{}", summary_table(&report))?,
    }
    Ok(())
}

/// The flags as the library's source of lifetimes and its options.
fn options(args: &SurvivalArgs) -> anyhow::Result<(SurvivalSource, SurvivalOptions)> {
    let source = match &args.customers {
        Some(path) => SurvivalSource::Contracts {
            path: path.clone(),
            read: CustomerTableOptions {
                id_col: None,
                delimiter: args.transactions.delimiter.into(),
                na_values: args.na.clone(),
                bad_rows: None,
                database: args.customer_source.database(path),
            },
            columns: DurationColumns {
                duration_col: args.duration_col.clone(),
                event_col: args.event_col.clone(),
                by: args.by.clone(),
            },
        },
        None if args.transactions.files.is_empty() => bail!(
            "survival needs --customers FILE (durations and churn flags) or -t FILE (a transaction log)"
        ),
        None if args.by.is_some() => {
            bail!("--by needs --customers: a transaction log has no attributes to group by")
        }
        None => SurvivalSource::Log {
            log: args.transactions.source(),
            lifetimes: LogLifetimes {
                inactive_days: args.inactive_days,
                observation_end: args.observation_end,
                unit: args.unit.into(),
            },
        },
    };
    let options = SurvivalOptions {
        confidence: args.confidence,
        project_sbg: args.model.map(|SurvivalModel::Sbg| args.project),
    };
    Ok((source, options))
}

fn optional(v: Option<f64>) -> String {
    v.map_or_else(|| "not reached".into(), |v| format!("{v}"))
}

/// Per group: size, churned, median with its interval, and survival at a few times.
pub fn summary_table(report: &SurvivalReport) -> String {
    let last_time = report
        .groups
        .iter()
        .filter_map(|g| g.curve.curve.last().map(|p| p.time))
        .fold(0.0, f64::max);
    let marks: Vec<f64> = [0.25, 0.5, 0.75, 1.0]
        .iter()
        .map(|q| (q * last_time).round())
        .collect();
    let mut header = vec![
        "group".to_string(),
        "customers".into(),
        "churned".into(),
        "median (CI)".into(),
    ];
    header.extend(marks.iter().map(|t| format!("S({t})")));
    let rows: Vec<Vec<String>> = report
        .groups
        .iter()
        .map(|g| {
            let c = &g.curve;
            let mut row = vec![
                g.group.clone(),
                thousands(c.n),
                thousands(c.events),
                format!(
                    "{} ({} - {})",
                    optional(c.median),
                    optional(c.median_lower),
                    optional(c.median_upper)
                ),
            ];
            row.extend(marks.iter().map(|&t| format!("{:.3}", c.survival_at(t))));
            row
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut out = format!(
        "Kaplan-Meier survival{} (time in {}; {:.0}% intervals, median = first time S <= 0.5):\n",
        report
            .by
            .as_ref()
            .map_or(String::new(), |b| format!(" by {b}")),
        report.unit,
        report.groups[0].curve.confidence * 100.0
    );
    out += &table(&header, &rows);
    if let Some(test) = &report.log_rank {
        out += &format!(
            "log-rank test: chi-square {:.2} on {} df, p {}\n",
            test.statistic,
            test.df,
            p_clause(test.p_value)
        );
    }
    if report.groups.iter().any(|g| g.sbg.is_some()) {
        out += "\nsBG projection (survival after t periods):\n";
        let last = last_time as u32;
        let horizon = report.groups[0]
            .sbg
            .as_ref()
            .map_or(0, |p| p.curve.len() as u32 - 1);
        let times = [last, (last + horizon) / 2, horizon];
        let mut header = vec!["group".to_string(), "alpha".into(), "beta".into()];
        header.extend(times.iter().map(|t| format!("S({t})")));
        let rows: Vec<Vec<String>> = report
            .groups
            .iter()
            .filter_map(|g| g.sbg.as_ref().map(|p| (g, p)))
            .map(|(g, p)| {
                let mut row = vec![g.group.clone(), param(p.params.alpha), param(p.params.beta)];
                row.extend(
                    times
                        .iter()
                        .map(|&t| format!("{:.3}", p.params.survival(f64::from(t)))),
                );
                row
            })
            .collect();
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        out += &table(&header, &rows);
        for g in &report.groups {
            for w in g.sbg.iter().flat_map(|p| &p.warnings) {
                out += &format!("  {}: {w}\n", g.group);
            }
        }
    }
    out
}
