//! `retain bench`: seconds, throughput and peak memory of the heavy steps on a given log, as one
//! JSON line per run (the shape of the Python peers' output, so the two can be compared).

use clap::{Args, Subcommand};

use crate::summarize::SummarizeArgs;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Time `retain summarize` on a log (same flags); the result is computed, streamed past and
    /// dropped, not written.
    Summarize(BenchSummarizeArgs),
    /// Time the BG/NBD fit, the Gamma-Gamma fit and scoring every customer (expected purchases
    /// over 39 weeks, P(alive), 12-month CLV at 1% a month) on a summary (same input flags as
    /// `retain fit`).
    Btyd(BenchBtydArgs),
}

#[derive(Debug, Args)]
pub struct BenchBtydArgs {
    #[command(flatten)]
    pub input: crate::fit::SummaryInput,
    /// Runs of every stage; each prints its JSON lines (with "run").
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
}

#[derive(Debug, Args)]
pub struct BenchSummarizeArgs {
    #[command(flatten)]
    pub summarize: SummarizeArgs,
    /// Runs; each prints one JSON line.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
}

/// Peak resident memory of this process so far, in MiB (Linux; `None` elsewhere).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// One JSON line per stage, like the Python peers' output.
fn stage_line(
    stage: &str,
    seconds: f64,
    customers: usize,
    extra: serde_json::Value,
) -> Result<(), crate::out::StdoutError> {
    let mut line = serde_json::json!({
        "tool": "retain",
        "stage": stage,
        "run": RUN.load(std::sync::atomic::Ordering::Relaxed),
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "customers": customers,
        "peak_rss_mib": peak_rss_mib().map(|m| m.round()),
    });
    if let (Some(line), Some(extra)) = (line.as_object_mut(), extra.as_object()) {
        line.extend(extra.clone());
    }
    outln!("{line}")
}

/// The run being timed, for the JSON lines.
static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

async fn bench_btyd(args: BenchBtydArgs) -> anyhow::Result<()> {
    let c = args.input.load(true).await?;
    for run in 1..=args.repeat.max(1) {
        RUN.store(run, std::sync::atomic::Ordering::Relaxed);
        btyd_stages(&c)?;
    }
    Ok(())
}

/// Every BTYD stage once on the loaded summary.
fn btyd_stages(c: &crate::fit::SummaryColumns) -> anyhow::Result<()> {
    use retain_models::btyd::gamma_gamma::SpendData;
    use retain_models::btyd::{
        score_customers, BgNbd, ClvOptions, FitOptions, GammaGamma, ParetoNbd, RfmData,
    };
    use std::time::Instant;
    let m = c.monetary.clone().unwrap_or_default();
    let n = c.frequency.len();
    let options = FitOptions::default();

    let start = Instant::now();
    let data = RfmData::new(&c.frequency, &c.recency, &c.t, c.weights.as_deref())?;
    let collapse_seconds = start.elapsed().as_secs_f64();
    let bg = BgNbd::fit(&data, &options)?;
    stage_line(
        "fit_bgnbd",
        start.elapsed().as_secs_f64(),
        n,
        serde_json::json!({"params": bg.params, "distinct_rows": data.len(),
            "collapse_seconds": (collapse_seconds * 1000.0).round() / 1000.0, "iterations": bg.iterations}),
    )?;

    // Pareto/NBD on the first 100k customers (what lifetimes is timed on: it takes minutes on
    // more), then on all of them.
    let first = n.min(100_000);
    for (stage, rows) in [("fit_pareto_nbd_100k", first), ("fit_pareto_nbd", n)] {
        let start = Instant::now();
        let data = RfmData::new(
            &c.frequency[..rows],
            &c.recency[..rows],
            &c.t[..rows],
            c.weights.as_deref().map(|w| &w[..rows]),
        )?;
        let fit = ParetoNbd::fit(&data, &options)?;
        stage_line(
            stage,
            start.elapsed().as_secs_f64(),
            rows,
            serde_json::json!({"params": fit.params, "distinct_rows": data.len(), "iterations": fit.iterations}),
        )?;
    }

    let start = Instant::now();
    let spend = SpendData::from_repeat_customers(&c.frequency, &m, c.weights.as_deref())?;
    let gg = GammaGamma::fit(&spend, &options)?;
    stage_line(
        "fit_gg",
        start.elapsed().as_secs_f64(),
        n,
        serde_json::json!({"params": gg.params}),
    )?;

    let start = Instant::now();
    let clv_options = ClvOptions {
        months: 12,
        monthly_discount: 0.01,
        units_per_month: retain_models::btyd::WEEKS_PER_MONTH,
    };
    let scores = score_customers(
        &bg.params,
        (&c.frequency, &c.recency, &c.t),
        39.0,
        Some((&gg.params, &m, &clv_options)),
    )?;
    let expected: f64 = scores.expected_purchases.iter().sum();
    let alive: f64 = scores.p_alive.iter().sum();
    let clv: f64 = scores.clv.unwrap_or_default().iter().sum();
    stage_line(
        "score",
        start.elapsed().as_secs_f64(),
        n,
        serde_json::json!({"expected": expected, "p_alive": alive / n as f64, "clv": clv}),
    )?;
    Ok(())
}

pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Btyd(args) => bench_btyd(args).await,
        BenchCommand::Summarize(args) => {
            let options = args.summarize.options();
            for run in 0..args.repeat {
                let start = std::time::Instant::now();
                // The summary streams past and is dropped: its making is what is timed.
                let (report, _) = retain_data::summarize_each(
                    &args.summarize.input.files,
                    args.summarize
                        .input
                        .read_options(args.summarize.period.into()),
                    &options,
                    None,
                    (),
                    |_, _| Ok(()),
                )
                .await?;
                let seconds = start.elapsed().as_secs_f64();
                let rows = report.ingest.rows_read;
                outln!(
                    "{}",
                    serde_json::json!({
                        "tool": "retain",
                        "stage": "summarize",
                        "run": run + 1,
                        "seconds": (seconds * 1000.0).round() / 1000.0,
                        "rows": rows,
                        "customers": report.customers,
                        "rows_per_second": (rows as f64 / seconds).round(),
                        "spilled_mib": report.spilled_bytes >> 20,
                        "peak_rss_mib": peak_rss_mib().map(|m| m.round()),
                    })
                )?;
            }
            Ok(())
        }
    }
}
