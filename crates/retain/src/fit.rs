//! `retain fit MODEL`: fits a "buy till you die" model by maximum likelihood, from a
//! transaction log (summarised on the way) or from a summary file, and prints or saves the
//! fitted parameters with their standard errors.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use clap::{Args, ValueEnum};
use retain_data::datafusion::arrow::array::{Array, AsArray};
use retain_data::datafusion::arrow::compute::cast;
use retain_data::datafusion::arrow::datatypes::DataType;
use retain_data::{read_customer_table, CustomerTableOptions, SummaryOptions};
use retain_models::btyd::gamma_gamma::SpendData;
use retain_models::btyd::{
    BgBb, BgNbd, FitOptions, Fitted, GammaGamma, Lifetimes, MbgNbd, Named, ParetoNbd, RfmData,
    ShiftedBetaGeometric,
};
use serde::Serialize;

use crate::args::{parse_day, DelimiterArg, Format, PeriodArg, TransactionArgs, UnitArg};
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
        let plain = CustomerTableOptions {
            id_col: None,
            delimiter: DelimiterArg::Auto.into(),
            na_values: vec![],
            bad_rows: None,
        };
        if let Some(path) = &self.survivors {
            let t = read_customer_table(path, &plain)?;
            let period = t.required_numbers(&self.period_col, "period-col")?;
            let count = t.required_numbers(&self.count_col, "count-col")?;
            for (i, p) in period.iter().enumerate() {
                if *p != i as f64 {
                    bail!(
                        "{}: periods must run 0, 1, 2, … in order (row {} has period {p})",
                        path.display(),
                        i + 1
                    );
                }
            }
            return Ok(Lifetimes::from_survivors(&count)?);
        }
        let Some(path) = &self.customers else {
            bail!("sbg needs --survivors FILE (a survivor table) or --customers FILE (one row per customer)");
        };
        let t = read_customer_table(path, &plain)?;
        let periods = t.required_numbers(&self.duration_col, "duration-col")?;
        let churned = t.flags(&self.churned_col, "churned-col")?;
        Ok(Lifetimes::from_customers(&periods, &churned)?)
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

/// The columns the models read.
pub struct SummaryColumns {
    /// Customer ids, when the input has them (transactions always do; a summary file when it
    /// has a `customer_id` column).
    pub ids: Option<Vec<String>>,
    pub frequency: Vec<f64>,
    pub recency: Vec<f64>,
    pub t: Vec<f64>,
    pub monetary: Option<Vec<f64>>,
    pub weights: Option<Vec<f64>>,
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
            Some(path) => self.load_file(path, need_monetary, default_t_col),
            None => {
                let options = SummaryOptions {
                    calibration_end: self.calibration_end,
                    unit: self.unit.into(),
                    ..Default::default()
                };
                let s =
                    crate::summarize::compute(&self.transactions, PeriodArg::Day, &options).await?;
                let monetary = s.values("monetary_value");
                if need_monetary && monetary.is_none() {
                    bail!("the transactions have no amounts: pass --amount-col (or --quantity-col and --price-col)");
                }
                let ids = s.customer_ids();
                Ok(SummaryColumns {
                    ids: Some((0..ids.len()).map(|i| ids.value(i).to_string()).collect()),
                    frequency: s.values("frequency").unwrap_or_default(),
                    recency: s.values("recency").unwrap_or_default(),
                    t: s.values("T").unwrap_or_default(),
                    monetary,
                    weights: None,
                })
            }
        }
    }

    fn load_file(
        &self,
        path: &Path,
        need_monetary: bool,
        default_t_col: &str,
    ) -> anyhow::Result<SummaryColumns> {
        let options = CustomerTableOptions {
            id_col: None,
            delimiter: DelimiterArg::Auto.into(),
            na_values: vec![],
            bad_rows: None,
        };
        let t = read_customer_table(path, &options)?;
        let column = |name: &str, flag: &str| t.required_numbers(name, flag);
        let ids = t
            .columns
            .iter()
            .position(|c| c.name == "customer_id")
            .map(|i| {
                let text =
                    cast(t.batch.column(i), &DataType::Utf8).expect("any column casts to text");
                let text = text.as_string::<i32>();
                (0..text.len()).map(|r| text.value(r).to_string()).collect()
            });
        Ok(SummaryColumns {
            ids,
            frequency: column(&self.frequency_col, "frequency-col")?,
            recency: column(&self.recency_col, "recency-col")?,
            t: column(self.t_col.as_deref().unwrap_or(default_t_col), "t-col")?,
            monetary: if need_monetary {
                Some(column(&self.monetary_col, "monetary-col")?)
            } else {
                None
            },
            weights: self
                .weights_col
                .as_deref()
                .map(|c| column(c, "weights-col"))
                .transpose()?,
        })
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
    match args.model {
        ModelArg::Bgnbd => {
            let c = args.input.load(false).await?;
            let data = RfmData::new(&c.frequency, &c.recency, &c.t, c.weights.as_deref())?;
            let fit = BgNbd::fit(&data, &options)?;
            report(&fit, "BG/NBD", data.len(), &args)
        }
        ModelArg::ParetoNbd => {
            let c = args.input.load(false).await?;
            let data = RfmData::new(&c.frequency, &c.recency, &c.t, c.weights.as_deref())?;
            let fit = ParetoNbd::fit(&data, &options)?;
            report(&fit, "Pareto/NBD", data.len(), &args)
        }
        ModelArg::Mbgnbd => {
            let c = args.input.load(false).await?;
            let data = RfmData::new(&c.frequency, &c.recency, &c.t, c.weights.as_deref())?;
            let fit = MbgNbd::fit(&data, &options)?;
            report(&fit, "MBG/NBD", data.len(), &args)
        }
        ModelArg::Bgbb => {
            if args.input.summary.is_none() {
                bail!("bgbb needs a summary of discrete opportunities: --summary FILE with frequency, recency and periods columns");
            }
            let c = args.input.load_with(false, "periods").await?;
            let data = RfmData::new(&c.frequency, &c.recency, &c.t, c.weights.as_deref())?;
            let fit = BgBb::fit(&data, &options)?;
            report(&fit, "BG/BB", data.len(), &args)
        }
        ModelArg::GammaGamma => {
            let c = args.input.load(true).await?;
            let monetary = c
                .monetary
                .as_deref()
                .ok_or_else(|| anyhow!("no monetary values"))?;
            let data =
                SpendData::from_repeat_customers(&c.frequency, monetary, c.weights.as_deref())?;
            let fit = GammaGamma::fit(&data, &options)?;
            report(&fit, "Gamma-Gamma", data.x.len(), &args)
        }
        ModelArg::Sbg => {
            let data = args.lifetimes.load()?;
            let fit = ShiftedBetaGeometric::fit(&data, &options)?;
            report(&fit, "sBG", data.periods.len(), &args)?;
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
    let mut rows = vec![];
    for t in 1..=periods {
        let t_f = f64::from(t);
        rows.push(vec![
            t.to_string(),
            format!("{:.1}%", 100.0 * model.survival(t_f)),
            format!("{:.1}%", 100.0 * model.retention_rate(t_f)),
            format!(
                "{:.3}",
                model.discounted_expected_residual_lifetime(discount, t)?
            ),
        ]);
    }
    Ok(format!(
        "\nprojection; DERL = expected future payments of a customer active after the period (next one undiscounted, then {:.1}% a period), {:.3} for a new customer:\n{}",
        100.0 * discount,
        model.discounted_expected_residual_lifetime(discount, 0)?,
        table(&["period", "still active", "retention rate", "DERL"], &rows)
    ))
}

fn report<P: Serialize + Named>(
    fit: &Fitted<P>,
    title: &str,
    distinct: usize,
    args: &FitArgs,
) -> anyhow::Result<()> {
    let json = serde_json::to_string(fit)?;
    if let Some(path) = &args.output {
        // The saved model records which data it was fitted on (the registry shows it).
        let sources: Vec<&PathBuf> = args
            .input
            .transactions
            .files
            .iter()
            .chain(&args.input.summary)
            .chain(&args.lifetimes.survivors)
            .chain(&args.lifetimes.customers)
            .collect();
        let mut saved = serde_json::to_value(fit)?;
        saved["data_fingerprint"] = retain_store::fingerprint_files(&sources)
            .context("reading the data again for its fingerprint")?
            .into();
        retain_data::output::write_file(path, saved.to_string().as_bytes())?;
        eprintln!("saved the fitted model to {}", path.display());
    }
    match args.format {
        Format::Json => outln!("{json}")?,
        Format::Table => {
            outln!(
                "{title} on {} customers ({} distinct rows): converged in {} iterations\n",
                thousands(fit.n_customers as u64),
                thousands(distinct as u64),
                fit.iterations
            )?;
            let se = fit.std_errors.as_ref().map(|s| s.named());
            let rows: Vec<Vec<String>> = fit
                .params
                .named()
                .iter()
                .enumerate()
                .map(|(i, (name, value))| {
                    let err = se
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
