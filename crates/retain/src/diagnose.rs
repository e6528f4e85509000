//! `retain diagnose`: how well a fitted purchase model describes what customers did, by the
//! two standard checks: the calibration-vs-holdout table and tracking of repeat transactions
//! over time (cumulative and per period), as tables or one JSON object. The checks are
//! `retain_pipeline::diagnose`'s; here are the flags, the summary's progress and the tables.

use std::path::PathBuf;

use clap::Args;
use retain_data::dates::{format_day, TimeUnit};
use retain_models::btyd::HoldoutGroup;
use retain_pipeline::diagnose::{diagnostics, read_activity, DiagnoseOptions, TrackingRow};
use retain_pipeline::source::Log;

use crate::args::{parse_day, Format, PeriodArg, TransactionArgs, UnitArg};
use crate::failure::with_flags;
use crate::fmt::{table, thousands};

/// Arguments of `retain diagnose`.
#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// A purchase model saved by `retain fit MODEL -o FILE` (bgnbd, pareto-nbd, mbgnbd), fitted
    /// in the same time unit as --unit.
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    #[command(flatten)]
    pub input: TransactionArgs,
    /// End of the calibration window (inclusive); the holdout runs from the next day.
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub calibration_end: i32,
    /// End of the holdout window (inclusive); default: the last transaction's date.
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub observation_end: Option<i32>,
    /// Time unit the model was fitted in.
    #[arg(long, value_enum, default_value_t = UnitArg::Weeks)]
    pub unit: UnitArg,
    /// Calibration frequencies from this one up are pooled in the holdout table.
    #[arg(long, default_value_t = 7)]
    pub pooled_from: usize,
    /// Tracking step, in time units.
    #[arg(long, default_value_t = 1.0)]
    pub every: f64,
    /// Output: tables for people or one JSON object for programs.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn run(args: DiagnoseArgs) -> anyhow::Result<()> {
    let saved = crate::predict::load_purchase_model(&args.model)?;
    let (log, options) = options(&args);
    options.check(&saved).map_err(|e| with_flags(e, &[]))?;
    let summary =
        crate::summarize::compute(&args.input, PeriodArg::Day, &options.summary_options()).await?;
    let diagnostics = read_activity(&log, summary.report.observation_end)
        .and_then(|activity| diagnostics(&saved, &summary, &activity, &options))
        .map_err(|e| with_flags(e, &[]))?;
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&diagnostics)?)?,
        Format::Table => {
            let unit = unit_name(diagnostics.unit);
            outln!(
                "calibration vs holdout: mean purchases per customer in the holdout ({} .. {}), by repeat purchases in calibration",
                format_day(args.calibration_end + 1),
                format_day(diagnostics.observation_end)
            )?;
            out!(
                "{}",
                holdout_table(&diagnostics.calibration_vs_holdout, saved.name())
            )?;
            outln!("\ntracking: repeat transactions of all customers, actual and expected, every {} {unit}", args.every)?;
            out!("{}", tracking_table(&diagnostics.tracking, unit))?;
        }
    }
    Ok(())
}

/// The flags as the library's log and options.
fn options(args: &DiagnoseArgs) -> (Log, DiagnoseOptions) {
    let log = args.input.source();
    let options = DiagnoseOptions {
        calibration_end: args.calibration_end,
        observation_end: args.observation_end,
        unit: args.unit.into(),
        pooled_from: args.pooled_from,
        every: args.every,
    };
    (log, options)
}

fn unit_name(unit: TimeUnit) -> &'static str {
    match unit {
        TimeUnit::Days => "days",
        TimeUnit::Weeks => "weeks",
        TimeUnit::Months => "months",
    }
}

/// The calibration-vs-holdout table for people.
pub fn holdout_table(groups: &[HoldoutGroup], model: &str) -> String {
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            vec![
                g.frequency.clone(),
                thousands(g.customers),
                format!("{:.2}", g.actual),
                format!("{:.2}", g.predicted),
            ]
        })
        .collect();
    table(&["repeat purchases", "customers", "actual", model], &rows)
}

/// The tracking table for people.
pub fn tracking_table(rows: &[TrackingRow], unit: &str) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let p = &r.point;
            vec![
                format!("{}", p.time),
                format_day(r.through),
                r.window.to_string(),
                thousands(p.actual_cumulative as u64),
                format!("{:.1}", p.expected_cumulative),
                thousands(p.actual_incremental as u64),
                format!("{:.1}", p.expected_incremental),
            ]
        })
        .collect();
    table(
        &[
            unit,
            "through",
            "window",
            "actual",
            "expected",
            "actual in step",
            "expected in step",
        ],
        &cells,
    )
}
