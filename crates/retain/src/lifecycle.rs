//! `retain lifecycle`: every customer's lifecycle stage (new, active, at risk, lapsed) at a
//! date, the counts per stage, and with `--compare` how customers moved between stages since
//! an earlier date. Rules in `retain_models::lifecycle`; the stages are
//! `retain_pipeline::lifecycle`'s, here are the flags and the tables.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use retain_data::dates::format_day;
use retain_data::output::write_table;
use retain_models::lifecycle::{LifecycleRules, Stage, Transitions};
use retain_pipeline::lifecycle::{lifecycle_of_log, LifecycleOptions, StageModel};
use retain_pipeline::source::Log;

use crate::args::{parse_day, Format, TransactionArgs, UnitArg};
use crate::failure::with_flags;
use crate::fmt::{percent, table, thousands};

/// Arguments of `retain lifecycle`.
#[derive(Debug, Args)]
pub struct LifecycleArgs {
    #[command(flatten)]
    pub transactions: TransactionArgs,
    /// The date of the stages (default: the last purchase in the log).
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub at: Option<i32>,
    /// An earlier date: also show how customers moved between the stages since then.
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub compare: Option<i32>,
    /// New: first purchase fewer than this many days before the date.
    #[arg(long, default_value_t = 30)]
    pub new_days: i32,
    /// At risk (without a model): no purchase for this many days.
    #[arg(long, default_value_t = 90)]
    pub active_days: i32,
    /// Lapsed: no purchase for this many days.
    #[arg(long, default_value_t = 365)]
    pub lapsed_days: i32,
    /// A purchase model saved by `retain fit` (BG/NBD, Pareto/NBD, MBG/NBD): at risk is then
    /// P(alive) below --at-risk-below instead of the --active-days window, for customers with
    /// repeat purchases (the models give one-time buyers P(alive) = 1).
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    #[arg(long, default_value_t = 0.5)]
    pub at_risk_below: f64,
    /// The time unit the model was fitted in.
    #[arg(long, value_enum, default_value_t = UnitArg::Weeks)]
    pub unit: UnitArg,
    /// Output: tables for people or JSON for programs.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write every customer's stage (.csv, .parquet, .jsonl).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(args: LifecycleArgs) -> anyhow::Result<()> {
    let (log, options) = options(&args)?;
    let stages = lifecycle_of_log(&log, &options).map_err(|e| with_flags(e, &[]))?;
    if let Some(path) = &args.output {
        write_table(
            &stages.stages_table().map_err(|e| with_flags(e, &[]))?,
            path,
        )?;
    }
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string(&stages)?)?,
        Format::Table => {
            let moves = &stages.transitions;
            out!(
                "{}",
                stage_table(moves, stages.at, &stages.rules, stages.with_model)
            )?;
            if let Some(caution) = &stages.caution {
                outln!("caution: {caution}")?;
            }
            if let Some(d) = stages.compare {
                outln!()?;
                out!("{}", transition_table(moves, d, stages.at))?;
            }
        }
    }
    Ok(())
}

/// The flags as the library's log and options (the model read from its file).
fn options(args: &LifecycleArgs) -> anyhow::Result<(Log, LifecycleOptions)> {
    let log = args.transactions.source();
    let model = args
        .model
        .as_deref()
        .map(|path| stage_model(path, args.unit))
        .transpose()?;
    let options = LifecycleOptions {
        at: args.at,
        compare: args.compare,
        rules: LifecycleRules {
            new_days: args.new_days,
            active_days: args.active_days,
            lapsed_days: args.lapsed_days,
            at_risk_below: args.at_risk_below,
        },
        model,
    };
    Ok((log, options))
}

/// A purchase model saved by `retain fit … -o FILE`, with the warnings of its fit.
fn stage_model(path: &std::path::Path, unit: UnitArg) -> anyhow::Result<StageModel> {
    let expected = || {
        format!(
            "{}: expected a purchase model saved by `retain fit` (\"model\": bgnbd, pareto-nbd, \
             mbgnbd or bgbb, with its \"params\")",
            path.display()
        )
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let record: serde_json::Value = serde_json::from_str(&text).with_context(expected)?;
    StageModel::from_record(&record, unit.into())
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Customers per stage, with the rules.
pub fn stage_table(t: &Transitions, at: i32, rules: &LifecycleRules, with_model: bool) -> String {
    let total: u64 = t.counts.iter().sum();
    let rule = |s: Stage| match s {
        Stage::New => format!("first purchase < {} days ago", rules.new_days),
        Stage::Active if with_model => format!(
            "P(alive) >= {} (one-time buyers: last purchase < {} days ago)",
            rules.at_risk_below, rules.active_days
        ),
        Stage::Active => format!("last purchase < {} days ago", rules.active_days),
        Stage::AtRisk if with_model => format!(
            "P(alive) < {} (one-time buyers: the days rule)",
            rules.at_risk_below
        ),
        Stage::AtRisk => format!(
            "last purchase {} - {} days ago",
            rules.active_days,
            rules.lapsed_days - 1
        ),
        Stage::Lapsed => format!("no purchase for {}+ days", rules.lapsed_days),
    };
    let rows: Vec<Vec<String>> = Stage::ALL
        .iter()
        .zip(t.counts)
        .map(|(&s, n)| vec![s.name().into(), thousands(n), percent(n, total), rule(s)])
        .collect();
    format!(
        "lifecycle stages at {} ({} customers):\n{}",
        format_day(at),
        thousands(total),
        table(
            &["stage", "customers", "share", "rule (in this order)"],
            &rows
        )
    )
}

/// Rows: stage at the earlier date; columns: stage at the later one.
pub fn transition_table(t: &Transitions, from: i32, to: i32) -> String {
    let names = ["not yet a customer", "new", "active", "at risk", "lapsed"];
    let rows: Vec<Vec<String>> = names
        .iter()
        .zip(&t.moves)
        .filter(|(_, row)| row.iter().sum::<u64>() > 0)
        .map(|(n, row)| {
            let mut r = vec![n.to_string()];
            r.extend(row.iter().map(|&v| thousands(v)));
            r
        })
        .collect();
    format!(
        "from the stage at {} (rows) to the stage at {} (columns):\n{}",
        format_day(from),
        format_day(to),
        table(&["", "new", "active", "at risk", "lapsed"], &rows)
    )
}
