//! The OpenAPI document against the live server: every operation is called as strangers and
//! clients would (no token, each scope, good and bad parameters, bodies that are malformed, of
//! the wrong type or shape) and every status the server answers must be one the document
//! declares for that operation, every error in the JSON error shape; and the document states
//! the constraints the server enforces.

mod common;

use common::{start, Server};
use retain_server::ServerConfig;
use serde_json::{json, Value};

async fn document(server: &Server) -> Value {
    server.get_open("/openapi.json").await.json().await.unwrap()
}

#[tokio::test]
async fn parameters_and_constraints_are_declared_as_enforced() {
    let server = start(ServerConfig::default()).await;
    let doc = document(&server).await;
    let parameters = |path: &str, method: &str| -> Vec<(String, String, bool)> {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_string(),
                    p["in"].as_str().unwrap().to_string(),
                    p["required"].as_bool().unwrap_or(false),
                )
            })
            .collect()
    };
    let predict = parameters("/v1/models/{name}/predict", "post");
    for name in ["alias", "version", "reasons"] {
        assert!(
            predict.contains(&(name.to_string(), "query".to_string(), false)),
            "{name}: {predict:?}"
        );
    }
    assert!(predict.contains(&("name".to_string(), "path".to_string(), true)));
    let page = parameters("/v1/runs/{run_id}", "get");
    for name in ["after", "limit"] {
        assert!(
            page.contains(&(name.to_string(), "query".to_string(), false)),
            "{name}: {page:?}"
        );
    }
    let limit = doc["paths"]["/v1/runs/{run_id}"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap()
        .clone();
    assert_eq!(
        (&limit["schema"]["minimum"], &limit["schema"]["maximum"]),
        (&json!(1), &json!(10000)),
        "{limit}"
    );
    let customers = &doc["components"]["schemas"]["PredictRequest"]["properties"]["customers"];
    assert_eq!(customers["minItems"], 1, "{customers}");
    assert_eq!(customers["maxItems"], 100_000, "{customers}");

    // Every status an operation of its kind can get is declared.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let declared: Vec<&str> = operation["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            let mut needed = vec!["503"];
            if operation.get("security").is_some() {
                needed.extend(["401", "403"]);
            }
            if operation.get("requestBody").is_some() {
                needed.extend(["400", "408", "413", "415", "422"]);
            }
            for status in needed {
                assert!(
                    declared.contains(&status),
                    "{method} {path} does not declare {status}: {declared:?}"
                );
            }
        }
    }
}

/// The values tried for a path parameter: one that exists and one that does not read or
/// does not exist.
fn path_values(name: &str) -> [&'static str; 2] {
    match name {
        "name" => ["churn", "no-such-model"],
        "version" => ["1", "abc"],
        "alias" => ["challenger", "bad alias!"],
        "job_id" => ["0000", "%ff"],
        "run_id" => ["none", "%00"],
        "customer_id" => ["c1", "%e2%82"],
        "analysis_id" => ["none", "%00"],
        "page" => ["overview", "%00"],
        other => panic!("no values for path parameter {other}"),
    }
}

/// The bodies tried for an operation that reads one: (content type, body).
fn bodies(path: &str) -> Vec<(&'static str, String)> {
    let good = match path {
        "/v1/models/{name}/predict" => common::two_customers(),
        "/v1/models/{name}/aliases/{alias}" => json!({"version": 2}),
        "/v1/batch-jobs" => json!({"model": "churn", "customers": [
            {"customer_id": "c1", "purchases": 2, "plan": "monthly"}]}),
        other => panic!("no body for {other}"),
    };
    vec![
        ("application/json", good.to_string()),
        ("application/json", "{\"customers\": [".to_string()),
        ("application/json", "{}".to_string()),
        ("application/json", json!({"customers": []}).to_string()),
        (
            "application/json",
            json!({"customers": [{"purchases": "many"}]}).to_string(),
        ),
        ("application/json", "[1, 2]".to_string()),
        ("text/plain", good.to_string()),
    ]
}

#[tokio::test]
async fn every_status_the_server_sends_is_documented() {
    let server = start(ServerConfig::default()).await;
    let doc = document(&server).await;
    let mut calls = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let declared: Vec<u16> = operation["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(|k| k.parse().unwrap())
                .collect();
            let names: Vec<String> = operation["parameters"]
                .as_array()
                .map(|p| {
                    p.iter()
                        .filter(|p| p["in"] == "path")
                        .map(|p| p["name"].as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default();
            // Each path parameter good, then each in turn bad.
            let mut urls = Vec::new();
            for bad in std::iter::once(None).chain((0..names.len()).map(Some)) {
                let mut url = path.clone();
                for (i, name) in names.iter().enumerate() {
                    let value = path_values(name)[usize::from(bad == Some(i))];
                    url = url.replace(&format!("{{{name}}}"), value);
                }
                urls.push(url);
            }
            let queries: Vec<&str> = match path.as_str() {
                "/v1/models/{name}/predict" => {
                    vec![
                        "",
                        "?version=2",
                        "?version=x",
                        "?alias=nope",
                        "?reasons=-1",
                        "?other=1",
                    ]
                }
                "/v1/runs/{run_id}" => vec!["", "?limit=0", "?limit=x"],
                "/v1/pipeline-runs" => vec!["", "?limit=0", "?pipeline=x", "?unexpected=1"],
                "/v1/models/{name}/drift" => vec!["", "?limit=0", "?limit=1001", "?unexpected=1"],
                "/v1/analyses/{analysis_id}/customers" => vec![
                    "",
                    "?limit=0",
                    "?min_churn_risk=2",
                    "?sort=x",
                    "?format=csv",
                    "?unexpected=1",
                ],
                _ => vec!["", "?unexpected=1"],
            };
            let requests: Vec<Option<(&str, String)>> = if operation.get("requestBody").is_some() {
                bodies(path).into_iter().map(Some).collect()
            } else {
                vec![None]
            };
            let tokens = [
                None,
                Some(server.read.clone()),
                Some(server.predict.clone()),
                Some(server.admin.clone()),
                Some("not-a-token".to_string()),
            ];
            for url in &urls {
                for query in &queries {
                    for body in &requests {
                        for token in &tokens {
                            let method =
                                reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                                    .unwrap();
                            let mut request = server
                                .client
                                .request(method.clone(), format!("{}{url}{query}", server.url));
                            if let Some(token) = token {
                                request = request.bearer_auth(token);
                            }
                            if let Some((content_type, body)) = body {
                                request = request
                                    .header("content-type", *content_type)
                                    .body(body.clone());
                            }
                            let response = request.send().await.unwrap();
                            calls += 1;
                            let status = response.status().as_u16();
                            let content_type = response
                                .headers()
                                .get("content-type")
                                .map(|v| v.to_str().unwrap().to_string())
                                .unwrap_or_default();
                            let what = format!("{method} {url}{query} {body:?}");
                            assert!(
                                declared.contains(&status),
                                "{what} answered {status}, not in {declared:?}"
                            );
                            if status >= 400 {
                                assert!(content_type.starts_with("application/json"), "{what}");
                                let error: Value = response.json().await.unwrap();
                                assert_eq!(error["error"]["status"], status, "{what}");
                                assert!(error["error"]["message"].is_string(), "{what}");
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(calls > 500, "{calls} calls");
}
