//! `retain predict`: a fitted purchase model (BG/NBD, Pareto/NBD, MBG/NBD, BG/BB) applied to
//! every customer of a summary: the probability that the customer is still active and the
//! purchases to expect over a horizon. Without customers, the model's predictions for a newly
//! acquired customer: expected purchases and the distribution of their number.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use retain_data::datafusion::arrow::array::{Float64Array, RecordBatch, UInt32Array};
use retain_data::datafusion::arrow::datatypes::{DataType, Field, Schema};
use retain_models::btyd::SavedPurchaseModel;

use retain_pipeline::predict::expectations;

use crate::failure::with_flags;

use crate::fit::SummaryInput;
use crate::fmt::thousands;

/// Arguments of `retain predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// A model saved by `retain fit MODEL -o FILE` (bgnbd, pareto-nbd, mbgnbd or bgbb).
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// Customers to score (--summary or --transactions). Without them: a new customer's
    /// predictions.
    #[command(flatten)]
    pub input: SummaryInput,
    /// Length of the prediction period, in the summary's time unit (BG/BB: opportunities).
    #[arg(long, default_value_t = 39.0)]
    pub horizon: f64,
    /// For a new customer: list P(n purchases) for n = 0 to this.
    #[arg(long, default_value_t = 10)]
    pub max_purchases: u32,
    /// Output file (.csv, .parquet, .jsonl). Default: stdout, as --format says.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// How stdout shows the result: CSV, one JSON object, or a table for people (numbers at
    /// full precision in each).
    #[arg(long, value_enum, default_value_t = PredictFormat::Csv)]
    pub format: PredictFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PredictFormat {
    Csv,
    Json,
    Table,
}

/// Reads a purchase model saved by `retain fit … -o FILE`.
pub fn load_purchase_model(path: &std::path::Path) -> anyhow::Result<SavedPurchaseModel> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: expected a purchase model saved by `retain fit` (\"model\": bgnbd, pareto-nbd, mbgnbd or bgbb, with its \"params\")",
            path.display()
        )
    })
}

pub async fn run(args: PredictArgs) -> anyhow::Result<()> {
    let saved = load_purchase_model(&args.model)?;
    // A weakly identified fit says so wherever it is used.
    let record: serde_json::Value = std::fs::read(&args.model)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    for warning in record["warnings"].as_array().into_iter().flatten() {
        if let Some(w) = warning.as_str() {
            eprintln!("warning: the model's fit: {w}");
        }
    }
    if args.input.summary.is_none() && args.input.transactions.files.is_empty() {
        return new_customer(&saved, &args);
    }
    let default_t = if saved.is_discrete() { "periods" } else { "T" };
    let c = args.input.load_with(false, default_t).await?;
    let e = expectations(&saved, &c, args.horizon).map_err(|e| with_flags(e, &[]))?;
    let n = e.ids.len();
    eprintln!(
        "{} customers ({}): expected purchases over {} time units {:.1} in all, mean P(alive) {:.3}",
        thousands(n as u64),
        saved.name(),
        args.horizon,
        e.expected_purchases.iter().sum::<f64>(),
        e.p_alive.iter().sum::<f64>() / n as f64
    );
    write(&e.batch(), &args)
}

/// The result to --output, or to stdout in --format.
fn write(batch: &RecordBatch, args: &PredictArgs) -> anyhow::Result<()> {
    if args.output.is_some() || args.format == PredictFormat::Csv {
        return crate::fmt::write_result(batch, args.output.as_deref());
    }
    match args.format {
        PredictFormat::Json => outln!("{}", batch_json(batch)?)?,
        _ => out!("{}", crate::fmt::batch_table(batch))?,
    }
    Ok(())
}

/// A batch as one JSON array of row objects (numbers at full precision).
fn batch_json(batch: &RecordBatch) -> anyhow::Result<String> {
    let mut writer = retain_data::datafusion::arrow::json::ArrayWriter::new(Vec::<u8>::new());
    writer.write(batch)?;
    writer.finish()?;
    Ok(String::from_utf8(writer.into_inner())?)
}

/// A newly acquired customer: P(n purchases in the horizon) for n = 0..=max, with the expected
/// number on stderr.
fn new_customer(saved: &SavedPurchaseModel, args: &PredictArgs) -> anyhow::Result<()> {
    let new = retain_pipeline::predict::new_customer(saved, args.horizon, args.max_purchases)
        .map_err(|e| with_flags(e, &[]))?;
    let (expected, probs) = (new.expected_purchases, new.probabilities);
    let shown: f64 = probs.iter().sum();
    eprintln!(
        "a new customer ({}): {expected:.4} purchases expected in the first {} time units; P(0..={} purchases) = {shown:.4}",
        saved.name(),
        args.horizon,
        args.max_purchases
    );
    if args.format == PredictFormat::Json && args.output.is_none() {
        outln!(
            "{}",
            serde_json::json!({
                "model": saved.name(),
                "horizon": args.horizon,
                "expected_purchases": expected,
                "probabilities": probs
                    .iter()
                    .enumerate()
                    .map(|(n, p)| serde_json::json!({"purchases": n, "probability": p}))
                    .collect::<Vec<_>>(),
            })
        )?;
        return Ok(());
    }
    if args.format == PredictFormat::Table && args.output.is_none() {
        outln!(
            "a new customer ({}): {expected} purchases expected in the first {} time units",
            saved.name(),
            args.horizon
        )?;
    }
    // Each row carries the expectation too: CSV and files hold it at full precision.
    let schema = Arc::new(Schema::new(vec![
        Field::new("purchases", DataType::UInt32, false),
        Field::new("probability", DataType::Float64, false),
        Field::new("expected_purchases", DataType::Float64, false),
    ]));
    let rows = probs.len();
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(UInt32Array::from_iter_values(0..=args.max_purchases)),
            Arc::new(Float64Array::from(probs)),
            Arc::new(Float64Array::from(vec![expected; rows])),
        ],
    )?;
    write(&batch, args)
}
