//! `retain fit MODEL`: fits a "buy till you die" model by maximum likelihood, from a
//! transaction log (summarised on the way) or from a summary file, and prints or saves the
//! fitted parameters with their standard errors.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use retain_data::SummaryOptions;
use retain_models::btyd::{FitOptions, GammaGamma, Lifetimes, ShiftedBetaGeometric};
use retain_pipeline::fit::{
    fit_purchase_model, spend_data, FitSummary, LifetimeSource, PurchaseData, PurchaseModelKind,
};
pub use retain_pipeline::source::SummaryColumns;
use retain_pipeline::source::SummaryFile;

use crate::args::{parse_day, Format, PeriodArg, TransactionArgs, UnitArg};
use crate::fmt::{table, thousands};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModelArg {
    /// BG/NBD (Fader, Hardie & Lee 2005): purchases and dropout of non-contractual customers.
    Bgnbd,
    /// Pareto/NBD (Schmittlein, Morrison & Colombo 1987): purchases and dropout in continuous
    /// time.
    ParetoNbd,
    /// MBG/NBD (Batislam et al. 2007): BG/NBD where customers may drop out before any repeat
    /// purchase.
    Mbgnbd,
    /// BG/BB (Fader, Hardie & Shang 2010): discrete transaction opportunities; the summary's
    /// columns are frequency, recency (last opportunity with a transaction) and periods
    /// (--t-col, default "periods").
    Bgbb,
    /// Gamma-Gamma: the value of a customer's transactions (repeat customers only).
    GammaGamma,
    /// Shifted-beta-geometric (Fader & Hardie 2007): retention of contractual customers, from a
    /// survivor table (--survivors) or per-customer durations (--customers).
    Sbg,
}

/// Where contractual lifetimes come from (for `sbg`).
#[derive(Debug, Args)]
pub struct LifetimeInput {
    /// A survivor table: customers still active after each period, period 0 being the cohort.
    #[arg(long, value_name = "FILE", conflicts_with = "customers")]
    pub survivors: Option<PathBuf>,
    #[arg(long, value_name = "COL", default_value = "period")]
    pub period_col: String,
    #[arg(long, value_name = "COL", default_value = "customers")]
    pub count_col: String,
    /// One row per customer with the periods observed and whether the customer cancelled.
    #[arg(long, value_name = "FILE")]
    pub customers: Option<PathBuf>,
    #[arg(long, value_name = "COL", default_value = "tenure")]
    pub duration_col: String,
    /// Churn flag: 1/0, true/false or yes/no.
    #[arg(long, value_name = "COL", default_value = "churned")]
    pub churned_col: String,
}

impl LifetimeInput {
    fn load(&self) -> anyhow::Result<Lifetimes> {
        let source = if let Some(path) = &self.survivors {
            LifetimeSource::Survivors {
                path: path.clone(),
                period_col: self.period_col.clone(),
                count_col: self.count_col.clone(),
            }
        } else if let Some(path) = &self.customers {
            LifetimeSource::Customers {
                path: path.clone(),
                duration_col: self.duration_col.clone(),
                churned_col: self.churned_col.clone(),
            }
        } else {
            bail!("sbg needs --survivors FILE (a survivor table) or --customers FILE (one row per customer)");
        };
        Ok(source.load()?)
    }
}

/// Where the per-customer summary comes from: a transaction log or a summary file.
#[derive(Debug, Args)]
pub struct SummaryInput {
    #[command(flatten)]
    pub transactions: TransactionArgs,
    /// End of the calibration window when summarising transactions (default: the last date).
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub calibration_end: Option<i32>,
    /// Time unit of recency and T when summarising transactions.
    #[arg(long, value_enum, default_value_t = UnitArg::Weeks)]
    pub unit: UnitArg,
    /// A summary file instead of transactions (as written by `retain summarize`, or lifetimes).
    #[arg(long, value_name = "FILE", conflicts_with = "files")]
    pub summary: Option<PathBuf>,
    #[arg(long, value_name = "COL", default_value = "frequency")]
    pub frequency_col: String,
    #[arg(long, value_name = "COL", default_value = "recency")]
    pub recency_col: String,
    /// Column of T, the customer's age (default "T"; "periods" for BG/BB).
    #[arg(long, value_name = "COL")]
    pub t_col: Option<String>,
    #[arg(long, value_name = "COL", default_value = "monetary_value")]
    pub monetary_col: String,
    /// Column with how many customers each summary row stands for (collapsed rows).
    #[arg(long, value_name = "COL")]
    pub weights_col: Option<String>,
}

impl SummaryInput {
    pub async fn load(&self, need_monetary: bool) -> anyhow::Result<SummaryColumns> {
        self.load_with(need_monetary, "T").await
    }

    /// Loads the columns, with `default_t_col` as T's column in a summary file unless
    /// `--t-col` names one.
    pub async fn load_with(
        &self,
        need_monetary: bool,
        default_t_col: &str,
    ) -> anyhow::Result<SummaryColumns> {
        match &self.summary {
            Some(path) => Ok(SummaryFile {
                path: path.clone(),
                frequency_col: self.frequency_col.clone(),
                recency_col: self.recency_col.clone(),
                t_col: self.t_col.clone(),
                monetary_col: self.monetary_col.clone(),
                weights_col: self.weights_col.clone(),
            }
            .load(need_monetary, default_t_col)
            .map_err(|e| crate::failure::with_flags(e, &[]))?),
            None => {
                let options = SummaryOptions {
                    calibration_end: self.calibration_end,
                    unit: self.unit.into(),
                    ..Default::default()
                };
                let s =
                    crate::summarize::compute(&self.transactions, PeriodArg::Day, &options).await?;
                SummaryColumns::from_summary(&s, need_monetary).map_err(|e| match e.missing_option() {
                    Some("amount") => anyhow::anyhow!(
                        "the transactions have no amounts: pass --amount-col (or --quantity-col and --price-col)"
                    ),
                    _ => crate::failure::with_flags(e, &[]),
                })
            }
        }
    }
}

/// Arguments of `retain fit`.
#[derive(Debug, Args)]
pub struct FitArgs {
    #[arg(value_enum)]
    pub model: ModelArg,
    #[command(flatten)]
    pub input: SummaryInput,
    #[command(flatten)]
    pub lifetimes: LifetimeInput,
    /// L2 penalty on the parameters (lifetimes' penalizer_coef).
    #[arg(long, default_value_t = 0.0)]
    pub penalizer: f64,
    /// sBG: periods to project survival, retention and residual lifetime over (table output).
    #[arg(long, default_value_t = 10)]
    pub project: u32,
    /// sBG: discount rate per period for the discounted expected residual lifetime.
    #[arg(long, default_value_t = 0.1)]
    pub discount: f64,
    /// Output: a table for people or the JSON object for programs.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Save the fitted model as JSON.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub async fn run(args: FitArgs) -> anyhow::Result<()> {
    if !(args.penalizer.is_finite() && args.penalizer >= 0.0) {
        bail!("--penalizer must be >= 0, found {}", args.penalizer);
    }
    let options = FitOptions {
        penalizer: args.penalizer,
        ..Default::default()
    };
    let kind = match args.model {
        ModelArg::Bgnbd => Some(PurchaseModelKind::BgNbd),
        ModelArg::ParetoNbd => Some(PurchaseModelKind::ParetoNbd),
        ModelArg::Mbgnbd => Some(PurchaseModelKind::MbgNbd),
        ModelArg::Bgbb => Some(PurchaseModelKind::BgBb),
        _ => None,
    };
    if let Some(kind) = kind {
        let default_t = if kind == PurchaseModelKind::BgBb {
            if args.input.summary.is_none() {
                bail!("bgbb needs a summary of discrete opportunities: --summary FILE with frequency, recency and periods columns");
            }
            "periods"
        } else {
            "T"
        };
        let c = args.input.load_with(false, default_t).await?;
        let data = PurchaseData::from_columns(&c)?;
        if let Some(note) = data.note() {
            eprintln!("note: {note}");
        }
        let fit = fit_purchase_model(kind, &data, &options)?;
        let record = fit.artifact(&data, &c, args.input.unit.into());
        return report(&record, &fit.summary(), data.data.len(), &args);
    }
    match args.model {
        ModelArg::Bgnbd | ModelArg::ParetoNbd | ModelArg::Mbgnbd | ModelArg::Bgbb => {
            unreachable!("fitted above")
        }
        ModelArg::GammaGamma => {
            let c = args.input.load(true).await?;
            let data = spend_data(&c)?;
            let fit = GammaGamma::fit(&data, &options)?;
            report(
                &serde_json::to_value(&fit)?,
                &FitSummary::of("Gamma-Gamma", &fit),
                data.x.len(),
                &args,
            )
        }
        ModelArg::Sbg => {
            let data = args.lifetimes.load()?;
            let fit = ShiftedBetaGeometric::fit(&data, &options)?;
            report(
                &serde_json::to_value(&fit)?,
                &FitSummary::of("sBG", &fit),
                data.periods.len(),
                &args,
            )?;
            if matches!(args.format, Format::Table) {
                out!(
                    "{}",
                    sbg_projection(&fit.params, args.project, args.discount)?
                )?;
            }
            Ok(())
        }
    }
}

/// The fitted sBG projected forward: the share of a cohort still active after each period,
/// the period's retention rate, and what a customer who has renewed that many times is still
/// worth in future payments (DERL).
fn sbg_projection(
    model: &ShiftedBetaGeometric,
    periods: u32,
    discount: f64,
) -> anyhow::Result<String> {
    let (projected, new_customer) = retain_pipeline::fit::sbg_projection(model, periods, discount)?;
    let rows: Vec<Vec<String>> = projected
        .iter()
        .map(|p| {
            vec![
                p.period.to_string(),
                format!("{:.1}%", 100.0 * p.survival),
                format!("{:.1}%", 100.0 * p.retention_rate),
                format!("{:.3}", p.derl),
            ]
        })
        .collect();
    Ok(format!(
        "\nprojection; DERL = expected future payments of a customer active after the period (next one undiscounted, then {:.1}% a period), {:.3} for a new customer:\n{}",
        100.0 * discount,
        new_customer,
        table(&["period", "still active", "retention rate", "DERL"], &rows)
    ))
}

fn report(
    record: &serde_json::Value,
    fit: &FitSummary,
    distinct: usize,
    args: &FitArgs,
) -> anyhow::Result<()> {
    if let Some(path) = &args.output {
        // The saved model records which data it was fitted on (the registry shows it).
        let log = args.input.transactions.provenance();
        let sources: Vec<&PathBuf> = log
            .iter()
            .chain(&args.input.summary)
            .chain(&args.lifetimes.survivors)
            .chain(&args.lifetimes.customers)
            .collect();
        let mut saved = record.clone();
        saved["data_fingerprint"] = retain_store::fingerprint_files(&sources)
            .context("reading the data again for its fingerprint")?
            .into();
        retain_data::output::write_file(path, saved.to_string().as_bytes())?;
        eprintln!("saved the fitted model to {}", path.display());
    }
    match args.format {
        // The fit's own record (`reference` and `unit` are for the saved model).
        Format::Json => {
            let mut printed = record.clone();
            if let Some(fields) = printed.as_object_mut() {
                fields.remove("reference");
                fields.remove("unit");
            }
            outln!("{printed}")?
        }
        Format::Table => {
            outln!(
                "{} on {} customers ({} distinct rows): converged in {} iterations\n",
                fit.title,
                thousands(fit.n_customers as u64),
                thousands(distinct as u64),
                fit.iterations
            )?;
            let rows: Vec<Vec<String>> = fit
                .params
                .iter()
                .enumerate()
                .map(|(i, (name, value))| {
                    let err = fit
                        .std_errors
                        .as_ref()
                        .map_or("-".to_string(), |s| format!("{:.4}", s[i].1));
                    vec![name.to_string(), format!("{value:.4}"), err]
                })
                .collect();
            out!("{}", table(&["parameter", "estimate", "std. error"], &rows))?;
            outln!("\n  log-likelihood  {:.2}", fit.log_likelihood)?;
        }
    }
    for warning in &fit.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(())
}
