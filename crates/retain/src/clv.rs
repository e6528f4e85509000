//! `retain clv`: customer lifetime value. Fits a purchase model (BG/NBD by default, or
//! Pareto/NBD or MBG/NBD) and Gamma-Gamma (spend) on the customers' summaries, then values each customer over a horizon in months with a monthly
//! discount rate, as lifetimes' `customer_lifetime_value` does.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use clap::Args;
use retain_data::datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use retain_data::datafusion::arrow::datatypes::{DataType, Field, Schema};
use retain_models::btyd::gamma_gamma::SpendData;
use retain_models::btyd::{
    score_customers, BgNbd, ClvOptions, FitOptions, GammaGamma, MbgNbd, Named, ParetoNbd,
    PurchaseModel, RfmData,
};

use crate::args::UnitArg;
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
    if !(args.discount.is_finite() && args.discount > -1.0) {
        bail!(
            "--discount must be a rate above -1 (0.01 = 1% a month), found {}",
            args.discount
        );
    }
    let c = args.input.load(true).await?;
    let monetary = c
        .monetary
        .clone()
        .ok_or_else(|| anyhow!("no monetary values"))?;
    let weights = c.weights.as_deref();
    if weights.is_some() {
        bail!("--weights-col: CLV is per customer, so it needs one row per customer");
    }
    let options = FitOptions::default();
    let data = RfmData::new(&c.frequency, &c.recency, &c.t, None)?;
    let (purchases, title, log_likelihood): (Box<dyn PurchaseModel>, &str, f64) =
        match args.purchase_model {
            PurchaseModelArg::Bgnbd => {
                let f = BgNbd::fit(&data, &options).context("fitting BG/NBD")?;
                (Box::new(f.params), "BG/NBD", f.log_likelihood)
            }
            PurchaseModelArg::ParetoNbd => {
                let f = ParetoNbd::fit(&data, &options).context("fitting Pareto/NBD")?;
                (Box::new(f.params), "Pareto/NBD", f.log_likelihood)
            }
            PurchaseModelArg::Mbgnbd => {
                let f = MbgNbd::fit(&data, &options).context("fitting MBG/NBD")?;
                (Box::new(f.params), "MBG/NBD", f.log_likelihood)
            }
        };
    let spend = GammaGamma::fit(
        &SpendData::from_repeat_customers(&c.frequency, &monetary, None)?,
        &options,
    )
    .context("fitting Gamma-Gamma")?;
    let gg = spend.params;
    if gg.q <= 1.0 {
        bail!("Gamma-Gamma q = {:.3} <= 1: the population mean spend is infinite, so CLV is undefined", gg.q);
    }
    let params = |named: Vec<(&str, f64)>| {
        named
            .iter()
            .map(|(n, v)| format!("{n}={v:.4}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    eprintln!(
        "{title} {} (LL {log_likelihood:.2}); Gamma-Gamma {} on {} repeat customers",
        params(purchases.named()),
        params(gg.named()),
        thousands(spend.n_customers as u64)
    );
    let units_per_month = match args.input.unit {
        UnitArg::Weeks => 4.345,
        UnitArg::Days => 30.0,
        UnitArg::Months => 1.0,
    };
    let clv_options = ClvOptions {
        months: args.months,
        monthly_discount: args.discount,
        units_per_month,
    };
    let horizon = f64::from(args.months) * units_per_month;
    let n = c.frequency.len();
    let scores = score_customers(
        purchases.as_ref(),
        (&c.frequency, &c.recency, &c.t),
        horizon,
        Some((&gg, &monetary, &clv_options)),
    )?;
    let (p_alive, expected) = (scores.p_alive, scores.expected_purchases);
    let (value, clv) = (
        scores.expected_spend.unwrap_or_default(),
        scores.clv.unwrap_or_default(),
    );
    let ids: Vec<String> = c
        .ids
        .clone()
        .unwrap_or_else(|| (1..=n).map(|i| i.to_string()).collect());

    let mut top: Vec<usize> = (0..n).collect();
    top.sort_unstable_by(|&a, &b| clv[b].total_cmp(&clv[a]));
    let rows: Vec<Vec<String>> = top
        .iter()
        .take(5)
        .map(|&i| {
            vec![
                ids[i].clone(),
                c.frequency[i].to_string(),
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

    let f64s = |v: Vec<f64>| -> ArrayRef { Arc::new(Float64Array::from(v)) };
    let schema = Arc::new(Schema::new(
        [
            "customer_id",
            "frequency",
            "recency",
            "T",
            "monetary_value",
            "p_alive",
            "expected_purchases",
            "expected_spend",
            "clv",
        ]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            Field::new(
                *name,
                if i == 0 {
                    DataType::Utf8
                } else {
                    DataType::Float64
                },
                false,
            )
        })
        .collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(ids)),
            f64s(c.frequency),
            f64s(c.recency),
            f64s(c.t),
            f64s(monetary),
            f64s(p_alive),
            f64s(expected),
            f64s(value),
            f64s(clv),
        ],
    )?;
    crate::fmt::write_result(&batch, args.output.as_deref())?;
    Ok(())
}
