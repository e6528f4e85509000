//! `retain summarize`: per-customer frequency, recency, T and monetary value, with an optional
//! calibration/holdout split, to CSV, Parquet or JSON lines.

use std::path::PathBuf;

use clap::Args;
use retain_data::{summarize, Summary, SummaryOptions};

use crate::args::{parse_day, parse_size, PeriodArg, TransactionArgs, UnitArg};
use crate::fmt::{ingest_lines, summary_lines};
use crate::progress::RowProgress;

/// Arguments of `retain summarize`.
#[derive(Debug, Args)]
pub struct SummarizeArgs {
    #[command(flatten)]
    pub input: TransactionArgs,
    /// End of the calibration window (inclusive): adds the holdout columns.
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub calibration_end: Option<i32>,
    /// End of observation (inclusive); default: the last transaction's date.
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub observation_end: Option<i32>,
    /// Time unit of recency, T and durations.
    #[arg(long, value_enum, default_value_t = UnitArg::Weeks)]
    pub unit: UnitArg,
    /// Transactions of one customer within one period count as one (amounts summed).
    #[arg(long, value_enum, default_value_t = PeriodArg::Day)]
    pub period: PeriodArg,
    /// Memory cap of the query engine (e.g. 2G); past it, aggregations spill to disk.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<usize>,
    /// Output file: .csv, .parquet or .jsonl. Default: CSV on stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

impl SummarizeArgs {
    pub fn options(&self) -> SummaryOptions {
        SummaryOptions {
            calibration_end: self.calibration_end,
            observation_end: self.observation_end,
            unit: self.unit.into(),
            memory_limit: self.memory_limit,
            threads: None,
            engine: self.input.engine.clone(),
        }
    }
}

/// Runs the summary with a progress spinner and prints the row accounting to stderr.
pub async fn compute(
    input: &TransactionArgs,
    period: PeriodArg,
    options: &SummaryOptions,
) -> anyhow::Result<Summary> {
    if input.files.is_empty() {
        anyhow::bail!("no transactions: pass --transactions FILE (one or more files)");
    }
    let progress = RowProgress::start("reading and aggregating");
    let options = SummaryOptions {
        engine: input.engine.clone(),
        ..options.clone()
    };
    let result = summarize(
        &input.log_files(),
        input.read_options(period.into()),
        &options,
        Some(progress.counter.clone()),
    )
    .await;
    progress.finish();
    let summary = result?;
    eprintln!("{}", ingest_lines(&summary.report.ingest));
    eprintln!("{}", summary_lines(&summary.report));
    Ok(summary)
}

pub async fn run(args: SummarizeArgs) -> anyhow::Result<()> {
    let summary = compute(&args.input, args.period, &args.options()).await?;
    crate::fmt::write_result(&summary.batch, args.output.as_deref())?;
    Ok(())
}
