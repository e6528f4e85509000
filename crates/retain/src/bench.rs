//! `retain bench`: seconds, throughput and peak memory of the heavy steps on a given log, as one
//! JSON line per run (the shape of the Python peers' output, so the two can be compared).

use clap::{Args, Subcommand};

use crate::summarize::SummarizeArgs;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Time `retain summarize` on a log (same flags), without writing the result.
    Summarize(BenchSummarizeArgs),
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

pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Summarize(args) => {
            let options = args.summarize.options();
            for run in 0..args.repeat {
                let start = std::time::Instant::now();
                let summary = retain_data::summarize(
                    &args.summarize.input.files,
                    args.summarize
                        .input
                        .read_options(args.summarize.period.into()),
                    &options,
                    None,
                )
                .await?;
                let seconds = start.elapsed().as_secs_f64();
                let rows = summary.report.ingest.rows_read;
                println!(
                    "{}",
                    serde_json::json!({
                        "tool": "retain",
                        "stage": "summarize",
                        "run": run + 1,
                        "seconds": (seconds * 1000.0).round() / 1000.0,
                        "rows": rows,
                        "customers": summary.report.customers,
                        "rows_per_second": (rows as f64 / seconds).round(),
                        "peak_rss_mib": peak_rss_mib().map(|m| m.round()),
                    })
                );
            }
            Ok(())
        }
    }
}
