//! What the API tests share: a server on a loopback port over a store (SQLite in a temporary
//! directory, or PostgreSQL), two registered versions of a churn model, three tokens (admin,
//! predict, read) and a real HTTP client.
#![allow(dead_code)]

use std::net::SocketAddr;

use retain_models::supervised::{ColumnValues, FeatureFrame, GradientBoosting, Task};
use retain_scoring::{FeatureRecipe, ModelArtifact, TrainingInfo, ARTIFACT_FORMAT};
use retain_server::{serve, AppState, ServerConfig};
use retain_store::{Scope, Store};
use serde_json::{json, Value};

/// A churn model on 600 customers (few purchases and the monthly plan churn more); `rounds`
/// makes versions differ.
pub fn artifact(rounds: usize) -> Vec<u8> {
    let n = 600;
    let purchases: Vec<f64> = (0..n).map(|i| (i % 20) as f64).collect();
    let plans: Vec<&str> = (0..n)
        .map(|i| ["monthly", "yearly", "two-year"][i % 3])
        .collect();
    let y: Vec<f64> = (0..n)
        .map(|i| {
            f64::from(u8::from(
                purchases[i] < 6.0 || (plans[i] == "monthly" && i % 2 == 0),
            ))
        })
        .collect();
    let mut frame = FeatureFrame::new(n);
    frame
        .push("purchases", ColumnValues::Numbers(purchases))
        .unwrap();
    frame
        .push(
            "plan",
            ColumnValues::categories(plans.into_iter().map(Some)),
        )
        .unwrap();
    let boosting = GradientBoosting {
        rounds,
        learning_rate: 0.3,
        ..GradientBoosting::new(Task::Churn)
    };
    let model = boosting.fit(&frame, &y).unwrap();
    let training_sample = Some(retain_scoring::monitor::TrainingSample::of(
        &frame,
        &model.predict(&frame).unwrap().score,
    ));
    serde_json::to_vec(&ModelArtifact {
        format: ARTIFACT_FORMAT.into(),
        task: Task::Churn,
        target: "column churned".into(),
        recipe: FeatureRecipe::Table {
            id_col: Some("customer_id".into()),
        },
        training: TrainingInfo {
            rows: n,
            features: 2,
            label_mean: y.iter().sum::<f64>() / n as f64,
            cutoff: None,
            sources: vec!["generated".into()],
            folds: 2,
            cv: Default::default(),
            trained_at_unix: 0,
            data_fingerprint: "00".repeat(32),
            boosting,
        },
        model,
        training_sample,
    })
    .unwrap()
}

pub struct Server {
    pub url: String,
    pub store: Store,
    pub admin: String,
    pub predict: String,
    pub read: String,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
    pub versions: [Vec<u8>; 2],
}

/// Where a test's store is.
#[derive(Clone, Copy)]
pub enum Backend {
    Sqlite,
    /// A fresh database on the server of RETAIN_TEST_POSTGRES (`.ci/postgres.sh` starts one;
    /// without it the test is skipped locally and fails under CI).
    Postgres,
}

pub async fn start(config: ServerConfig) -> Server {
    start_on(Backend::Sqlite, config)
        .await
        .expect("SQLite is always there")
}

/// The folder under a test server's directory that [`start_serving_files`] serves files from.
pub const DATA: &str = "data";

/// A server whose batch jobs read files in `DATA` under its directory.
pub async fn start_serving_files(backend: Backend, config: ServerConfig) -> Option<Server> {
    start_in(backend, config, true, std::future::pending())
        .await
        .map(|(server, _)| server)
}

pub async fn start_on(backend: Backend, config: ServerConfig) -> Option<Server> {
    start_in(backend, config, false, std::future::pending())
        .await
        .map(|(server, _)| server)
}

/// A server (SQLite, serving files) that stops when `shutdown` completes; its task ends when
/// it has stopped.
pub async fn start_stoppable(
    config: ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> (Server, tokio::task::JoinHandle<std::io::Result<()>>) {
    start_in(Backend::Sqlite, config, true, shutdown)
        .await
        .expect("SQLite is always there")
}

async fn start_in(
    backend: Backend,
    mut config: ServerConfig,
    serve_files: bool,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Option<(Server, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join(DATA);
    std::fs::create_dir(&data).unwrap();
    if serve_files {
        config.data_dir = Some(retain_server::DataDir::new(&data, 64 << 20).unwrap());
    }
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("retain.db").display()),
        Backend::Postgres => {
            let Ok(server) = std::env::var("RETAIN_TEST_POSTGRES") else {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI runs the API tests on PostgreSQL too: set RETAIN_TEST_POSTGRES"
                );
                eprintln!("RETAIN_TEST_POSTGRES not set: PostgreSQL run skipped");
                return None;
            };
            let name = format!(
                "retain_api_{}_{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            );
            retain_store::create_postgres_database(&server, &name)
                .await
                .unwrap()
        }
    };
    let store = Store::open(&url).await.unwrap();
    let versions = [artifact(10), artifact(40)];
    for bytes in &versions {
        let info = retain_scoring::Artifact::from_bytes(bytes)
            .unwrap()
            .describe();
        store.register("churn", bytes, &info).await.unwrap();
    }
    store.move_alias("churn", "production", 1).await.unwrap();
    let admin = store.create_token("ops", Scope::Admin).await.unwrap();
    let predict = store.create_token("crm", Scope::Predict).await.unwrap();
    let read = store.create_token("dashboard", Scope::Read).await.unwrap();
    let state = AppState::new(store.clone(), config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let serving = tokio::spawn(serve(listener, state, shutdown));
    let server = Server {
        url: format!("http://{addr}"),
        store,
        admin,
        predict,
        read,
        client: reqwest::Client::new(),
        dir,
        versions,
    };
    Some((server, serving))
}

impl Server {
    /// A GET without a token (service endpoints).
    pub async fn get_open(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
    }

    /// A request with `token`, and a JSON body when given: the status and the JSON answer.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(reqwest::Method::DELETE, path, token, None).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, token, None).await
    }
}

pub fn two_customers() -> Value {
    json!({"customers": [
        {"customer_id": "c1", "purchases": 2, "plan": "monthly"},
        {"customer_id": "c2", "purchases": 17, "plan": "two-year"},
    ]})
}
