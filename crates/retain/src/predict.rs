//! `retain predict`: a fitted BG/NBD model applied to every customer: the probability that the
//! customer is still active and the purchases to expect over a horizon.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Args;
use retain_data::datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use retain_data::datafusion::arrow::datatypes::{DataType, Field, Schema};
use retain_models::btyd::{score_customers, BgNbd};

use crate::fit::SummaryInput;
use crate::fmt::thousands;

/// Arguments of `retain predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// A model saved by `retain fit bgnbd -o FILE`.
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    #[command(flatten)]
    pub input: SummaryInput,
    /// Length of the prediction period, in the summary's time unit.
    #[arg(long, default_value_t = 39.0)]
    pub horizon: f64,
    /// Output file (.csv, .parquet, .jsonl). Default: CSV on stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub async fn run(args: PredictArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.model)
        .with_context(|| format!("reading {}", args.model.display()))?;
    let saved: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a saved model (JSON)", args.model.display()))?;
    if saved["model"] != "bgnbd" {
        bail!(
            "{}: expected a BG/NBD model (\"model\": \"bgnbd\"), found {}",
            args.model.display(),
            saved["model"]
        );
    }
    let model: BgNbd = serde_json::from_value(saved["params"].clone()).with_context(|| {
        format!(
            "{}: the BG/NBD parameters r, alpha, a, b",
            args.model.display()
        )
    })?;
    if !(args.horizon.is_finite() && args.horizon >= 0.0) {
        bail!("--horizon must be >= 0, found {}", args.horizon);
    }
    let c = args.input.load(false).await?;
    let n = c.frequency.len();
    let scores = score_customers(&model, (&c.frequency, &c.recency, &c.t), args.horizon, None)?;
    let (p_alive, expected) = (scores.p_alive, scores.expected_purchases);
    let ids: Vec<String> = c
        .ids
        .unwrap_or_else(|| (1..=n).map(|i| i.to_string()).collect());
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("frequency", DataType::Float64, false),
        Field::new("recency", DataType::Float64, false),
        Field::new("T", DataType::Float64, false),
        Field::new("p_alive", DataType::Float64, false),
        Field::new("expected_purchases", DataType::Float64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ids)),
        Arc::new(Float64Array::from(c.frequency)),
        Arc::new(Float64Array::from(c.recency)),
        Arc::new(Float64Array::from(c.t)),
        Arc::new(Float64Array::from(p_alive.clone())),
        Arc::new(Float64Array::from(expected.clone())),
    ];
    let batch = RecordBatch::try_new(schema, columns)?;
    eprintln!(
        "{} customers: expected purchases over {} time units {:.1} in all, mean P(alive) {:.3}",
        thousands(n as u64),
        args.horizon,
        expected.iter().sum::<f64>(),
        p_alive.iter().sum::<f64>() / n as f64
    );
    crate::fmt::write_result(&batch, args.output.as_deref())?;
    Ok(())
}
