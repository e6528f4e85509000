//! `/metrics` in Prometheus' text format: requests by route and status, their latency, and
//! predictions by model version. One registry per server (no process-wide recorder), so tests
//! can run several servers side by side.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::AppState;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    model: String,
    version: i64,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
}

type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    predictions: Family<VersionLabels, Counter>,
    loaded_versions: Gauge,
    drifted_share: Family<ModelLabels, FloatGauge>,
    dataset_drift: Family<ModelLabels, Gauge>,
    prediction_drift: Family<ModelLabels, Gauge>,
}

fn latency_histogram() -> Histogram {
    // 50 µs to ~1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("retain");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency =
            Family::<RouteLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
        let predictions = Family::<VersionLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            latency.clone(),
        );
        registry.register(
            "predictions",
            "Customers scored, by model version",
            predictions.clone(),
        );
        let loaded_versions = Gauge::default();
        registry.register(
            "loaded_model_versions",
            "Model versions loaded to answer (aliased ones and a few recently used)",
            loaded_versions.clone(),
        );
        let drifted_share = Family::<ModelLabels, FloatGauge>::default();
        registry.register(
            "model_drifted_feature_share",
            "Share of a model's features that drifted from its training data in its newest scoring run",
            drifted_share.clone(),
        );
        let dataset_drift = Family::<ModelLabels, Gauge>::default();
        registry.register(
            "model_dataset_drift",
            "1 when a model's newest scoring run drifted as a data set (half its features or more)",
            dataset_drift.clone(),
        );
        let prediction_drift = Family::<ModelLabels, Gauge>::default();
        registry.register(
            "model_prediction_drift",
            "1 when a model's scores in its newest scoring run drifted from its training scores",
            prediction_drift.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            predictions,
            loaded_versions,
            drifted_share,
            dataset_drift,
            prediction_drift,
        }
    }
}

impl Metrics {
    pub fn count_predictions(&self, model: &str, version: i64, customers: usize) {
        self.predictions
            .get_or_create(&VersionLabels {
                model: model.to_string(),
                version,
            })
            .inc_by(customers as u64);
    }

    /// The newest drift report of each model, as gauges (one label set per registered model
    /// with a report: bounded by the registry, not by requests).
    pub fn set_drift(&self, reports: &[retain_store::StoredDrift]) {
        for report in reports {
            let labels = ModelLabels {
                model: report.model.clone(),
            };
            self.drifted_share
                .get_or_create(&labels)
                .set(report.drifted_share);
            self.dataset_drift
                .get_or_create(&labels)
                .set(i64::from(report.dataset_drift));
            self.prediction_drift
                .get_or_create(&labels)
                .set(i64::from(report.prediction_drift));
        }
    }

    pub fn set_loaded_versions(&self, loaded: usize) {
        self.loaded_versions.set(loaded as i64);
    }

    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String does not fail");
        text
    }
}

/// Counts and times every request under its route pattern (`/v1/models/{name}/predict`, not
/// each name: the label set stays small).
pub async fn track(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    // The methods HTTP defines; any other a client makes up is counted as one, so that no
    // client can add label sets (memory) without bound.
    let method = match request.method().as_str() {
        m @ ("GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS" | "TRACE"
        | "CONNECT") => m.to_string(),
        _ => "other".to_string(),
    };
    let started = Instant::now();
    let response = next.run(request).await;
    let metrics = &state.metrics;
    metrics
        .latency
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}
