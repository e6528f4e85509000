//! `retain diagnose`: how well a fitted purchase model describes what customers did, by the
//! two standard checks: the calibration-vs-holdout table and tracking of repeat transactions
//! over time (cumulative and per period), as tables or one JSON object.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use retain_data::dates::{format_day, TimeUnit};
use retain_data::{activity, SummaryOptions};
use retain_models::btyd::{
    calibration_vs_holdout, tracking, HoldoutGroup, PurchaseModel, SavedPurchaseModel,
    TrackingPoint,
};
use serde::Serialize;

use crate::args::{parse_day, Format, PeriodArg, TransactionArgs, UnitArg};
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

/// One row of the tracking table: a point and the calendar around it.
#[derive(Debug, Clone, Serialize)]
pub struct TrackingRow {
    /// The last day counted (the point is at the start of the next day).
    pub through: String,
    /// "calibration" or "holdout".
    pub window: &'static str,
    #[serde(flatten)]
    pub point: TrackingPoint,
}

/// The JSON of `retain diagnose --format json`.
#[derive(Debug, Serialize)]
pub struct Diagnostics {
    pub model: &'static str,
    pub unit: TimeUnit,
    pub calibration_end: String,
    pub observation_end: String,
    pub calibration_vs_holdout: Vec<HoldoutGroup>,
    pub tracking: Vec<TrackingRow>,
}

pub async fn run(args: DiagnoseArgs) -> anyhow::Result<()> {
    let saved = crate::predict::load_purchase_model(&args.model)?;
    if matches!(saved, SavedPurchaseModel::BgBb(_)) {
        bail!("BG/BB counts discrete transaction opportunities, not calendar time: diagnose takes bgnbd, pareto-nbd or mbgnbd models");
    }
    if !(args.every.is_finite() && args.every > 0.0) {
        bail!("--every must be > 0, found {}", args.every);
    }
    let options = SummaryOptions {
        calibration_end: Some(args.calibration_end),
        observation_end: args.observation_end,
        unit: args.unit.into(),
        ..Default::default()
    };
    let summary = crate::summarize::compute(&args.input, PeriodArg::Day, &options).await?;
    let column = |name: &str| summary.values(name).expect("summary column");
    let holdout = calibration_vs_holdout(
        saved.model(),
        (&column("frequency"), &column("recency"), &column("T")),
        (&column("frequency_holdout"), &column("duration_holdout")),
        args.pooled_from,
    )?;
    let mut read = args.input.read_options(PeriodArg::Day.into());
    let observation_end = summary.report.observation_end;
    read.last_day = Some(observation_end);
    let log = activity(&args.input.files, read)?;
    let rows = tracking_rows(
        saved.model(),
        &log,
        args.unit.into(),
        args.every,
        (args.calibration_end, observation_end),
    )?;
    let diagnostics = Diagnostics {
        model: saved.name(),
        unit: args.unit.into(),
        calibration_end: format_day(args.calibration_end),
        observation_end: format_day(observation_end),
        calibration_vs_holdout: holdout,
        tracking: rows,
    };
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&diagnostics)?)?,
        Format::Table => {
            let unit = unit_name(diagnostics.unit);
            outln!(
                "calibration vs holdout: mean purchases per customer in the holdout ({} .. {}), by repeat purchases in calibration",
                format_day(args.calibration_end + 1),
                diagnostics.observation_end
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

fn unit_name(unit: TimeUnit) -> &'static str {
    match unit {
        TimeUnit::Days => "days",
        TimeUnit::Weeks => "weeks",
        TimeUnit::Months => "months",
    }
}

/// Tracking every `every` time units from the first first-purchase to the day after
/// `observation_end`, as lifetimes' `expected_cumulative_transactions` does.
pub fn tracking_rows(
    model: &dyn PurchaseModel,
    log: &retain_data::Activity,
    unit: TimeUnit,
    every: f64,
    (calibration_end, observation_end): (i32, i32),
) -> anyhow::Result<Vec<TrackingRow>> {
    let Some(origin) = log.first_day() else {
        bail!("no transactions to track");
    };
    let in_units = |day: i32| f64::from(day - origin) / unit.days();
    let pairs = |counts: &std::collections::BTreeMap<i32, u64>| -> Vec<(f64, f64)> {
        counts
            .iter()
            .map(|(&day, &n)| (in_units(day), n as f64))
            .collect()
    };
    // Points at the start of a day: step k is k·every units, rounded to whole days.
    let step_days = every * unit.days();
    let last = observation_end + 1 - origin;
    let ends: Vec<i32> = (1..)
        .map(|k| (f64::from(k) * step_days).round() as i32)
        .take_while(|&d| d <= last)
        .collect();
    let times: Vec<f64> = ends.iter().map(|&d| f64::from(d) / unit.days()).collect();
    let points = tracking(
        model,
        &pairs(&log.first_purchases),
        &pairs(&log.repeat_purchases),
        &times,
    )?;
    Ok(points
        .into_iter()
        .zip(ends)
        .map(|(point, end)| TrackingRow {
            through: format_day(origin + end - 1),
            window: if origin + end - 1 <= calibration_end {
                "calibration"
            } else {
                "holdout"
            },
            point,
        })
        .collect())
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
                r.through.clone(),
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
