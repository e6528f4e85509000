//! The server against a hostile client and an unlucky operator: files outside the data folder,
//! a file that never ends, look-ups that would fill memory, slow and half-sent requests, too
//! many connections, stopping with work in flight, and the small protocol faults clients trip
//! on. Each test fails on the server as it was before these were fixed.

mod common;

use std::time::{Duration, Instant};

use common::{start, start_serving_files, Backend, Server, DATA};
use retain_server::{Limits, ServerConfig};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A job's state once it has finished.
async fn finished(server: &Server, job: &Value) -> Value {
    let id = job["job_id"].as_str().expect("a job id").to_string();
    let started = Instant::now();
    loop {
        let (status, job) = server
            .get(&format!("/v1/batch-jobs/{id}"), &server.read)
            .await;
        assert_eq!(status, 200, "{job}");
        if !matches!(job["state"].as_str(), Some("queued" | "running")) {
            return job;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{job}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn customers_csv(rows: usize) -> String {
    let mut csv = String::with_capacity(rows * 24);
    csv.push_str("customer_id,purchases,plan\n");
    for i in 0..rows {
        csv.push_str(&format!(
            "k{i:07},{},{}\n",
            i % 20,
            ["monthly", "yearly", "two-year"][i % 3]
        ));
    }
    csv
}

#[tokio::test]
async fn batch_jobs_read_only_regular_files_inside_the_data_folder() {
    // Without a data folder, no job reads a path.
    let closed = start(ServerConfig::default()).await;
    let (status, body) = closed
        .post(
            "/v1/batch-jobs",
            &closed.admin,
            &json!({"model": "churn", "customers_file": "/etc/passwd"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("--data-dir"));

    let server = start_serving_files(Backend::Sqlite, ServerConfig::default())
        .await
        .unwrap();
    let data = server.dir.path().join(DATA);
    std::fs::write(server.dir.path().join("secret.csv"), "root:SECRET\n").unwrap();
    std::os::unix::fs::symlink(server.dir.path().join("secret.csv"), data.join("link.csv"))
        .unwrap();
    std::os::unix::fs::symlink("/dev/zero", data.join("zero.csv")).unwrap();
    std::fs::create_dir(data.join("folder.csv")).unwrap();
    let mut answers = Vec::new();
    for name in [
        "/etc/shadow",
        "/proc/self/environ",
        "../../etc/passwd",
        "../secret.csv",
        "link.csv",
        "zero.csv",
        "/dev/zero",
    ] {
        let (status, body) = server
            .post(
                "/v1/batch-jobs",
                &server.admin,
                &json!({"model": "churn", "customers_file": name}),
            )
            .await;
        assert_eq!(status, 422, "{name}: {body}");
        assert_eq!(body["error"]["field"], "customers_file");
        let message = body["error"]["message"].as_str().unwrap().to_string();
        assert!(
            !message.contains("SECRET") && !message.contains("root"),
            "{message}"
        );
        // One answer for whatever lies outside: it tells nothing of the disk.
        answers.push(message.replace(&format!("{name:?}"), "NAME"));
    }
    answers.dedup();
    assert_eq!(answers.len(), 1, "{answers:?}");
    let (status, body) = server
        .post(
            "/v1/batch-jobs",
            &server.admin,
            &json!({"model": "churn", "customers_file": "folder.csv"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    // Nothing was queued for any of them.
    let (_, jobs) = server.get("/v1/batch-jobs", &server.read).await;
    assert_eq!(jobs.as_array().unwrap().len(), 0);

    // A file in the folder with a bad value: the job fails saying where and what was expected,
    // never what the file holds.
    std::fs::write(
        data.join("bad.csv"),
        "customer_id,purchases,plan\nk1,3,monthly\nk2,TOPSECRET,yearly\n",
    )
    .unwrap();
    let (status, job) = server
        .post(
            "/v1/batch-jobs",
            &server.admin,
            &json!({"model": "churn", "customers_file": "bad.csv"}),
        )
        .await;
    assert_eq!(status, 202, "{job}");
    let job = finished(&server, &job).await;
    assert_eq!(job["state"], "failed", "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(
        error.contains("bad.csv") && error.contains("purchases"),
        "{error}"
    );
    assert!(!error.contains("TOPSECRET"), "{error}");
    assert!(
        !error.contains(&server.dir.path().display().to_string()),
        "the server's own paths are not shown: {error}"
    );
}

#[tokio::test]
async fn batch_jobs_take_customers_in_the_request() {
    let server = start(ServerConfig::default()).await;
    let request = json!({"model": "churn", "reasons": 1, "customers": [
        {"customer_id": "b1", "purchases": 2, "plan": "monthly"},
        {"customer_id": "b2", "purchases": 12, "plan": "yearly"},
    ]});
    let (status, job) = server.post("/v1/batch-jobs", &server.admin, &request).await;
    assert_eq!(status, 202, "{job}");
    assert!(job.get("customers_file").is_none());
    let job = finished(&server, &job).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["run"]["customers"], 2);
    let (_, again) = server.post("/v1/batch-jobs", &server.admin, &request).await;
    let again = finished(&server, &again).await;
    assert_eq!(again["already_stored"], true);
    assert_eq!(again["run"]["run_id"], job["run"]["run_id"]);
    let (_, stored) = server
        .get("/v1/customers/b2/predictions", &server.read)
        .await;
    assert_eq!(
        stored[0]["prediction"]["reasons"].as_array().unwrap().len(),
        1
    );

    // Each stored prediction needs its customer; exactly one source of customers.
    let (_, job) = server
        .post(
            "/v1/batch-jobs",
            &server.admin,
            &json!({"model": "churn", "customers": [{"purchases": 2, "plan": "monthly"}]}),
        )
        .await;
    let job = finished(&server, &job).await;
    assert_eq!(job["state"], "failed");
    assert!(job["error"]
        .as_str()
        .unwrap()
        .contains("customers[0].customer_id"));
    for body in [
        json!({"model": "churn"}),
        json!({"model": "churn", "customers": []}),
        json!({"model": "churn", "customers_file": "a.csv", "customers": [{"customer_id": "x"}]}),
    ] {
        let (status, refused) = server.post("/v1/batch-jobs", &server.admin, &body).await;
        assert_eq!(status, 422, "{body}: {refused}");
        assert_eq!(refused["error"]["field"], "customers");
    }
}

#[tokio::test]
async fn jobs_are_cancelled_and_a_cancelled_job_stores_nothing() {
    let server = start_serving_files(Backend::Sqlite, ServerConfig::default())
        .await
        .unwrap();
    std::fs::write(
        server.dir.path().join(DATA).join("big.csv"),
        customers_csv(400_000),
    )
    .unwrap();
    let big = json!({"model": "churn", "customers_file": "big.csv"});
    let (status, first) = server.post("/v1/batch-jobs", &server.admin, &big).await;
    assert_eq!(status, 202, "{first}");
    // Jobs run one at a time: the next ones wait, and past a few more they are refused.
    let mut queued = Vec::new();
    let mut refused = None;
    for i in 0..12 {
        let request = json!({"model": "churn", "customers": [
            {"customer_id": format!("q{i}"), "purchases": i, "plan": "monthly"}]});
        let response = server
            .client
            .post(format!("{}/v1/batch-jobs", server.url))
            .bearer_auth(&server.admin)
            .json(&request)
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
            refused = Some(response.json::<Value>().await.unwrap());
            break;
        }
        assert_eq!(response.status(), 202);
        queued.push(response.json::<Value>().await.unwrap());
    }
    let (_, state) = server
        .get(
            &format!("/v1/batch-jobs/{}", first["job_id"].as_str().unwrap()),
            &server.read,
        )
        .await;
    if state["state"] == "running" {
        // Still scoring 400,000 customers: the queue filled up behind it.
        let refused = refused.expect("at most 8 jobs wait or run");
        assert!(refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("batch jobs are waiting"));
    } else {
        eprintln!("the first job finished before the queue filled: {state}");
    }
    // A queued job cancelled never runs.
    let waiting = &queued[0];
    let path = format!("/v1/batch-jobs/{}", waiting["job_id"].as_str().unwrap());
    let (status, _) = server.delete(&path, &server.read).await;
    assert_eq!(status, 403);
    let (status, cancelled) = server.delete(&path, &server.admin).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["job_id"], waiting["job_id"]);
    // A cancelled job is forgotten (its run, had it finished, would stay in the store).
    let (status, _) = server
        .get(
            &format!("/v1/batch-jobs/{}", waiting["job_id"].as_str().unwrap()),
            &server.read,
        )
        .await;
    assert_eq!(status, 404);
    let queued_cancelled = cancelled["state"] == "cancelled";
    // The big job cancelled while it runs: nothing of it is stored.
    let (_, cancelled) = server
        .delete(
            &format!("/v1/batch-jobs/{}", first["job_id"].as_str().unwrap()),
            &server.admin,
        )
        .await;
    if cancelled["state"] == "cancelled" {
        // The scoring already under way may still finish on its thread; its run must not
        // appear.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (_, runs) = server.get("/v1/runs", &server.read).await;
        assert!(
            runs.as_array()
                .unwrap()
                .iter()
                .all(|r| r["customers"] != 400_000),
            "{runs}"
        );
    } else {
        assert_eq!(cancelled["state"], "succeeded", "{cancelled}");
    }
    if queued_cancelled {
        // The job queued after the cancelled one runs; the cancelled one never does.
        let next = finished(&server, &queued[1]).await;
        assert_eq!(next["state"], "succeeded", "{next}");
        let (_, stored) = server
            .get("/v1/customers/q0/predictions", &server.read)
            .await;
        assert_eq!(stored, json!([]));
    }
    let (status, missing) = server.delete("/v1/batch-jobs/nope", &server.admin).await;
    assert_eq!(status, 404);
    assert_eq!(missing["error"]["status"], 404);
}

#[tokio::test]
async fn stopping_cancels_jobs_and_returns_within_the_grace_period() {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = ServerConfig {
        limits: Limits {
            shutdown_grace: Duration::from_secs(2),
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    let (server, serving) = common::start_stoppable(config, async {
        let _ = stopped.await;
    })
    .await;
    // A job of a few seconds, stopped as it starts.
    std::fs::write(
        server.dir.path().join(DATA).join("big.csv"),
        customers_csv(150_000),
    )
    .unwrap();
    let (status, job) = server
        .post(
            "/v1/batch-jobs",
            &server.admin,
            &json!({"model": "churn", "customers_file": "big.csv"}),
        )
        .await;
    assert_eq!(status, 202, "{job}");
    // An idle keep-alive connection must not hold the stop either.
    let mut idle = TcpStream::connect(server.url.trim_start_matches("http://"))
        .await
        .unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = [0u8; 512];
    assert!(idle.read(&mut buffer).await.unwrap() > 0);
    let started = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), serving)
        .await
        .expect("serve returns within the grace period")
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    // The job was cancelled, not left to finish: long after it would have, nothing of it is in
    // the store.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let runs = server.store.runs().await.unwrap();
    assert!(runs.iter().all(|r| r.customers != 150_000), "{runs:?}");
}

#[tokio::test]
async fn failed_look_ups_leave_nothing_behind() {
    let config = ServerConfig {
        limits: Limits {
            loaded_versions: 0,
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    let server = start(config).await;
    let loaded = || async {
        let text = server.get_open("/metrics").await.text().await.unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("retain_loaded_model_versions "))
            .expect("the gauge is exported")
            .trim()
            .parse::<i64>()
            .unwrap()
    };
    // Production (version 1) is loaded at start.
    assert_eq!(loaded().await, 1);
    let name = "x".repeat(4_000);
    for i in 0..500 {
        let response = server
            .client
            .post(format!(
                "{}/v1/models/{name}{i}/predict?version={i}",
                server.url
            ))
            .bearer_auth(&server.predict)
            .json(&common::two_customers())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        // A method no one defined is one label, not one per request.
        let made_up = reqwest::Method::from_bytes(format!("M{i}").as_bytes()).unwrap();
        server
            .client
            .request(made_up, format!("{}/healthz", server.url))
            .send()
            .await
            .unwrap();
    }
    for version in [3, 4, 5] {
        let (status, _) = server
            .post(
                &format!("/v1/models/churn/predict?version={version}"),
                &server.predict,
                &common::two_customers(),
            )
            .await;
        assert_eq!(status, 404);
    }
    assert_eq!(loaded().await, 1, "failed look-ups stay loaded");
    // A version no alias points at answers, and is not kept (none are, here).
    let (status, _) = server
        .post(
            "/v1/models/churn/predict?version=2",
            &server.predict,
            &common::two_customers(),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(loaded().await, 1);
    let text = server.get_open("/metrics").await.text().await.unwrap();
    let methods = text
        .lines()
        .filter(|l| l.starts_with("retain_http_requests_total{") && l.contains("/healthz"))
        .count();
    assert!(methods <= 2, "{text}");
}

/// What a raw connection reads until the server closes it or `wait` passes: the text, and
/// whether it was closed.
async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> (String, bool) {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&seen).into(), true),
            Ok(Ok(n)) => seen.extend_from_slice(&buffer[..n]),
            Err(_) => return (String::from_utf8_lossy(&seen).into(), false),
        }
    }
}

#[tokio::test]
async fn slow_clients_are_cut_off() {
    let config = ServerConfig {
        limits: Limits {
            header_timeout: Duration::from_millis(500),
            body_timeout: Duration::from_millis(500),
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    let server = start(config).await;
    let address = server.url.trim_start_matches("http://").to_string();

    // Half-sent headers: closed after the header deadline.
    let mut half = TcpStream::connect(&address).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let (_, closed) = read_until_closed(&mut half, Duration::from_secs(5)).await;
    assert!(closed, "half-sent headers are held");

    // An idle keep-alive connection: closed after the same deadline.
    let mut idle = TcpStream::connect(&address).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let (text, closed) = read_until_closed(&mut idle, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(closed && started.elapsed() < Duration::from_secs(4));

    // A body that never finishes: 408 in the error shape, and the connection closed.
    let mut slow = TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /v1/models/churn/predict HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"customers\": [",
        server.predict
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let (text, closed) = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    assert!(text.contains(r#""status":408"#), "{text}");
    assert!(closed);

    // Meanwhile the server answers everyone else.
    let health = server.get_open("/healthz").await;
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn an_answer_too_slow_is_a_503_to_retry() {
    let config = ServerConfig {
        limits: Limits {
            request_timeout: Duration::from_millis(1),
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    let server = start(config).await;
    let customers: Vec<Value> = (0..50_000)
        .map(|i| json!({"customer_id": format!("c{i}"), "purchases": i % 20, "plan": "yearly"}))
        .collect();
    let response = server
        .client
        .post(format!("{}/v1/models/churn/predict", server.url))
        .bearer_auth(&server.predict)
        .json(&json!({ "customers": customers }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["status"], 503);
}

#[tokio::test]
async fn connections_past_the_limit_are_refused_and_the_server_recovers() {
    let config = ServerConfig {
        limits: Limits {
            max_connections: 4,
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    let server = start(config).await;
    let address = server.url.trim_start_matches("http://").to_string();
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(&address).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut extra = TcpStream::connect(&address).await.unwrap();
    let (text, closed) = read_until_closed(&mut extra, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("retry-after: 1"), "{text}");
    assert!(text.contains(r#""status":503"#), "{text}");
    assert!(closed);
    drop(held);
    let started = Instant::now();
    loop {
        if let Ok(response) = server
            .client
            .get(format!("{}/healthz", server.url))
            .send()
            .await
        {
            if response.status() == 200 {
                break;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(5), "no recovery");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn protocol_faults_get_the_error_shape() {
    let server = start(ServerConfig::default()).await;
    // A path parameter that does not read: 400 in JSON, not text.
    let response = server
        .client
        .get(format!("{}/v1/models/churn/versions/abc", server.url))
        .bearer_auth(&server.read)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["status"], 400);
    // A method an endpoint does not have: 405 in JSON.
    let response = server
        .client
        .put(format!("{}/v1/models", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["status"], 405);
    // The scheme's name is case-insensitive.
    for scheme in ["BEARER", "bearer", "Bearer"] {
        let response = server
            .client
            .get(format!("{}/v1/models", server.url))
            .header("authorization", format!("{scheme} {}", server.read))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{scheme}");
    }
    // A 401 answered before the body was read says it closes the connection; the next request
    // on a new connection works.
    let address = server.url.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&address).await.unwrap();
    let body = serde_json::to_string(&common::two_customers()).unwrap();
    stream
        .write_all(
            format!(
                "POST /v1/models/churn/predict HTTP/1.1\r\nhost: x\r\n\
                 content-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let (text, _) = read_until_closed(&mut stream, Duration::from_millis(500)).await;
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    // With the body read, the connection stays open for the next request.
    let response = server
        .client
        .post(format!("{}/v1/models/churn/predict", server.url))
        .bearer_auth(&server.predict)
        .json(&common::two_customers())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("connection").is_none());
}
