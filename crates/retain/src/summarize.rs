//! `retain summarize`: per-customer frequency, recency, T and monetary value, with an optional
//! calibration/holdout split, to CSV, Parquet or JSON lines.

use std::path::PathBuf;

use clap::Args;
use retain_data::output::TableWriter;
use retain_data::{summarize, summarize_each, thousands, Summary, SummaryOptions};

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
    /// Cap on the transactions held in memory (e.g. 500M; default 1G); past it they go to
    /// temporary spill files. On a cluster, each executor has its own (`retain cluster executor
    /// --memory-limit`).
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
    let path = match args.output.as_deref() {
        Some(path) if path.as_os_str() != "-" => path.to_path_buf(),
        _ => {
            let summary = compute(&args.input, args.period, &args.options()).await?;
            return crate::fmt::write_result(&summary.batch, None);
        }
    };
    // To a file, the summary streams: a log of tens of millions of customers is never whole
    // in memory, and the file appears only once complete.
    if args.input.files.is_empty() {
        anyhow::bail!("no transactions: pass --transactions FILE (one or more files)");
    }
    let progress = RowProgress::start("reading and aggregating");
    let options = args.options();
    let result = summarize_each(
        &args.input.log_files(),
        args.input.read_options(args.period.into()),
        &options,
        Some(progress.counter.clone()),
        None,
        move |batch, writer: &mut Option<TableWriter>| {
            if writer.is_none() {
                *writer = Some(TableWriter::create(&path, batch.schema())?);
            }
            writer.as_mut().expect("created above").write(&batch)
        },
    )
    .await;
    progress.finish();
    let (report, writer) = result?;
    let writer = writer.expect("the summary emits at least one batch");
    let rows = writer.rows();
    let path = args.output.as_deref().expect("a file output");
    writer.commit()?;
    eprintln!("{}", ingest_lines(&report.ingest));
    eprintln!("{}", summary_lines(&report));
    eprintln!("wrote {} rows to {}", thousands(rows), path.display());
    Ok(())
}
