//! `retain clv`: customer lifetime value (`retain_pipeline::clv`): the arguments, the fitted
//! models and the top customers on stderr, every customer's value on stdout or to a file.

use std::path::PathBuf;

use clap::Args;
use retain_models::btyd::FitOptions;
use retain_pipeline::clv::{clv, ClvSettings};
use retain_pipeline::fit::PurchaseModelKind;

use crate::fit::SummaryInput;
use crate::fmt::{money, table, thousands};

/// The purchase models CLV can use (continuous time).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PurchaseModelArg {
    Bgnbd,
    ParetoNbd,
    Mbgnbd,
}

/// Arguments of `retain clv`.
#[derive(Debug, Args)]
pub struct ClvArgs {
    #[command(flatten)]
    pub input: SummaryInput,
    /// The model of the purchases.
    #[arg(long, value_enum, default_value_t = PurchaseModelArg::Bgnbd)]
    pub purchase_model: PurchaseModelArg,
    /// Horizon in months.
    #[arg(long, default_value_t = 12)]
    pub months: u32,
    /// Monthly discount rate (0.01 = 1% a month).
    #[arg(long, default_value_t = 0.01)]
    pub discount: f64,
    /// Output file (.csv, .parquet, .jsonl). Default: CSV on stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub async fn run(args: ClvArgs) -> anyhow::Result<()> {
    let c = args.input.load(true).await?;
    let settings = ClvSettings {
        purchase_model: match args.purchase_model {
            PurchaseModelArg::Bgnbd => PurchaseModelKind::BgNbd,
            PurchaseModelArg::ParetoNbd => PurchaseModelKind::ParetoNbd,
            PurchaseModelArg::Mbgnbd => PurchaseModelKind::MbgNbd,
        },
        months: args.months,
        discount: args.discount,
        unit: args.input.unit.into(),
        fit: FitOptions::default(),
    };
    let report = clv(&c, &settings).map_err(|e| crate::failure::with_flags(e, &[]))?;
    let params = |named: &[(&str, f64)]| {
        named
            .iter()
            .map(|(n, v)| format!("{n}={v:.4}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    eprintln!(
        "{} {} (LL {:.2}); Gamma-Gamma {} on {} repeat customers",
        report.purchase_fit.title,
        params(&report.purchase_fit.params),
        report.purchase_fit.log_likelihood,
        params(&report.spend_fit.params),
        thousands(report.spend_fit.n_customers as u64)
    );
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    let values = &report.values;
    let (ids, clv, p_alive) = (&values.ids, &values.clv, &values.p_alive);
    let n = ids.len();
    let mut top: Vec<usize> = (0..n).collect();
    top.sort_unstable_by(|&a, &b| clv[b].total_cmp(&clv[a]));
    let rows: Vec<Vec<String>> = top
        .iter()
        .take(5)
        .map(|&i| {
            vec![
                ids[i].clone(),
                values.frequency[i].to_string(),
                format!("{:.3}", p_alive[i]),
                money(clv[i]),
            ]
        })
        .collect();
    eprintln!(
        "{} customers, {}-month CLV at {}% a month: {} in all, {} on average; the top five:\n{}",
        thousands(n as u64),
        args.months,
        args.discount * 100.0,
        money(clv.iter().sum()),
        money(clv.iter().sum::<f64>() / n as f64),
        table(&["customer", "frequency", "P(alive)", "CLV"], &rows)
    );

    let batch = values.batch();
    crate::fmt::write_result(&batch, args.output.as_deref())?;
    Ok(())
}
