//! `retain lifecycle`: every customer's lifecycle stage (new, active, at risk, lapsed) at a
//! date, the counts per stage, and with `--compare` how customers moved between stages since
//! an earlier date. Rules in `retain_models::lifecycle`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::bail;
use clap::Args;
use retain_data::datafusion::arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, UInt64Array,
};
use retain_data::dates::format_day;
use retain_data::output::write_table;
use retain_data::{PurchaseHistory, TimeUnit};
use retain_models::btyd::{PurchaseModel, SavedPurchaseModel};
use retain_models::lifecycle::{transitions, LifecycleRules, Stage, Transitions};

use crate::args::{parse_day, Format, TransactionArgs, UnitArg};
use crate::fmt::{percent, table, thousands};
use crate::predict::load_purchase_model;

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

/// A customer's stage at a date, with P(alive) when a model was given.
#[derive(Debug, Clone, Copy)]
pub struct CustomerStage {
    pub stage: Stage,
    pub repeat_purchases: usize,
    pub since_last: i32,
    pub p_alive: Option<f64>,
}

/// Every customer's stage at `day` (`None`: no purchase by then).
pub fn stages_at(
    history: &PurchaseHistory,
    day: i32,
    rules: &LifecycleRules,
    model: Option<(&dyn PurchaseModel, TimeUnit)>,
) -> Vec<Option<CustomerStage>> {
    (0..history.len())
        .map(|k| {
            let days = history.days(k);
            let seen = days.partition_point(|&d| d <= day);
            if seen == 0 {
                return None;
            }
            let (first, last) = (days[0], days[seen - 1]);
            // BG/NBD and MBG/NBD give P(alive) = 1 to anyone without a repeat purchase: for
            // one-time buyers the days rule decides.
            let p_alive = model.map(|(m, unit)| {
                let u = unit.days();
                m.p_alive(
                    (seen - 1) as f64,
                    f64::from(last - first) / u,
                    f64::from(day - first) / u,
                )
            });
            let judged_by_model = if seen > 1 { p_alive } else { None };
            Some(CustomerStage {
                stage: rules.stage(day - first, day - last, judged_by_model),
                repeat_purchases: seen - 1,
                since_last: day - last,
                p_alive,
            })
        })
        .collect()
}

pub fn run(args: LifecycleArgs) -> anyhow::Result<()> {
    let rules = LifecycleRules {
        new_days: args.new_days,
        active_days: args.active_days,
        lapsed_days: args.lapsed_days,
        at_risk_below: args.at_risk_below,
    };
    rules.check().map_err(anyhow::Error::msg)?;
    let saved: Option<SavedPurchaseModel> =
        args.model.as_deref().map(load_purchase_model).transpose()?;
    if matches!(saved, Some(SavedPurchaseModel::BgBb(_))) {
        bail!("lifecycle needs a continuous-time purchase model (bgnbd, pareto-nbd, mbgnbd), not bgbb");
    }
    let model = saved
        .as_ref()
        .map(|s| (s.model(), TimeUnit::from(args.unit)));
    let (history, (_, last)) = args.transactions.purchase_history()?;
    let at = args.at.unwrap_or(last);
    if args.compare.is_some_and(|c| c >= at) {
        bail!("--compare must be a date before --at ({})", format_day(at));
    }
    let now = stages_at(&history, at, &rules, model);
    let before = args
        .compare
        .map(|d| stages_at(&history, d, &rules, model))
        .unwrap_or_else(|| vec![None; history.len()]);
    let moves = transitions(
        before
            .iter()
            .zip(&now)
            .map(|(b, a)| (b.map(|s| s.stage), a.map(|s| s.stage))),
    );
    if let Some(path) = &args.output {
        write_stages(&history, &now, path)?;
    }
    match args.format {
        Format::Json => outln!(
            "{}",
            serde_json::json!({
                "at": format_day(at),
                "compare": args.compare.map(format_day),
                "rules": rules,
                "stages": Stage::ALL.iter().zip(moves.counts).map(|(s, n)| serde_json::json!({"stage": s, "customers": n})).collect::<Vec<_>>(),
                "transitions": args.compare.map(|_| transition_json(&moves)),
            })
        )?,
        Format::Table => {
            out!("{}", stage_table(&moves, at, &rules, model.is_some()))?;
            if let Some(d) = args.compare {
                outln!()?;
                out!("{}", transition_table(&moves, d, at))?;
            }
        }
    }
    Ok(())
}

fn transition_json(t: &Transitions) -> serde_json::Value {
    let from = ["not_yet_a_customer", "new", "active", "at_risk", "lapsed"];
    serde_json::Value::Array(
        from.iter()
            .zip(&t.moves)
            .map(|(f, row)| {
                let to: serde_json::Map<String, serde_json::Value> = Stage::ALL
                    .iter()
                    .zip(row)
                    .map(|(s, n)| {
                        (
                            serde_json::to_value(s)
                                .expect("a name")
                                .as_str()
                                .expect("text")
                                .to_string(),
                            (*n).into(),
                        )
                    })
                    .collect();
                serde_json::json!({"from": f, "to": to})
            })
            .collect(),
    )
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

/// Every customer's stage, written (atomically) in the format the file's extension names.
fn write_stages(
    history: &PurchaseHistory,
    stages: &[Option<CustomerStage>],
    path: &std::path::Path,
) -> anyhow::Result<()> {
    let seen: Vec<(usize, &CustomerStage)> = stages
        .iter()
        .enumerate()
        .filter_map(|(k, s)| s.as_ref().map(|s| (k, s)))
        .collect();
    let batch = RecordBatch::try_from_iter([
        (
            "customer_id",
            Arc::new(StringArray::from_iter_values(
                seen.iter().map(|(k, _)| history.id(*k)),
            )) as ArrayRef,
        ),
        (
            "stage",
            Arc::new(StringArray::from_iter_values(
                seen.iter().map(|(_, s)| s.stage.name()),
            )),
        ),
        (
            "repeat_purchases",
            Arc::new(UInt64Array::from_iter_values(
                seen.iter().map(|(_, s)| s.repeat_purchases as u64),
            )),
        ),
        (
            "days_since_last_purchase",
            Arc::new(Int64Array::from_iter_values(
                seen.iter().map(|(_, s)| i64::from(s.since_last)),
            )),
        ),
        (
            "p_alive",
            Arc::new(Float64Array::from_iter(seen.iter().map(|(_, s)| s.p_alive))),
        ),
    ])?;
    Ok(write_table(&batch, path)?)
}
