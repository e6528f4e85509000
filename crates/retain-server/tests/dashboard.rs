//! The dashboard behind `retain serve`: its page and files (public, hardened, nothing inline
//! that runs), and the analyses it draws (read scope): pages as stored, the customers table
//! filtered, sorted and paged as the store answers it, the CSV download of every matching
//! customer streamed a chunk at a time, the customer page recomputed from the stored model,
//! and the models page from the registry.

mod common;

use std::path::Path;

use retain_data::{AmountSpec, ReadOptions, TransactionColumns};
use retain_pipeline::analysis::{analyze_log, AnalysisOptions};
use retain_pipeline::source::Log;
use retain_server::ServerConfig;
use retain_store::{AnalysisCustomer, NewAnalysis, StoredCustomer};
use serde_json::Value;

fn cdnow() -> Log {
    Log {
        files: vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/cdnow/CDNOW_sample.txt")],
        read: ReadOptions {
            columns: TransactionColumns {
                customer: "2".into(),
                date: "3".into(),
                amount: AmountSpec::Column("5".into()),
            },
            ..ReadOptions::default()
        },
        ..Default::default()
    }
}

async fn text(
    server: &common::Server,
    path: &str,
    token: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = server.client.get(format!("{}{path}", server.url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_files_are_public_hardened_and_run_nothing_inline() {
    let server = common::start(ServerConfig::default()).await;
    let (status, headers, html) = text(&server, "/", None).await;
    assert_eq!(status, 200);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = headers["content-security-policy"].to_str().unwrap();
    // Scripts from the server only, never inline or evaluated (styles may be inline: ECharts
    // sets style attributes).
    assert!(
        csp.contains("script-src 'self';") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    // Every script is a file of the server or JSON that is not run.
    for tag in html.split("<script").skip(1) {
        let tag = &tag[..tag.find('>').unwrap()];
        assert!(
            tag.contains("src=\"/assets/") || tag.contains("type=\"application/json\""),
            "{tag}"
        );
    }
    assert!(html.contains(r#""auth":true"#));
    let (status, headers, body) = text(&server, "/assets/echarts-6.1.0.min.js", None).await;
    assert_eq!(status, 200);
    assert!(headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    assert!(body.len() > 1_000_000);
    let (status, _, body) = text(&server, "/assets/LICENSE-echarts.txt", None).await;
    assert_eq!(status, 200);
    assert!(body.contains("Apache License"));
    let (status, _, body) = text(&server, "/assets/..%2FCargo.toml", None).await;
    assert_eq!(status, 404, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["status"], 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyses_are_served_as_stored_and_customers_as_the_store_filters_them() {
    let server = common::start(ServerConfig::default()).await;
    let analysis = analyze_log(&cdnow(), &AnalysisOptions::named("CDNOW")).unwrap();
    let stored = server
        .store
        .write_analysis(&analysis.to_store("CDNOW_sample.txt"), &analysis.customers)
        .await
        .unwrap();
    let id = &stored.analysis_id;

    let (status, _) = server.get("/v1/analyses", "").await;
    assert_eq!(status, 401);
    let (status, list) = server.get("/v1/analyses", &server.read).await;
    assert_eq!(status, 200);
    assert_eq!(list["analyses"][0]["analysis_id"], id.as_str());
    let pages: Vec<&str> = list["analyses"][0]["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(
        pages,
        [
            "overview",
            "segments",
            "value",
            "retention",
            "at-risk",
            "models",
            "production"
        ]
    );
    // The production page, built from the store: no pipeline has run here.
    let (status, production) = server
        .get(&format!("/v1/analyses/{id}/pages/production"), &server.read)
        .await;
    assert_eq!(status, 200);
    assert_eq!(production["title"], "Production");
    assert_eq!(production["panels"][0]["id"], "pipeline-runs");
    assert_eq!(
        production["panels"][0]["table"]["rows"],
        serde_json::json!([])
    );

    for page in &analysis.pages {
        let (status, got) = server
            .get(
                &format!("/v1/analyses/{id}/pages/{}", page.page),
                &server.read,
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(got, serde_json::to_value(page).unwrap(), "{}", page.page);
    }
    let (status, models) = server
        .get(&format!("/v1/analyses/{id}/pages/models"), &server.read)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        models["panels"][0]["table"]["rows"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{models}"
    );
    let (status, error) = server
        .get(&format!("/v1/analyses/{id}/pages/campaigns"), &server.read)
        .await;
    assert_eq!(status, 404);
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no page \"campaigns\""));

    // The at-risk table: champions with churn risk at least 10%, by CLV, second page of 20.
    let query = "segment=champions&min_churn_risk=0.1&sort=clv&limit=20&offset=20";
    let (status, got) = server
        .get(
            &format!("/v1/analyses/{id}/customers?{query}"),
            &server.read,
        )
        .await;
    assert_eq!(status, 200, "{got}");
    let mut expected: Vec<&AnalysisCustomer> = analysis
        .customers
        .iter()
        .map(|c| &c.customer)
        .filter(|c| c.segment == "champions" && c.churn_risk >= 0.1)
        .collect();
    expected.sort_by(|a, b| {
        b.clv
            .unwrap()
            .total_cmp(&a.clv.unwrap())
            .then(a.customer_id.cmp(&b.customer_id))
    });
    assert_eq!(got["total"], expected.len());
    let ids: Vec<&str> = got["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["customer_id"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = expected[20..40]
        .iter()
        .map(|c| c.customer_id.as_str())
        .collect();
    assert_eq!(ids, want);
    for (bad, field) in [
        ("limit=0", "limit"),
        ("min_churn_risk=1.5", "min_churn_risk"),
        ("offset=-1", "offset"),
        ("min_value=-5", "min_value"),
    ] {
        let (status, error) = server
            .get(&format!("/v1/analyses/{id}/customers?{bad}"), &server.read)
            .await;
        assert_eq!(status, 400, "{bad}: {error}");
        assert_eq!(error["error"]["field"], field);
    }
    let (status, _) = server
        .get(
            &format!("/v1/analyses/{id}/customers?sort=name"),
            &server.read,
        )
        .await;
    assert_eq!(status, 400);

    // The customer page: P(alive) over time ends at the stored value.
    let first = &analysis.customers[0].customer;
    let (status, page) = server
        .get(
            &format!("/v1/analyses/{id}/customers/{}", first.customer_id),
            &server.read,
        )
        .await;
    assert_eq!(status, 200);
    let path = page["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "p-alive-history")
        .unwrap();
    let last = path["chart"]["series"][0]["values"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_f64()
        .unwrap();
    assert!((last - first.p_alive.unwrap()).abs() < 1e-12);
    let (status, _) = server
        .get(&format!("/v1/analyses/{id}/customers/nobody"), &server.read)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_csv_download_streams_every_matching_customer_in_the_tables_order() {
    let server = common::start(ServerConfig::default()).await;
    // More customers than one chunk of the download.
    let customers: Vec<StoredCustomer> = (0..25_003)
        .map(|i| {
            let risk = ((i * 7919) % 1000) as f64 / 1000.0;
            StoredCustomer {
                customer: AnalysisCustomer {
                    customer_id: format!("c{i:05}"),
                    segment: if i % 2 == 0 { "even".into() } else { "odd, \"quoted\"".into() },
                    stage: "active".into(),
                    churn_risk: risk,
                    p_alive: Some(1.0 - risk),
                    expected_purchases: None,
                    clv: None,
                    historic_value: 100.0,
                    value_at_risk: 100.0 * risk,
                    next_purchase: None,
                    reasons: serde_json::json!([{"feature": "recency", "value": 1.0, "contribution": risk}]),
                },
                purchases: serde_json::json!({"days": [], "amounts": []}),
            }
        })
        .collect();
    let analysis = NewAnalysis {
        analysis_id: None,
        name: "big".into(),
        source: "synthetic".into(),
        as_of: "2024-01-31".into(),
        pages: vec![("at-risk".into(), "{}".into())],
        model: serde_json::json!({}),
        kpis: serde_json::json!({}),
    };
    let stored = server
        .store
        .write_analysis(&analysis, &customers)
        .await
        .unwrap();
    let url = format!(
        "/v1/analyses/{}/customers?min_churn_risk=0.25&format=csv",
        stored.analysis_id
    );
    let (status, headers, body) = text(&server, &url, Some(&server.read)).await;
    assert_eq!(status, 200);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    assert_eq!(reader.headers().unwrap().get(0), Some("customer_id"));
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let mut expected: Vec<&AnalysisCustomer> = customers
        .iter()
        .map(|c| &c.customer)
        .filter(|c| c.churn_risk >= 0.25)
        .collect();
    expected.sort_by(|a, b| {
        b.value_at_risk
            .total_cmp(&a.value_at_risk)
            .then(a.customer_id.cmp(&b.customer_id))
    });
    assert!(expected.len() > 10_000);
    assert_eq!(rows.len(), expected.len());
    for (row, c) in rows.iter().zip(&expected) {
        assert_eq!(&row[0], c.customer_id.as_str());
        assert_eq!(&row[1], c.segment.as_str());
        assert_eq!(row[3].parse::<f64>().unwrap(), c.churn_risk);
    }
    let (status, _, _) = text(
        &server,
        "/v1/analyses/none/customers?format=csv",
        Some(&server.read),
    )
    .await;
    assert_eq!(status, 404);
}
