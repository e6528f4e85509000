//! `retain monitor NAME`: how a registered model fares in production: the drift of its newest
//! scoring run from its training data, feature by feature, and the drift of its recent runs.

use clap::Args;
use retain_scoring::monitor::RunDrift;
use retain_store::StoredDrift;

use crate::args::Format;
use crate::fmt::table;
use crate::registry::StoreArgs;

/// Arguments of `retain monitor`.
#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// The registered model's name.
    pub name: String,
    /// Recent runs listed.
    #[arg(long, default_value_t = 10)]
    pub runs: i64,
    #[command(flatten)]
    pub store: StoreArgs,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn run(args: MonitorArgs) -> anyhow::Result<()> {
    let store = args.store.open().await?;
    // The name must be registered: a typo is an error, not an empty report.
    store.versions(&args.name).await?;
    let history = store.drift_of_model(&args.name, args.runs.max(1)).await?;
    let performance = store.performance_of_model(&args.name).await?;
    let decisions = store.decisions_of_model(&args.name).await?;
    if matches!(args.format, Format::Json) {
        let latest = history.first().map(report_of).transpose()?;
        let json = serde_json::json!({
            "model": args.name,
            "drift": latest.map(|(stored, report)| serde_json::json!({
                "run_id": stored.run_id,
                "version": stored.version,
                "as_of": stored.as_of,
                "dataset_drift": stored.dataset_drift,
                "drifted_share": stored.drifted_share,
                "features": report.data.features,
                "prediction": report.prediction,
                "mean_score_reference": report.mean_score_reference,
                "mean_score_current": report.mean_score_current,
            })),
            "runs": history.iter().map(|d| serde_json::json!({
                "run_id": d.run_id,
                "version": d.version,
                "as_of": d.as_of,
                "created_at": d.created_at,
                "dataset_drift": d.dataset_drift,
                "drifted_share": d.drifted_share,
                "prediction_drift": d.prediction_drift,
            })).collect::<Vec<_>>(),
            "performance": performance,
            "decisions": decisions,
        });
        outln!("{}", serde_json::to_string(&json)?)?;
        return Ok(());
    }
    let Some(newest) = history.first() else {
        outln!(
            "{}: no scoring run with a drift report yet (`retain score --model {}` writes one \
             for models trained or fitted by this retain)",
            args.name,
            args.name
        )?;
        return performance_and_decisions(&performance, &decisions);
    };
    let (_, report) = report_of(newest)?;
    out!("{}", drift_text(&args.name, newest, &report))?;
    if history.len() > 1 {
        let rows: Vec<Vec<String>> = history
            .iter()
            .map(|d| {
                vec![
                    d.as_of.clone().unwrap_or_default(),
                    d.run_id.clone(),
                    d.version.to_string(),
                    format!("{:.0}%", 100.0 * d.drifted_share),
                    yes_no(d.dataset_drift).into(),
                    yes_no(d.prediction_drift).into(),
                ]
            })
            .collect();
        outln!("\nrecent runs, newest first:")?;
        out!(
            "{}",
            table(
                &[
                    "as of",
                    "run",
                    "version",
                    "drifted",
                    "data set drift",
                    "prediction drift"
                ],
                &rows
            )
        )?;
    }
    performance_and_decisions(&performance, &decisions)
}

/// The performance time series (realised and estimated, per version) and the champion /
/// challenger decisions, newest last and first.
fn performance_and_decisions(
    performance: &[retain_store::StoredPerformance],
    decisions: &[retain_store::StoredDecision],
) -> anyhow::Result<()> {
    if !performance.is_empty() {
        let metric = |p: &retain_store::StoredPerformance, k: &str| {
            p.metrics[k]
                .as_f64()
                .map(|v| format!("{v:.4}"))
                .unwrap_or_default()
        };
        let rows: Vec<Vec<String>> = performance
            .iter()
            .map(|p| {
                let metrics = if p.metrics.get("auc").is_some() {
                    // An estimate's predicted churn is its churn rate.
                    let predicted = if p.metrics.get("mean_predicted").is_some() {
                        "mean_predicted"
                    } else {
                        "churn_rate"
                    };
                    format!(
                        "AUC {}, log loss {}, churn {} (predicted {})",
                        metric(p, "auc"),
                        metric(p, "log_loss"),
                        metric(p, "churn_rate"),
                        metric(p, predicted)
                    )
                } else {
                    format!(
                        "purchases {} predicted, {} actual; per customer MAE {}",
                        metric(p, "predicted_purchases"),
                        metric(p, "actual_purchases"),
                        metric(p, "purchases_mae")
                    )
                };
                vec![
                    p.as_of.clone(),
                    p.horizon_end.clone(),
                    p.version.to_string(),
                    p.kind.as_str().into(),
                    crate::fmt::thousands(p.customers as u64),
                    metrics,
                ]
            })
            .collect();
        outln!(
            "\nperformance by scoring run (realised once the horizon passed, estimated before):"
        )?;
        out!(
            "{}",
            table(
                &[
                    "as of",
                    "horizon end",
                    "version",
                    "kind",
                    "customers",
                    "metrics"
                ],
                &rows
            )
        )?;
    }
    if !decisions.is_empty() {
        outln!("\nchampion / challenger decisions, newest first:")?;
        for d in decisions {
            outln!(
                "  {} {}: champion {} vs challenger {}: {}",
                d.decided_at,
                d.decision.to_uppercase(),
                d.champion_version,
                d.challenger_version,
                d.evidence["reason"].as_str().unwrap_or_default()
            )?;
        }
    }
    Ok(())
}

fn report_of(stored: &StoredDrift) -> anyhow::Result<(&StoredDrift, RunDrift)> {
    Ok((stored, serde_json::from_value(stored.report.clone())?))
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// A run's drift for people: the verdict, then one line per feature.
pub fn drift_text(model: &str, stored: &StoredDrift, report: &RunDrift) -> String {
    let data = &report.data;
    let mut out = format!(
        "{model} version {}, run {}{}: {} of {} features drifted ({:.0}%; the data set drifts \
         at {:.0}%): {}\n",
        stored.version,
        stored.run_id,
        stored
            .as_of
            .as_ref()
            .map(|d| format!(" as of {d}"))
            .unwrap_or_default(),
        data.drifted_features,
        data.features.len(),
        100.0 * data.drifted_share,
        100.0 * data.drift_share_threshold,
        if data.dataset_drift {
            "DATA SET DRIFT"
        } else {
            "no data set drift"
        }
    );
    let p = &report.prediction;
    out.push_str(&format!(
        "prediction: {} ({} {}), mean score {:.4} at training, {:.4} now\n",
        if p.drift { "DRIFT" } else { "no drift" },
        method_name(p),
        statistic_text(p),
        report.mean_score_reference,
        report.mean_score_current
    ));
    let rows: Vec<Vec<String>> = data
        .features
        .iter()
        .chain(std::iter::once(p))
        .map(|f| {
            vec![
                f.feature.clone(),
                method_name(f).into(),
                statistic_text(f),
                format!("{}", f.threshold),
                yes_no(f.drift).into(),
                f.psi.map(|v| format!("{v:.3}")).unwrap_or_default(),
                f.psi_band
                    .map(|b| format!("{b:?}").to_lowercase())
                    .unwrap_or_default(),
                format!("{:.1}%", 100.0 * f.current_missing_share),
                format!("{:.1}%", 100.0 * f.unseen_share),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "feature",
            "method",
            "statistic",
            "threshold",
            "drift",
            "PSI",
            "PSI band",
            "missing",
            "unseen",
        ],
        &rows,
    ));
    out
}

fn method_name(f: &retain_models::drift::FeatureDrift) -> &'static str {
    use retain_models::drift::Method;
    match f.method {
        Method::Ks => "KS p-value",
        Method::ChiSquare => "chi-square p-value",
        Method::ZTest => "z-test p-value",
        Method::Wasserstein => "Wasserstein (normed)",
        Method::JensenShannon => "Jensen-Shannon",
    }
}

fn statistic_text(f: &retain_models::drift::FeatureDrift) -> String {
    match f.statistic {
        None => "no values".into(),
        Some(s) if f.method.is_test() && s < 1e-4 => format!("{s:.1e}"),
        Some(s) => format!("{s:.4}"),
    }
}
