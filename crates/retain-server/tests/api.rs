//! The HTTP API end to end: a server on a loopback port over a SQLite store in a temporary
//! directory, two registered versions of a churn model, and a real HTTP client.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{start, start_on, start_serving_files, two_customers, Backend, DATA};
use retain_scoring::Scorer;
use retain_server::ServerConfig;
use serde_json::{json, Value};

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
    let Some(server) = start_serving_files(backend, ServerConfig::default()).await else {
        return;
    };
    let file = server.dir.path().join(DATA).join("customers.csv");
    let mut csv = String::from("customer_id,purchases,plan,notes\n");
    for i in 0..250 {
        csv.push_str(&format!(
            "k{i:03},{},{},x\n",
            i % 20,
            ["monthly", "yearly", "two-year"][i % 3]
        ));
    }
    std::fs::write(&file, csv).unwrap();
    let request =
        json!({"model": "churn@production", "customers_file": "customers.csv", "reasons": 2});
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
                if job["state"] != "running" && job["state"] != "queued" {
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

    // A missing file is refused at once (named), and so is an unknown model.
    let (status, refused) = server
        .post(
            "/v1/batch-jobs",
            &server.admin,
            &json!({"model": "churn", "customers_file": "none.csv"}),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["field"], "customers_file");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("none.csv"),
        "{refused}"
    );
    let (status, _) = server
        .post(
            "/v1/batch-jobs",
            &server.admin,
            &json!({"model": "nope", "customers_file": "customers.csv"}),
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
