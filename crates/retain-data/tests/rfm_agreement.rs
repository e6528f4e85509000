//! The two RFM computations agree on the bundled logs: the DataFusion summary plan
//! (`summarize`, lifetimes' frequency / recency / T / monetary value) and the summary from each
//! customer's purchase days (`PurchaseHistory` + `features::repeat_summary`, what `train` and
//! `segment` fit on), for every customer of CDNOW and of Online Retail, at a calibration end
//! inside the log, in the same time unit.

use std::collections::HashMap;
use std::path::PathBuf;

use retain_data::datafusion::arrow::array::Array;
use retain_data::dates::days_from_civil;
use retain_data::features::repeat_summary;
use retain_data::{
    summarize, AmountSpec, PurchaseHistory, ReadOptions, SummaryOptions, TimeUnit,
    TransactionColumns,
};

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(path)
}

fn cdnow_read() -> ReadOptions {
    ReadOptions {
        columns: TransactionColumns {
            customer: "2".into(),
            date: "3".into(),
            amount: AmountSpec::Column("5".into()),
        },
        ..Default::default()
    }
}

fn online_retail_read() -> ReadOptions {
    ReadOptions {
        columns: TransactionColumns {
            customer: "CustomerID".into(),
            date: "InvoiceDate".into(),
            amount: AmountSpec::Product {
                quantity: "Quantity".into(),
                price: "UnitPrice".into(),
            },
        },
        ..Default::default()
    }
}

/// Compares the two summaries of `file` at `calibration_end`; returns (customers in the summary,
/// customers first seen after the calibration end).
async fn assert_agree(
    file: &str,
    read: ReadOptions,
    calibration_end: i32,
    observation_end: i32,
    unit: TimeUnit,
) -> (usize, usize) {
    let files = [data(file)];
    let options = SummaryOptions {
        calibration_end: Some(calibration_end),
        observation_end: Some(observation_end),
        unit,
        threads: Some(2),
        ..Default::default()
    };
    let plan = summarize(&files, read.clone(), &options, None)
        .await
        .unwrap();
    let history = PurchaseHistory::read(&files, read).unwrap();

    // The history holds every customer of the log; the summary those who bought by the
    // calibration end, and counts the others.
    let customers: Vec<usize> = (0..history.len())
        .filter(|&k| history.days(k)[0] <= calibration_end)
        .collect();
    let later = history.len() - customers.len();
    assert_eq!(plan.batch.num_rows(), customers.len(), "{file}: customers");
    assert_eq!(
        plan.report.customers_after_calibration as usize, later,
        "{file}: customers first seen after the calibration end"
    );
    let from_days = repeat_summary(&history, &customers, calibration_end, unit.days());

    let ids = plan.customer_ids();
    let row: HashMap<&str, usize> = (0..ids.len()).map(|i| (ids.value(i), i)).collect();
    let frequency = plan.values("frequency").unwrap();
    let recency = plan.values("recency").unwrap();
    let t = plan.values("T").unwrap();
    let monetary = plan.values("monetary_value").unwrap();
    for (j, &k) in customers.iter().enumerate() {
        let id = history.id(k);
        let i = *row
            .get(id)
            .unwrap_or_else(|| panic!("{file}: customer {id} not in the summary"));
        // Whole days divided by the same unit on both sides: equal to the bit.
        assert_eq!(frequency[i], from_days.x[j], "{file}: frequency of {id}");
        assert_eq!(recency[i], from_days.t_x[j], "{file}: recency of {id}");
        assert_eq!(t[i], from_days.t[j], "{file}: T of {id}");
        // The same per-day amounts, added in other orders: the plan sums each day in its hash
        // aggregation and takes the first day's amount from the customer's total, the history
        // sums each day in sorted order and averages the repeat days. Equal up to float
        // rounding: 430 of CDNOW's 2,357 values (at 1997-09-30) and 1,230 of Online Retail's
        // 3,616 differ in their last bits, by at most 1.1e-14 relative.
        let (a, b) = (monetary[i], from_days.monetary[j]);
        assert!(
            (a - b).abs() <= 1e-12 * a.abs().max(1.0),
            "{file}: monetary value of {id}: plan {a}, history {b}"
        );
    }
    (customers.len(), later)
}

#[tokio::test]
async fn cdnow_summary_plan_and_purchase_days_agree() {
    let end = days_from_civil(1998, 6, 30);
    // The papers' calibration end: every customer (all first bought in Q1 1997) is in.
    let counted = assert_agree(
        "cdnow/CDNOW_sample.txt",
        cdnow_read(),
        days_from_civil(1997, 9, 30),
        end,
        TimeUnit::Weeks,
    )
    .await;
    assert_eq!(counted, (2357, 0));
    // Mid-acquisition: some customers are not customers yet.
    let (in_summary, later) = assert_agree(
        "cdnow/CDNOW_sample.txt",
        cdnow_read(),
        days_from_civil(1997, 2, 15),
        end,
        TimeUnit::Days,
    )
    .await;
    assert!(in_summary > 0 && later > 0, "{in_summary} {later}");
}

#[tokio::test]
async fn online_retail_summary_plan_and_purchase_days_agree() {
    let counted = assert_agree(
        "online_retail/online_retail.csv.gz",
        online_retail_read(),
        days_from_civil(2011, 9, 30),
        days_from_civil(2011, 12, 9),
        TimeUnit::Days,
    )
    .await;
    // The counts of data/README.md and tests/summaries.rs.
    assert_eq!(counted, (3_616, 4_339 - 3_616));
}
