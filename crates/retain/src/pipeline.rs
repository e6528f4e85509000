//! `retain run PIPELINE.toml`: one run of a pipeline file (read, cutoff, models, scoring with
//! drift, analysis), found instead of redone when its inputs ran before; `retain run --list`:
//! the runs stored, newest first.

use std::path::PathBuf;

use clap::Args;
use retain_pipeline::pipeline::{run_pipeline, Pipeline, RunOptions};
use retain_store::PipelineRun;

use crate::args::Format;
use crate::fmt::table;
use crate::registry::StoreArgs;

/// Arguments of `retain run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The pipeline file (TOML).
    #[arg(required_unless_present = "list")]
    pub pipeline: Option<PathBuf>,
    /// List the stored runs (of this pipeline's name when a file is given) instead of running.
    #[arg(long)]
    pub list: bool,
    /// Runs listed at most.
    #[arg(long, default_value_t = 20)]
    pub limit: i64,
    #[command(flatten)]
    pub store: StoreArgs,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let store = args.store.open().await?;
    let pipeline = args.pipeline.as_deref().map(Pipeline::read).transpose()?;
    if args.list {
        let runs = store
            .pipeline_runs(
                pipeline.as_ref().map(|p| p.name.as_str()),
                args.limit.max(1),
            )
            .await?;
        return match args.format {
            Format::Json => Ok(outln!("{}", serde_json::to_string(&runs)?)?),
            Format::Table => list(&runs),
        };
    }
    let pipeline = pipeline.expect("clap requires a file unless --list");
    let report = run_pipeline(&store, &pipeline, &RunOptions::default()).await?;
    if matches!(args.format, Format::Json) {
        outln!(
            "{}",
            serde_json::json!({
                "run": report.run,
                "ran": report.ran,
                "resumed_steps": report.resumed_steps,
                "steps": report.steps,
            })
        )?;
        return Ok(());
    }
    let run = &report.run;
    if !report.ran {
        outln!(
            "pipeline {}: these inputs (cutoff {}) ran before as run {} ({}); nothing done",
            run.pipeline,
            run.cutoff,
            run.run_id,
            run.finished_at.as_deref().unwrap_or(&run.started_at)
        )?;
        return Ok(());
    }
    outln!(
        "pipeline {} run {}: {} at cutoff {} in {:.1} s{}",
        run.pipeline,
        run.run_id,
        run.status.as_str(),
        run.cutoff,
        run.seconds.unwrap_or(0.0),
        if report.resumed_steps > 0 {
            format!(
                " (completed an interrupted run: {} steps were done)",
                report.resumed_steps
            )
        } else {
            String::new()
        }
    )?;
    if let Some(rows) = rows_line(&run.rows) {
        outln!("{rows}")?;
    }
    for step in &report.steps {
        outln!("  {}: {}", step.step, step_text(&step.output))?;
    }
    Ok(())
}

/// The row accounting of a run's input, as `retain` prints it for every command.
fn rows_line(rows: &serde_json::Value) -> Option<String> {
    let n = |k: &str| rows[k].as_u64().unwrap_or(0);
    rows.get("rows_read").map(|_| {
        format!(
            "rows read {}: used {}, rejected {}, excluded {}",
            crate::fmt::thousands(n("rows_read")),
            crate::fmt::thousands(n("rows_used")),
            crate::fmt::thousands(n("rows_rejected")),
            crate::fmt::thousands(
                n("excluded_no_customer") + n("excluded_negative_amount") + n("excluded_after_end")
            )
        )
    })
}

fn step_text(output: &serde_json::Value) -> String {
    if let Some(action) = output["action"].as_str() {
        let why = output["reason"]
            .as_str()
            .or(output["retrain"].as_str())
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        return format!("{action} version {}{why}", output["version"]);
    }
    if let Some(evaluated) = output["evaluated"].as_array() {
        return match evaluated.len() {
            0 => "no past run whose horizon has passed".into(),
            n => format!("realised performance of {n} past run(s)"),
        };
    }
    if let Some(run) = output["run_id"].as_str() {
        let drift = match (
            output["dataset_drift"].as_bool(),
            output["drifted_features"].as_u64(),
            output["features"].as_u64(),
        ) {
            (Some(true), Some(n), Some(of)) => {
                format!("; DATA SET DRIFT ({n} of {of} features drifted)")
            }
            (Some(false), Some(n), Some(of)) => {
                format!("; no data set drift ({n} of {of} features drifted)")
            }
            _ => String::new(),
        };
        return format!(
            "version {} scored {} customers, run {run}{drift}",
            output["version"],
            crate::fmt::thousands(output["customers"].as_u64().unwrap_or(0))
        );
    }
    if let Some(id) = output["analysis_id"].as_str() {
        return format!(
            "analysis {id}, {} customers",
            crate::fmt::thousands(output["customers"].as_u64().unwrap_or(0))
        );
    }
    output.to_string()
}

fn list(runs: &[PipelineRun]) -> anyhow::Result<()> {
    if runs.is_empty() {
        outln!("no pipeline runs stored")?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.started_at.clone(),
                r.pipeline.clone(),
                r.run_id.clone(),
                r.cutoff.clone(),
                r.status.as_str().into(),
                r.seconds.map(|s| format!("{s:.1}")).unwrap_or_default(),
                crate::fmt::thousands(r.rows["rows_used"].as_u64().unwrap_or(0)),
                r.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    out!(
        "{}",
        table(
            &[
                "started",
                "pipeline",
                "run",
                "cutoff",
                "status",
                "seconds",
                "rows used",
                "error"
            ],
            &rows
        )
    )?;
    Ok(())
}

/// Arguments of `retain retrain`.
#[derive(Debug, Args)]
pub struct RetrainArgs {
    /// The registered model (one of the pipeline file's models).
    pub name: String,
    /// The pipeline file that defines the model and its data.
    #[arg(long, value_name = "FILE")]
    pub pipeline: PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn retrain(args: RetrainArgs) -> anyhow::Result<()> {
    let store = args.store.open().await?;
    let pipeline = Pipeline::read(&args.pipeline)?;
    let outcome = retain_pipeline::pipeline::retrain_model(&store, &pipeline, &args.name).await?;
    if matches!(args.format, Format::Json) {
        // The decision with its evidence, or why retraining waits.
        let json = match outcome.get("evidence") {
            Some(evidence) => evidence.clone(),
            None => outcome,
        };
        outln!("{}", serde_json::to_string(&json)?)?;
        return Ok(());
    }
    let Some(evidence) = outcome.get("evidence") else {
        outln!(
            "{}: {}",
            args.name,
            outcome["retrain"].as_str().unwrap_or("nothing to do")
        )?;
        return Ok(());
    };
    outln!(
        "{}: {} (window {} to {})",
        args.name,
        evidence["decision"]
            .as_str()
            .unwrap_or_default()
            .to_uppercase(),
        evidence["window"][0].as_str().unwrap_or_default(),
        evidence["window"][1].as_str().unwrap_or_default()
    )?;
    outln!("  {}", evidence["reason"].as_str().unwrap_or_default())?;
    let metric = evidence["margins"]["metric"].as_str().unwrap_or_default();
    for role in ["champion", "challenger"] {
        outln!(
            "  {role} version {}: {metric} {:.4}",
            evidence[role]["version"],
            evidence[role]["score"].as_f64().unwrap_or(f64::NAN)
        )?;
    }
    for check in evidence["checks"].as_array().into_iter().flatten() {
        outln!(
            "  check {}: {} ({})",
            check["check"].as_str().unwrap_or_default(),
            if check["passed"] == true {
                "passed"
            } else {
                "FAILED"
            },
            check["detail"].as_str().unwrap_or_default()
        )?;
    }
    if evidence["decision"] == "promoted" {
        outln!(
            "  production → version {}; `retain registry rollback {}` undoes it",
            evidence["challenger"]["version"],
            args.name
        )?;
    }
    Ok(())
}
