//! `retain survival`: how long customers stay. Kaplan-Meier curves with confidence intervals
//! and median lifetimes, overall or by group, the log-rank test between groups, and with
//! `--model sbg` the curve projected beyond the observed periods.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, ValueEnum};
use retain_data::{read_customer_table, CustomerTableOptions};
use retain_models::btyd::{FitOptions, Lifetimes, ShiftedBetaGeometric};
use retain_models::survival::{log_rank, KaplanMeier, LogRank};
use serde::Serialize;

use crate::args::{parse_day, Format, TransactionArgs, UnitArg};
use crate::fmt::{p_clause, param, table, thousands};

/// Arguments of `retain survival`.
#[derive(Debug, Args)]
pub struct SurvivalArgs {
    /// Contractual data: one row per customer with a duration and a churn flag.
    #[arg(long, short = 'c', value_name = "FILE", conflicts_with = "files")]
    pub customers: Option<PathBuf>,
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

/// Durations and churn flags, with each row's group (0 when not grouped).
pub struct Lifespans {
    time: Vec<f64>,
    churned: Vec<bool>,
    group: Vec<usize>,
    /// Group names, in order; empty when not grouped.
    names: Vec<String>,
    /// What the time is counted in, for people.
    unit: String,
}

/// One group's results.
#[derive(Debug, Serialize)]
pub struct GroupSurvival {
    pub group: String,
    #[serde(flatten)]
    pub curve: KaplanMeier,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sbg: Option<Projection>,
}

/// The sBG model fitted to a group's lifetimes and its survival curve projected forward.
#[derive(Debug, Serialize)]
pub struct Projection {
    pub params: ShiftedBetaGeometric,
    pub log_likelihood: f64,
    /// Parameters at the edge of the parameter space and the like (see `retain fit`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Survival after each period from 0 to the last observed plus `--project`.
    pub curve: Vec<ProjectedPoint>,
}

#[derive(Debug, Serialize)]
pub struct ProjectedPoint {
    pub time: f64,
    pub survival: f64,
}

/// What `retain survival --format json` prints.
#[derive(Debug, Serialize)]
pub struct SurvivalReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    pub unit: String,
    pub groups: Vec<GroupSurvival>,
    pub log_rank: Option<LogRank>,
}

pub fn run(args: SurvivalArgs) -> anyhow::Result<()> {
    let data = load(&args)?;
    let report = analyse(&data, &args, args.by.clone())?;
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string(&report)?)?,
        Format::Table => out!("{}", summary_table(&report))?,
    }
    Ok(())
}

fn load(args: &SurvivalArgs) -> anyhow::Result<Lifespans> {
    if let Some(path) = &args.customers {
        let options = CustomerTableOptions {
            id_col: None,
            delimiter: args.transactions.delimiter.into(),
            na_values: args.na.clone(),
            bad_rows: None,
        };
        return contracts(
            path,
            &options,
            (&args.duration_col, &args.event_col),
            args.by.as_deref(),
        );
    }
    if args.transactions.files.is_empty() {
        bail!("survival needs --customers FILE (durations and churn flags) or -t FILE (a transaction log)");
    }
    if args.by.is_some() {
        bail!("--by needs --customers: a transaction log has no attributes to group by");
    }
    let (history, (_, last)) = args.transactions.purchase_history()?;
    let end = args.observation_end.unwrap_or(last);
    let unit: retain_data::TimeUnit = args.unit.into();
    let lifetimes = history.lifetimes(args.inactive_days, end, unit.days());
    let unit_name = format!("{unit:?}").to_lowercase();
    eprintln!(
        "{} customers; churned = no purchase for {} days, observed to {}; time in {unit_name}",
        thousands(lifetimes.len() as u64),
        args.inactive_days,
        retain_data::dates::format_day(end),
    );
    Ok(Lifespans {
        time: lifetimes.iter().map(|l| l.1).collect(),
        churned: lifetimes.iter().map(|l| l.2).collect(),
        group: vec![0; lifetimes.len()],
        names: vec![],
        unit: unit_name,
    })
}

/// Durations and churn flags of a customer table, grouped by the column `by`.
pub fn contracts(
    path: &std::path::Path,
    options: &CustomerTableOptions,
    (duration_col, event_col): (&str, &str),
    by: Option<&str>,
) -> anyhow::Result<Lifespans> {
    let t = read_customer_table(path, options)?;
    let time = t.required_numbers(duration_col, "duration-col")?;
    let churned = t.flags(event_col, "event-col")?;
    let (group, names) = match by {
        Some(by) => {
            let values = t.text(by, "by")?;
            let mut names: Vec<String> = values
                .iter()
                .map(|v| v.clone().unwrap_or_else(|| "(missing)".into()))
                .collect();
            names.sort();
            names.dedup();
            let group = values
                .iter()
                .map(|v| {
                    let name = v.as_deref().unwrap_or("(missing)");
                    names
                        .binary_search_by(|n| n.as_str().cmp(name))
                        .expect("listed")
                })
                .collect();
            (group, names)
        }
        None => (vec![0; time.len()], vec![]),
    };
    Ok(Lifespans {
        time,
        churned,
        group,
        names,
        unit: format!("the unit of {duration_col}"),
    })
}

fn analyse(
    data: &Lifespans,
    args: &SurvivalArgs,
    by: Option<String>,
) -> anyhow::Result<SurvivalReport> {
    let project = args.model.map(|SurvivalModel::Sbg| args.project);
    survival_report(data, by, args.confidence, project)
}

/// Kaplan-Meier per group, the log-rank test when grouped, and an sBG projection over
/// `project` more periods when asked.
pub fn survival_report(
    data: &Lifespans,
    by: Option<String>,
    confidence: f64,
    project: Option<u32>,
) -> anyhow::Result<SurvivalReport> {
    let n_groups = data.names.len().max(1);
    let mut groups = Vec::with_capacity(n_groups);
    for g in 0..n_groups {
        let rows: Vec<usize> = (0..data.time.len())
            .filter(|&i| data.group[i] == g)
            .collect();
        let time: Vec<f64> = rows.iter().map(|&i| data.time[i]).collect();
        let churned: Vec<bool> = rows.iter().map(|&i| data.churned[i]).collect();
        let curve = KaplanMeier::fit(&time, &churned, confidence)?;
        let sbg = project
            .map(|p| project_sbg(&time, &churned, p))
            .transpose()?;
        groups.push(GroupSurvival {
            group: data.names.get(g).cloned().unwrap_or_else(|| "all".into()),
            curve,
            sbg,
        });
    }
    let log_rank = if n_groups > 1 {
        Some(log_rank(&data.time, &data.churned, &data.group, n_groups)?)
    } else {
        None
    };
    Ok(SurvivalReport {
        by,
        unit: data.unit.clone(),
        groups,
        log_rank,
    })
}

fn project_sbg(time: &[f64], churned: &[bool], project: u32) -> anyhow::Result<Projection> {
    if let Some(t) = time.iter().find(|t| t.fract() != 0.0) {
        bail!(
            "--model sbg needs whole periods (sBG models contracts renewed period by period), \
             found the duration {t}"
        );
    }
    let lifetimes = Lifetimes::from_customers(time, churned)?;
    let fit = ShiftedBetaGeometric::fit(&lifetimes, &FitOptions::default())?;
    let last = time.iter().copied().fold(0.0, f64::max) as u32;
    let curve = (0..=last + project)
        .map(|t| ProjectedPoint {
            time: f64::from(t),
            survival: fit.params.survival(f64::from(t)),
        })
        .collect();
    Ok(Projection {
        params: fit.params,
        log_likelihood: fit.log_likelihood,
        warnings: fit.warnings,
        curve,
    })
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
