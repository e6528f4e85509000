//! Train/serve parity: a churn model trained from CDNOW's transaction log (with BG/NBD features
//! and customer attributes) makes the same features, bit for bit, at training, in a batch run
//! from the log and through the API from each customer's own transactions, and so the same
//! scores.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use retain_data::dates::{days_from_civil, format_day};
use retain_data::{
    AmountSpec, CustomerTableOptions, Delimiter, HeaderMode, ReadOptions, TransactionColumns,
};
use retain_models::supervised::{Attribution, ColumnValues, FeatureFrame, Task};
use retain_pipeline::source::Log;
use retain_pipeline::train::{train, TrainInput, TrainOptions};
use retain_scoring::batch::{score_batch, BatchInput, BatchOptions, ModelRef};
use retain_scoring::Scorer;
use retain_server::ServerConfig;
use serde_json::{json, Map, Value};

fn cdnow() -> Log {
    Log {
        files: vec![PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../data/cdnow/CDNOW_sample.txt"
        ))],
        read: ReadOptions {
            columns: TransactionColumns {
                customer: "2".into(),
                date: "3".into(),
                amount: AmountSpec::Column("5".into()),
            },
            delimiter: Delimiter::Whitespace,
            header: HeaderMode::Absent,
            ..ReadOptions::default()
        },
        ..Default::default()
    }
}

/// Column `name` of a frame as comparable values: numbers by their bits, categories as text.
fn column(frame: &FeatureFrame, name: &str) -> Vec<String> {
    match &frame.column(name).unwrap().values {
        ColumnValues::Numbers(v) => v.iter().map(|x| format!("{:016x}", x.to_bits())).collect(),
        ColumnValues::Categories { levels, codes } => codes
            .iter()
            .map(|&c| match c {
                0 => "<missing>".to_string(),
                c => levels[c as usize - 1].clone(),
            })
            .collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_batch_and_api_features_and_scores_are_identical() {
    let dir = tempfile::tempdir().unwrap();
    let log = cdnow();
    let history = log.history().unwrap().0;
    // Attributes for all but every seventh customer (those score with missing attributes):
    // a category and a number with gaps.
    let attributes = dir.path().join("attributes.csv");
    let mut text = String::from("customer_id,channel,age\n");
    for k in (0..history.len()).filter(|k| k % 7 != 3) {
        let age = if k % 5 == 0 {
            String::new()
        } else {
            (20 + k % 50).to_string()
        };
        text.push_str(&format!(
            "{},{},{age}\n",
            history.id(k),
            ["web", "store", "phone"][k % 3]
        ));
    }
    std::fs::write(&attributes, text).unwrap();

    let cutoff = days_from_civil(1998, 1, 1);
    let table_options = CustomerTableOptions {
        id_col: Some("customer_id".into()),
        ..CustomerTableOptions::default()
    };
    let input = TrainInput::read(Some((&attributes, &table_options)), Some(&log)).unwrap();
    let options = TrainOptions {
        cutoff: Some(cutoff),
        btyd: true,
        folds: 2,
        boosting: retain_models::supervised::GradientBoosting {
            rounds: 60,
            learning_rate: 0.1,
            ..retain_models::supervised::GradientBoosting::new(Task::Churn)
        },
        ..TrainOptions::new(Task::Churn)
    };
    let trained = train(&input, &options).unwrap();
    let features: Vec<String> = trained
        .data
        .frame
        .columns
        .iter()
        .map(|c| c.name.clone())
        .collect();
    assert!(features.contains(&"p_alive".to_string()));
    assert!(features.contains(&"channel".to_string()));
    let artifact = serde_json::to_vec(&trained.artifact(&options, &input).unwrap()).unwrap();
    let at_training: HashMap<String, f64> = trained
        .data
        .ids
        .iter()
        .cloned()
        .zip(
            trained
                .model
                .explain(&trained.data.frame, 3, Attribution::Path)
                .unwrap()
                .explanations
                .iter()
                .map(|e| e.score),
        )
        .collect();

    // The API's path: each customer's transactions (all of them; those after the cutoff are
    // not read) and attributes as JSON, features made by the artifact's recipe.
    let scorer = Scorer::from_bytes(&artifact).unwrap();
    let table = retain_data::read_customer_table(&attributes, &table_options).unwrap();
    let channel = table.text("channel", "channel").unwrap();
    let age = table.numbers("age", "age").unwrap();
    let table_ids = table.ids().unwrap();
    let row_of: HashMap<&str, usize> = table_ids
        .iter()
        .enumerate()
        .map(|(r, id)| (id.unwrap(), r))
        .collect();
    let customers: Vec<Map<String, Value>> = trained
        .data
        .ids
        .iter()
        .map(|id| {
            let k = (0..history.len()).find(|&k| history.id(k) == id).unwrap();
            let purchases: Vec<Value> = history
                .days(k)
                .iter()
                .zip(history.amounts(k))
                .map(|(&d, &a)| json!({"date": format_day(d), "amount": a}))
                .collect();
            let row = row_of.get(id.as_str());
            let value = json!({
                "customer_id": id,
                "transactions": purchases,
                "channel": row.and_then(|&r| channel[r].clone()),
                "age": row.and_then(|&r| age[r]),
            });
            value.as_object().unwrap().clone()
        })
        .collect();
    let (api_frame, _) = scorer.frame_from_json(&customers, Some(cutoff)).unwrap();
    for name in &features {
        assert_eq!(
            column(&api_frame, name),
            column(&trained.data.frame, name),
            "feature {name}: the API's features differ from training's"
        );
    }

    // The batch path: the log itself, at the cutoff, into a store.
    let server = common::start(ServerConfig::default()).await;
    let info = retain_scoring::Artifact::from_bytes(&artifact)
        .unwrap()
        .describe();
    server
        .store
        .register_as("log-churn", &artifact, &info, Some("production"))
        .await
        .unwrap();
    let model: ModelRef = "log-churn".parse().unwrap();
    let outcome = score_batch(
        &server.store,
        &model,
        BatchInput::Log {
            files: log.files.clone(),
            read: log.read.clone(),
            attributes: Some(attributes.clone()),
            engine: log.engine.clone(),
        },
        &BatchOptions {
            at: Some(cutoff),
            ..BatchOptions::default()
        },
    )
    .await
    .unwrap();
    let run = outcome.outcome.run();
    assert_eq!(run.customers as usize, at_training.len());
    let stored = server
        .store
        .predictions_of_run(&run.run_id, None, 10_000)
        .await
        .unwrap();
    assert_eq!(stored.len(), at_training.len());
    for p in &stored {
        assert_eq!(
            p.score.to_bits(),
            at_training[&p.customer_id].to_bits(),
            "customer {}: batch {} vs training {}",
            p.customer_id,
            p.score,
            at_training[&p.customer_id]
        );
    }

    // The HTTP API, on a sample of customers (every 40th), through JSON both ways.
    let sample: Vec<Value> = customers
        .iter()
        .step_by(40)
        .map(|c| Value::Object(c.clone()))
        .collect();
    let (status, answer) = server
        .post(
            "/v1/models/log-churn/predict",
            &server.predict,
            &json!({"customers": sample, "at": format_day(cutoff)}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let predictions = answer["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), sample.len());
    for p in predictions {
        let id = p["customer_id"].as_str().unwrap();
        assert_eq!(
            p["score"].as_f64().unwrap().to_bits(),
            at_training[id].to_bits(),
            "customer {id}: API vs training"
        );
    }

    // A customer with no purchase by the day scored is named, not scored as someone else.
    let late = json!({"customers": [
        {"customer_id": "new", "transactions": [{"date": "1998-05-01", "amount": 10.0}],
         "channel": "web", "age": 30}
    ], "at": format_day(cutoff)});
    let (status, answer) = server
        .post("/v1/models/log-churn/predict", &server.predict, &late)
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no purchase on or before 1998-01-01"),
        "{answer}"
    );
}
