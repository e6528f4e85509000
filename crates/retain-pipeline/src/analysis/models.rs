//! The models page: every registered version with its aliases and headline metrics. Built from
//! the registry when the page is opened (a few rows), not stored with an analysis.

use retain_store::ModelVersion;
use serde_json::{json, Value};

use super::page::*;

/// The numbers of a version's metrics worth a column: the top-level numbers, and the mean of
/// `{mean, sd}` pairs (cross-validated metrics).
fn headline_metrics(metrics: &Value) -> Vec<(String, f64)> {
    let Some(map) = metrics.as_object() else {
        return vec![];
    };
    map.iter()
        .filter_map(|(k, v)| match v {
            Value::Number(n) => n.as_f64().map(|x| (k.clone(), x)),
            Value::Object(o) => o
                .get("mean")
                .and_then(Value::as_f64)
                .map(|x| (k.clone(), x)),
            _ => None,
        })
        .collect()
}

/// The page of `versions` (every model's, oldest first within a model).
pub fn models_page(versions: &[ModelVersion]) -> Page {
    let mut table = Table::new(&[
        ("model", "Model", Format::Text),
        ("version", "Version", Format::Int),
        ("kind", "Kind", Format::Text),
        ("aliases", "Aliases", Format::Text),
        ("created_at", "Registered", Format::Text),
        ("metrics", "Metrics", Format::Text),
        ("sha256", "SHA-256", Format::Text),
    ]);
    for v in versions {
        let metrics = headline_metrics(&v.info.metrics)
            .iter()
            .map(|(k, x)| format!("{k} {}", people(*x, Format::Number)))
            .collect::<Vec<_>>()
            .join(", ");
        table.push(vec![
            json!(v.name),
            json!(v.version),
            json!(v.info.kind),
            json!(v.aliases.join(", ")),
            json!(v.created_at),
            json!(metrics),
            json!(v.sha256[..12.min(v.sha256.len())]),
        ]);
    }
    let mut models: Vec<&str> = versions.iter().map(|v| v.name.as_str()).collect();
    models.dedup();
    let counts: Vec<f64> = models
        .iter()
        .map(|m| versions.iter().filter(|v| v.name == *m).count() as f64)
        .collect();
    Page {
        page: "models".into(),
        title: "Models".into(),
        subtitle: format!(
            "{} registered models, {} versions",
            models.len(),
            versions.len()
        ),
        notes: if versions.is_empty() {
            vec!["No model is registered yet: `retain registry register NAME FILE`.".into()]
        } else {
            vec![]
        },
        filters: None,
        panels: vec![Panel {
            id: "registered-versions".into(),
            title: "Registered versions".into(),
            alt: format!(
                "Bar chart of the number of versions of each of {} models: {}.",
                models.len(),
                models
                    .iter()
                    .zip(&counts)
                    .map(|(m, c)| format!("{m} {c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            caption: Some("Aliases are what predictions use by default (`production`).".into()),
            width: Width::Full,
            chart: (!models.is_empty()).then(|| Chart::Bar {
                categories: models.iter().map(|m| m.to_string()).collect(),
                series: vec![Series::new("versions", counts.iter().copied())],
                stacked: false,
                horizontal: true,
                x_label: "model".into(),
                y_label: "versions".into(),
                format: Format::Int,
            }),
            table,
        }],
    }
}
