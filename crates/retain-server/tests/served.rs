//! Every registered kind of model answers `POST /v1/models/{name}/predict` and batch jobs:
//! a BG/NBD model registered with a Gamma-Gamma spend model (fitted on CDNOW's calibration
//! summary, the published estimates) answers P(alive), expected purchases, the probability of
//! none and CLV with reasons that add up; from a summary or from the customer's transactions
//! alike; and equal to `retain clv`'s values. A segmentation answers the customer's segment.

mod common;

use retain_data::TimeUnit;
use retain_models::btyd::FitOptions;
use retain_models::segment::Segmentation;
use retain_pipeline::clv::{clv, ClvSettings};
use retain_pipeline::fit::{fit_purchase_model, fit_spend_model, PurchaseData, PurchaseModelKind};
use retain_pipeline::source::{SummaryColumns, SummaryFile};
use retain_scoring::{SegmentsArtifact, SEGMENTS_FORMAT, SEGMENT_FEATURES};
use retain_server::ServerConfig;
use serde_json::{json, Value};

fn cdnow() -> SummaryColumns {
    SummaryFile {
        frequency_col: "x".into(),
        recency_col: "t_x".into(),
        monetary_col: "zbar".into(),
        ..SummaryFile::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../data/cdnow/cdnow_customers_summary_with_transactions.csv"
        ))
    }
    .load(true, "T")
    .unwrap()
}

/// The BG/NBD + Gamma-Gamma model file `retain registry register --spend-model` makes.
fn clv_model(columns: &SummaryColumns) -> Vec<u8> {
    let data = PurchaseData::from_columns(columns).unwrap();
    let fit = fit_purchase_model(PurchaseModelKind::BgNbd, &data, &FitOptions::default()).unwrap();
    let purchase = fit.artifact(&data, columns, TimeUnit::Weeks).to_string();
    let spend =
        serde_json::to_string(&fit_spend_model(columns, &FitOptions::default()).unwrap()).unwrap();
    retain_scoring::with_spend_model(purchase.as_bytes(), spend.as_bytes()).unwrap()
}

async fn register(server: &common::Server, name: &str, bytes: &[u8]) {
    let info = retain_scoring::Artifact::from_bytes(bytes)
        .unwrap()
        .describe();
    server
        .store
        .register_as(name, bytes, &info, Some("production"))
        .await
        .unwrap();
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance * b.abs().max(1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purchase_models_answer_p_alive_purchases_and_clv_with_reasons() {
    let server = common::start(ServerConfig::default()).await;
    let columns = cdnow();
    register(&server, "cdnow-clv", &clv_model(&columns)).await;

    // Customer 1 of CDNOW (x = 2, t_x = 30.43, T = 38.86, mean repeat spend 22.35); lifetimes
    // gives P(alive) 0.7266 and 1.2259 purchases in 39 weeks.
    let customer = json!({"customer_id": "0001", "frequency": 2, "recency": 30.43, "T": 38.86,
        "monetary_value": 22.35});
    let (status, answer) = server
        .post(
            "/v1/models/cdnow-clv/predict?reasons=4",
            &server.predict,
            &json!({"customers": [customer], "horizon": 39}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let p = &answer["predictions"][0];
    let p_alive = p["p_alive"].as_f64().unwrap();
    assert!(close(p_alive, 0.7266, 2e-4), "{p}");
    assert_eq!(p["score"], p["p_alive"]);
    assert!(
        close(p["expected_purchases"].as_f64().unwrap(), 1.2259, 2e-4),
        "{p}"
    );
    let none = p["p_no_purchase"].as_f64().unwrap();
    assert!(none > 1.0 - p_alive && none < 1.0, "{p}");
    // P(alive)'s reasons add up to the difference from the stated reference customer.
    let reference = &p["reference"];
    let (status, at_reference) = server
        .post(
            "/v1/models/cdnow-clv/predict",
            &server.predict,
            &json!({"customers": [{"frequency": reference["frequency"], "recency": reference["recency"],
                "T": reference["T"], "monetary_value": reference["monetary_value"]}], "horizon": 39}),
        )
        .await;
    assert_eq!(status, 200, "{at_reference}");
    let sum: f64 = p["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["contribution"].as_f64().unwrap())
        .sum();
    let reference_p = at_reference["predictions"][0]["p_alive"].as_f64().unwrap();
    assert!(
        (sum - (p_alive - reference_p)).abs() < 1e-12,
        "{sum} vs {p_alive} - {reference_p}"
    );
    let names: Vec<&str> = p["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["feature"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    // CLV as `retain clv` computes it for the same customer (12 months at 1% a month).
    let report = clv(&columns, &ClvSettings::default()).unwrap();
    let served_clv = p["clv"].as_f64().unwrap();
    assert!(
        close(served_clv, report.values.clv[0], 1e-9),
        "{served_clv} vs {}",
        report.values.clv[0]
    );
    let clv_sum: f64 = p["clv_reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["contribution"].as_f64().unwrap())
        .sum();
    let reference_clv = at_reference["predictions"][0]["clv"].as_f64().unwrap();
    assert!((clv_sum - (served_clv - reference_clv)).abs() < 1e-9 * served_clv.abs().max(1.0));
    assert!(
        p.get("warnings").is_none(),
        "CDNOW's fit is well identified: {p}"
    );

    // The customer's own transactions (CDNOW's log: 1997-01-01, 01-18, 08-02) give the answer
    // of their summary at the calibration end, 1997-09-30.
    let from_log = json!({"customers": [{"customer_id": "0001", "transactions": [
        {"date": "1997-01-01", "amount": 29.33}, {"date": "1997-01-18", "amount": 29.73},
        {"date": "1997-08-02", "amount": 14.96}, {"date": "1997-12-12", "amount": 26.48}]}],
        "at": "1997-09-30", "horizon": 39});
    let (status, logged) = server
        .post("/v1/models/cdnow-clv/predict", &server.predict, &from_log)
        .await;
    assert_eq!(status, 200, "{logged}");
    let q = &logged["predictions"][0];
    assert!(close(q["p_alive"].as_f64().unwrap(), p_alive, 1e-3), "{q}");

    // A history that cannot be is named.
    let (status, error) = server
        .post(
            "/v1/models/cdnow-clv/predict",
            &server.predict,
            &json!({"customers": [{"frequency": 0, "recency": 3, "T": 10}]}),
        )
        .await;
    assert_eq!(status, 422, "{error}");
    assert_eq!(error["error"]["field"], "customers[0].recency", "{error}");

    // A batch job stores the answers with their details.
    let (status, job) = server
        .post(
            "/v1/batch-jobs",
            &server.admin,
            &json!({"model": "cdnow-clv", "customers": [customer], "horizon": 39}),
        )
        .await;
    assert_eq!(status, 202, "{job}");
    let id = job["job_id"].as_str().unwrap().to_string();
    let mut done = Value::Null;
    for _ in 0..100 {
        let (_, state) = server
            .get(&format!("/v1/batch-jobs/{id}"), &server.read)
            .await;
        if state["state"] == "succeeded" {
            done = state;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(done["state"], "succeeded", "{done}");
    let stored = server.store.predictions_of_customer("0001").await.unwrap();
    let details = stored[0].1.details.as_ref().unwrap();
    assert!(
        close(details["clv"].as_f64().unwrap(), served_clv, 1e-12),
        "{details}"
    );
    assert_eq!(stored[0].1.reasons.as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segmentations_answer_the_segment() {
    let server = common::start(ServerConfig::default()).await;
    let segmentation = Segmentation::Rfm {
        recency_cuts: vec![Some(300.0), Some(120.0), Some(60.0), Some(20.0)],
        frequency_cuts: vec![Some(2.0), Some(3.0), Some(5.0), Some(9.0)],
        monetary_cuts: vec![Some(50.0), Some(100.0), Some(300.0), Some(1000.0)],
    };
    let artifact = SegmentsArtifact {
        format: SEGMENTS_FORMAT.into(),
        at: "1998-06-30".into(),
        data_fingerprint: "00".repeat(32),
        note: "RFM quintiles".into(),
        features: SEGMENT_FEATURES.iter().map(|f| f.to_string()).collect(),
        segmentation: segmentation.clone(),
        profiles: json!([]),
    };
    register(&server, "rfm", &serde_json::to_vec(&artifact).unwrap()).await;
    let (status, answer) = server
        .post(
            "/v1/models/rfm/predict",
            &server.predict,
            &json!({"customers": [
                {"customer_id": "a", "recency_days": 10, "purchase_days": 12, "total_spend": 2500},
                {"customer_id": "b", "transactions": [{"date": "1997-01-05", "amount": 20.0}]}],
                "at": "1998-06-30"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let expected_a = segmentation.assign(10.0, 12.0, 2500.0);
    let expected_b = segmentation.assign(541.0, 1.0, 20.0);
    let predictions = answer["predictions"].as_array().unwrap();
    assert_eq!(
        predictions[0]["segment"],
        expected_a.segment.as_str(),
        "{answer}"
    );
    assert_eq!(predictions[0]["rfm_scores"], json!([5, 5, 5]));
    assert_eq!(
        predictions[1]["segment"],
        expected_b.segment.as_str(),
        "{answer}"
    );
    assert_eq!(predictions[1]["rfm_scores"], json!([1, 1, 1]));
    assert_ne!(expected_a.segment, expected_b.segment);
}
