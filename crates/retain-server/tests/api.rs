//! The HTTP API end to end: a server on a loopback port over a SQLite store in a temporary
//! directory, two registered versions of a churn model, and a real HTTP client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use retain_models::supervised::{ColumnValues, FeatureFrame, GradientBoosting, Task};
use retain_scoring::{FeatureRecipe, ModelArtifact, Scorer, TrainingInfo, ARTIFACT_FORMAT};
use retain_server::{serve, AppState, ServerConfig};
use retain_store::{Scope, Store};
use serde_json::{json, Value};

/// A churn model on 600 customers (few purchases and the monthly plan churn more); `rounds`
/// makes versions differ.
fn artifact(rounds: usize) -> Vec<u8> {
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
    })
    .unwrap()
}

struct Server {
    url: String,
    store: Store,
    admin: String,
    predict: String,
    read: String,
    client: reqwest::Client,
    dir: tempfile::TempDir,
    versions: [Vec<u8>; 2],
}

/// Where a test's store is.
#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    /// A fresh database on the server of RETAIN_TEST_POSTGRES (`.ci/postgres.sh` starts one;
    /// without it the test is skipped locally and fails under CI).
    Postgres,
}

async fn start(config: ServerConfig) -> Server {
    start_on(Backend::Sqlite, config)
        .await
        .expect("SQLite is always there")
}

async fn start_on(backend: Backend, config: ServerConfig) -> Option<Server> {
    let dir = tempfile::tempdir().unwrap();
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
    tokio::spawn(serve(listener, state, std::future::pending()));
    Some(Server {
        url: format!("http://{addr}"),
        store,
        admin,
        predict,
        read,
        client: reqwest::Client::new(),
        dir,
        versions,
    })
}

impl Server {
    /// A GET without a token (service endpoints).
    async fn get_open(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }
}

fn two_customers() -> Value {
    json!({"customers": [
        {"customer_id": "c1", "purchases": 2, "plan": "monthly"},
        {"customer_id": "c2", "purchases": 17, "plan": "two-year"},
    ]})
}

#[tokio::test]
async fn predictions_name_their_version_and_equal_the_library_s() {
    let server = start(ServerConfig::default()).await;
    let (status, body) = server
        .post(
            "/v1/models/churn/predict",
            &server.predict,
            &two_customers(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["model"].as_str(), body["version"].as_i64()),
        (Some("churn"), Some(1))
    );
    assert_eq!(body["alias"], "production");
    let predictions = body["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), 2);
    assert_eq!(predictions[0]["customer_id"], "c1");
    assert_eq!(predictions[0]["label"], "churn");
    assert_eq!(predictions[1]["label"], "stay");
    assert_eq!(
        predictions[0]["reasons"].as_array().unwrap().len(),
        2,
        "both features"
    );
    assert!(predictions[0]["reasons"][0]["contribution"].is_f64());

    // The same numbers as the library gives (JSON carries f64 exactly).
    let scorer = Scorer::from_bytes(&server.versions[0]).unwrap();
    let customers: Vec<serde_json::Map<String, Value>> =
        serde_json::from_value(two_customers()["customers"].clone()).unwrap();
    let direct = scorer.score_json(&customers, 3).unwrap();
    for (served, direct) in predictions.iter().zip(&direct.predictions) {
        assert_eq!(served["score"].as_f64().unwrap(), direct.score);
        assert_eq!(
            served["reasons"][0]["contribution"].as_f64().unwrap(),
            direct.reasons[0].contribution
        );
    }

    // Another version by number or alias; reasons on request.
    let (status, body) = server
        .post(
            "/v1/models/churn/predict?version=2&reasons=1",
            &server.predict,
            &two_customers(),
        )
        .await;
    assert_eq!((status, body["version"].as_i64()), (200, Some(2)));
    assert!(body.get("alias").is_none());
    assert_eq!(
        body["predictions"][0]["reasons"].as_array().unwrap().len(),
        1
    );
    let (status, body) = server
        .post(
            "/v1/models/churn/predict?alias=nope",
            &server.predict,
            &two_customers(),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = server
        .post(
            "/v1/models/churn/predict?version=9",
            &server.predict,
            &two_customers(),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = server
        .post("/v1/models/nope/predict", &server.predict, &two_customers())
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn bad_input_is_refused_with_the_field_named() {
    let server = start(ServerConfig {
        max_body: 4096,
        ..ServerConfig::default()
    })
    .await;
    let predict = |body: Value| {
        let server = &server;
        async move {
            server
                .post("/v1/models/churn/predict", &server.predict, &body)
                .await
        }
    };
    for (body, field, words) in [
        (
            json!({"customers": [{"purchases": 2, "plan": "monthly", "age": 40}]}),
            "customers[0].age",
            "not a feature",
        ),
        (
            json!({"customers": [{"purchases": 2, "plan": "monthly"}, {"purchases": 2}]}),
            "customers[1].plan",
            "missing",
        ),
        (
            json!({"customers": [{"purchases": "two", "plan": "monthly"}]}),
            "customers[0].purchases",
            "expected a number",
        ),
        (
            json!({"customers": [{"purchases": 2, "plan": true}]}),
            "customers[0].plan",
            "expected text",
        ),
        (json!({"customers": []}), "customers", "1 to"),
    ] {
        let (status, error) = predict(body).await;
        assert_eq!(status, 422, "{error}");
        assert_eq!(error["error"]["field"], field, "{error}");
        assert!(
            error["error"]["message"].as_str().unwrap().contains(words),
            "{error}"
        );
        assert_eq!(
            error["error"]["version"], 1,
            "the version that refused is named"
        );
    }
    // The body's shape: 422 naming the field serde could not read.
    let (status, error) = predict(json!({"customer": []})).await;
    assert_eq!(status, 422, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("customer"),
        "{error}"
    );

    // Malformed JSON: 400.
    let response = server
        .client
        .post(format!("{}/v1/models/churn/predict", server.url))
        .bearer_auth(&server.predict)
        .header("content-type", "application/json")
        .body(r#"{"customers": [{"purchases": 2,"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 1"),
        "{error}"
    );

    // Larger than --max-body: 413.
    let many: Vec<Value> = (0..200)
        .map(|i| json!({"customer_id": format!("c{i}"), "purchases": i, "plan": "monthly"}))
        .collect();
    let (status, error) = predict(json!({ "customers": many })).await;
    assert_eq!(status, 413, "{error}");

    // Unknown endpoints: JSON 404.
    let (status, error) = server.get("/v1/nothing", &server.read).await;
    assert_eq!(status, 404);
    assert!(error["error"]["message"].is_string());
}

#[tokio::test]
async fn tokens_and_scopes_guard_every_endpoint() {
    let server = start(ServerConfig::default()).await;
    // No token, a malformed header, an unknown token: 401 with WWW-Authenticate.
    let response = server
        .client
        .post(format!("{}/v1/models/churn/predict", server.url))
        .json(&two_customers())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let response = server
        .client
        .get(format!("{}/v1/models", server.url))
        .header("authorization", format!("Basic {}", server.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let (status, _) = server.get("/v1/models", &"ff".repeat(32)).await;
    assert_eq!(status, 401);

    // Read may list but not predict; predict may predict but not move aliases; admin may.
    let (status, models) = server.get("/v1/models", &server.read).await;
    assert_eq!(status, 200);
    assert_eq!(models[0]["name"], "churn");
    let (status, error) = server
        .post("/v1/models/churn/predict", &server.read, &two_customers())
        .await;
    assert_eq!(status, 403, "{error}");
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("needs predict"));
    let (status, _) = server
        .post(
            "/v1/models/churn/aliases/production",
            &server.predict,
            &json!({"version": 2}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = server
        .post(
            "/v1/batch-jobs",
            &server.predict,
            &json!({"model": "churn", "customers_file": "x.csv"}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, moved) = server
        .post(
            "/v1/models/churn/aliases/challenger",
            &server.admin,
            &json!({"version": 2}),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["version"], 2);

    // Service endpoints need no token.
    let health: Value = server.get_open("/healthz").await.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["models"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn moving_an_alias_under_load_fails_no_request() {
    moving_an_alias_under_load(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn moving_an_alias_under_load_fails_no_request_on_postgres() {
    moving_an_alias_under_load(Backend::Postgres).await;
}

async fn moving_an_alias_under_load(backend: Backend) {
    let config = ServerConfig {
        alias_refresh: Duration::from_millis(100),
        ..ServerConfig::default()
    };
    let Some(server) = start_on(backend, config).await else {
        return;
    };
    let server = Arc::new(server);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (server, stop) = (server.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let mut seen = [0usize; 2];
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (status, body) = server
                    .post(
                        "/v1/models/churn/predict",
                        &server.predict,
                        &two_customers(),
                    )
                    .await;
                assert_eq!(status, 200, "a request failed during a move: {body}");
                let version = body["version"].as_i64().unwrap();
                assert!(version == 1 || version == 2);
                seen[version as usize - 1] += 1;
            }
            seen
        }));
    }
    // Move production back and forth while the clients run.
    for i in 0..20 {
        let version = 2 - (i % 2);
        let (status, body) = server
            .post(
                "/v1/models/churn/aliases/production",
                &server.admin,
                &json!({"version": version}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Last move: to version 2; from now every answer names it.
    let (status, _) = server
        .post(
            "/v1/models/churn/aliases/production",
            &server.admin,
            &json!({"version": 2}),
        )
        .await;
    assert_eq!(status, 200);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut seen = [0usize; 2];
    for client in clients {
        let s = client.await.unwrap();
        seen[0] += s[0];
        seen[1] += s[1];
    }
    assert!(
        seen[0] > 0 && seen[1] > 0,
        "both versions answered: {seen:?}"
    );
    let (_, body) = server
        .post(
            "/v1/models/churn/predict",
            &server.predict,
            &two_customers(),
        )
        .await;
    assert_eq!(body["version"], 2);

    // A move made in the store by another process (`retain registry promote`) reaches the
    // running server within its refresh interval, without a restart.
    server
        .store
        .move_alias("churn", "production", 1)
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let (_, body) = server
            .post(
                "/v1/models/churn/predict",
                &server.predict,
                &two_customers(),
            )
            .await;
        if body["version"] == 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the move never arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn batch_jobs_store_runs_once_and_predictions_are_queryable() {
    batch_jobs(Backend::Sqlite).await;
}

#[tokio::test]
async fn batch_jobs_store_runs_once_and_predictions_are_queryable_on_postgres() {
    batch_jobs(Backend::Postgres).await;
}

async fn batch_jobs(backend: Backend) {
    let Some(server) = start_on(backend, ServerConfig::default()).await else {
        return;
    };
    let file = server.dir.path().join("customers.csv");
    let mut csv = String::from("customer_id,purchases,plan,notes\n");
    for i in 0..250 {
        csv.push_str(&format!(
            "k{i:03},{},{},x\n",
            i % 20,
            ["monthly", "yearly", "two-year"][i % 3]
        ));
    }
    std::fs::write(&file, csv).unwrap();
    let request = json!({"model": "churn@production", "customers_file": file, "reasons": 2});
    let wait = |job: Value| {
        let server = &server;
        async move {
            let id = job["job_id"].as_str().unwrap().to_string();
            let started = Instant::now();
            loop {
                let (status, job) = server
                    .get(&format!("/v1/batch-jobs/{id}"), &server.read)
                    .await;
                assert_eq!(status, 200);
                if job["state"] != "running" {
                    return job;
                }
                assert!(started.elapsed() < Duration::from_secs(30));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let (status, job) = server.post("/v1/batch-jobs", &server.admin, &request).await;
    assert_eq!(status, 202, "{job}");
    let job = wait(job).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["version"], 1);
    assert_eq!(job["already_stored"], false);
    assert_eq!(job["run"]["customers"], 250);
    let run_id = job["run"]["run_id"].as_str().unwrap().to_string();

    // Again: the same run, nothing written.
    let (_, again) = server.post("/v1/batch-jobs", &server.admin, &request).await;
    let again = wait(again).await;
    assert_eq!(again["already_stored"], true);
    assert_eq!(again["run"]["run_id"], run_id.as_str());
    let (_, runs) = server.get("/v1/runs", &server.read).await;
    assert_eq!(runs.as_array().unwrap().len(), 1);

    // By run, a page at a time, in customer order.
    let (status, page) = server
        .get(&format!("/v1/runs/{run_id}?limit=100"), &server.read)
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["predictions"].as_array().unwrap().len(), 100);
    assert_eq!(page["predictions"][0]["customer_id"], "k000");
    assert_eq!(page["next_after"], "k099");
    let (_, last) = server
        .get(
            &format!("/v1/runs/{run_id}?after=k199&limit=100"),
            &server.read,
        )
        .await;
    assert_eq!(last["predictions"].as_array().unwrap().len(), 50);
    assert!(last.get("next_after").is_none());
    assert_eq!(
        last["predictions"][0]["reasons"].as_array().unwrap().len(),
        2
    );

    // By customer: the stored score is the one the API gives now.
    let (_, stored) = server
        .get("/v1/customers/k004/predictions", &server.read)
        .await;
    assert_eq!(stored.as_array().unwrap().len(), 1);
    assert_eq!(stored[0]["run"]["run_id"], run_id.as_str());
    let (_, live) = server
        .post(
            "/v1/models/churn/predict",
            &server.predict,
            &json!({"customers": [{"customer_id": "k004", "purchases": 4, "plan": "yearly"}]}),
        )
        .await;
    assert_eq!(
        stored[0]["prediction"]["score"],
        live["predictions"][0]["score"]
    );

    // A missing file fails the job (named); an unknown model is refused at once.
    let (_, job) = server
        .post(
            "/v1/batch-jobs",
            &server.admin,
            &json!({"model": "churn", "customers_file": server.dir.path().join("none.csv")}),
        )
        .await;
    let job = wait(job).await;
    assert_eq!(job["state"], "failed");
    assert!(job["error"].as_str().unwrap().contains("none.csv"), "{job}");
    let (status, _) = server
        .post(
            "/v1/batch-jobs",
            &server.admin,
            &json!({"model": "nope", "customers_file": file}),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn metrics_and_the_openapi_document_describe_the_service() {
    let server = start(ServerConfig::default()).await;
    for _ in 0..3 {
        server
            .post(
                "/v1/models/churn/predict",
                &server.predict,
                &two_customers(),
            )
            .await;
    }
    server
        .post("/v1/models/churn/predict", &server.read, &two_customers())
        .await;
    let text = server.get_open("/metrics").await.text().await.unwrap();
    assert!(
        text.contains(r#"retain_predictions_total{model="churn",version="1"} 6"#),
        "{text}"
    );
    assert!(text.contains(
        r#"retain_http_requests_total{method="POST",route="/v1/models/{name}/predict",status="200"} 3"#
    ));
    assert!(text.contains(
        r#"retain_http_requests_total{method="POST",route="/v1/models/{name}/predict",status="403"} 1"#
    ));
    assert!(text.contains("retain_http_request_duration_seconds_bucket"));

    let doc: Value = server.get_open("/openapi.json").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/v1/models/{name}/predict",
        "/v1/models/{name}/aliases/{alias}",
        "/v1/batch-jobs",
        "/v1/runs/{run_id}",
        "/v1/customers/{customer_id}/predictions",
    ] {
        assert!(paths.contains_key(path), "{path} is not documented");
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for schema in [
        "PredictResponse",
        "Prediction",
        "Reason",
        "ErrorBody",
        "BatchJob",
    ] {
        assert!(schemas.contains_key(schema), "{schema} is not documented");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
