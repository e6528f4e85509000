//! End-to-end summaries against published and lifetimes-made references.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Float64Type;

use retain_data::dates::days_from_civil;
use retain_data::{
    summarize, AmountSpec, Period, ReadOptions, Summary, SummaryOptions, TimeUnit,
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

fn cdnow_options() -> SummaryOptions {
    SummaryOptions {
        calibration_end: Some(days_from_civil(1997, 9, 30)),
        observation_end: Some(days_from_civil(1998, 6, 30)),
        unit: TimeUnit::Weeks,
        ..Default::default()
    }
}

async fn cdnow_summary() -> Summary {
    summarize(
        &[data("cdnow/CDNOW_sample.txt")],
        cdnow_read(),
        &cdnow_options(),
        None,
    )
    .await
    .unwrap()
}

/// Rows of a reference CSV keyed by its first column (lines starting with `#` are notes).
fn reference(path: &str) -> (Vec<String>, HashMap<String, Vec<f64>>) {
    let text = std::fs::read_to_string(data(path)).unwrap();
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| {
            let mut f = l.split(',');
            let id = f.next().unwrap().to_string();
            (id, f.map(|v| v.parse::<f64>().unwrap()).collect())
        })
        .collect();
    (header, rows)
}

fn by_id(summary: &Summary) -> HashMap<String, usize> {
    let ids = summary.customer_ids();
    (0..ids.len())
        .map(|i| (ids.value(i).to_string(), i))
        .collect()
}

#[tokio::test]
async fn cdnow_reproduces_the_published_calibration_summary() {
    let s = cdnow_summary().await;
    let (header, published) = reference("cdnow/cdnow_customers_summary.csv");
    assert_eq!(header, ["ID", "frequency", "recency", "T"]);
    let (_, with_zbar) = reference("cdnow/cdnow_customers_summary_with_transactions.csv");
    assert_eq!(published.len(), 2357);
    assert_eq!(s.batch.num_rows(), 2357, "same customers");
    // CDNOW ids carry leading zeros ("0001"), kept as text; the published files print 1.
    let ids = s.customer_ids();
    let index: HashMap<String, usize> = (0..ids.len())
        .map(|i| (ids.value(i).parse::<u64>().unwrap().to_string(), i))
        .collect();
    let (freq, rec, t, m) = (
        s.column_i64("frequency").unwrap(),
        s.column_f64("recency").unwrap(),
        s.column_f64("T").unwrap(),
        s.column_f64("monetary_value").unwrap(),
    );
    // The published files carry 2 decimals: ours must be within half a unit of the last one
    // (a mean such as 22.345 is 22.3449.. in binary floating point, published as 22.35).
    let close = |ours: f64, published: f64| (ours - published).abs() <= 0.005 + 1e-9;
    for (id, want) in &published {
        let i = index[id];
        assert_eq!(freq.value(i) as f64, want[0], "frequency of {id}");
        assert!(
            close(rec.value(i), want[1]),
            "recency of {id}: {} vs {}",
            rec.value(i),
            want[1]
        );
        assert!(
            close(t.value(i), want[2]),
            "T of {id}: {} vs {}",
            t.value(i),
            want[2]
        );
        let zbar = with_zbar[id][3];
        assert!(
            close(m.value(i), zbar),
            "monetary value of {id}: {} vs zbar {zbar}",
            m.value(i)
        );
    }
    // The counts quoted in data/cdnow/README.md.
    let repeaters = freq.values().iter().filter(|&&f| f > 0).count();
    assert_eq!((repeaters, 2357 - repeaters), (946, 1411));
    assert_eq!(freq.values().iter().sum::<i64>(), 2457);
    assert_eq!(
        s.column_i64("frequency_holdout")
            .unwrap()
            .values()
            .iter()
            .sum::<i64>(),
        1882
    );
    assert!(s
        .column_f64("duration_holdout")
        .unwrap()
        .values()
        .iter()
        .all(|&d| (d - 39.0).abs() < 1e-12));
    assert_eq!(s.report.ingest.rows_read, 6919);
    assert_eq!(s.report.ingest.rows_used, 6919);
    assert!((s.report.ingest.amount_total - 244_091.94).abs() < 1e-6);
}

#[tokio::test]
async fn online_retail_equals_the_lifetimes_fixture() {
    let read = online_retail_read();
    let options = SummaryOptions {
        calibration_end: Some(days_from_civil(2011, 9, 30)),
        observation_end: Some(days_from_civil(2011, 12, 9)),
        unit: TimeUnit::Days,
        ..Default::default()
    };
    let s = summarize(
        &[data("online_retail/online_retail.csv.gz")],
        read,
        &options,
        None,
    )
    .await
    .unwrap();
    let r = &s.report.ingest;
    // Every row accounted for (counts in data/online_retail/README.md).
    assert_eq!(r.rows_read, 541_909);
    assert_eq!(r.excluded_no_customer, 135_080);
    assert_eq!(r.excluded_negative_amount, 8_905);
    assert_eq!((r.rows_rejected, r.excluded_after_end), (0, 0));
    assert_eq!(r.rows_used, 541_909 - 135_080 - 8_905);

    let (header, want) = reference("online_retail/summary_lifetimes.csv");
    assert_eq!(
        header[1..],
        [
            "frequency",
            "recency",
            "T",
            "monetary_value",
            "frequency_holdout",
            "monetary_value_holdout",
            "duration_holdout"
        ]
    );
    assert_eq!(
        s.batch.num_rows(),
        want.len(),
        "same customers as lifetimes"
    );
    let index = by_id(&s);
    let float_cols = [
        "recency",
        "T",
        "monetary_value",
        "monetary_value_holdout",
        "duration_holdout",
    ];
    for (id, w) in &want {
        let i = *index
            .get(id)
            .unwrap_or_else(|| panic!("customer {id} missing"));
        assert_eq!(
            s.column_i64("frequency").unwrap().value(i) as f64,
            w[0],
            "frequency of {id}"
        );
        assert_eq!(
            s.column_i64("frequency_holdout").unwrap().value(i) as f64,
            w[4],
            "frequency_holdout of {id}"
        );
        for (name, k) in float_cols.iter().zip([1, 2, 3, 5, 6]) {
            let ours = s.column_f64(name).unwrap().value(i);
            // Sums are added in another order than pandas does: allow float rounding, no more.
            let tol = 1e-9 * w[k].abs().max(1.0);
            assert!(
                (ours - w[k]).abs() <= tol,
                "{name} of {id}: ours {ours}, lifetimes {}",
                w[k]
            );
        }
    }
    assert_eq!(
        s.report.customers_after_calibration,
        4_339 - 3_616,
        "customers first seen in the holdout"
    );
}

#[tokio::test]
async fn gzip_and_parquet_inputs_give_the_same_summary() {
    let dir = tempfile::tempdir().unwrap();
    let plain = std::fs::read(data("cdnow/CDNOW_sample.txt")).unwrap();
    let gz_path = dir.path().join("cdnow.txt.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz_path).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(&plain).unwrap();
    gz.finish().unwrap();
    let reference = cdnow_summary().await;
    let from_gz = summarize(&[gz_path], cdnow_read(), &cdnow_options(), None)
        .await
        .unwrap();
    assert_eq!(from_gz.batch, reference.batch);

    // Parquet with typed columns: integer ids, Date32 dates, float amounts.
    use datafusion::arrow::array::{Date32Array, Float64Array, Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let (mut ids, mut days, mut amounts) = (vec![], vec![], vec![]);
    for line in String::from_utf8(plain).unwrap().lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        ids.push(f[1].parse::<i64>().unwrap());
        let d = f[2];
        days.push(days_from_civil(
            d[0..4].parse().unwrap(),
            d[4..6].parse().unwrap(),
            d[6..8].parse().unwrap(),
        ));
        amounts.push(f[4].parse::<f64>().unwrap());
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer", DataType::Int64, false),
        Field::new("when", DataType::Date32, false),
        Field::new("dollars", DataType::Float64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(Date32Array::from(days)),
            Arc::new(Float64Array::from(amounts)),
        ],
    )
    .unwrap();
    let pq = dir.path().join("cdnow.parquet");
    retain_data::output::write_table(&batch, &pq).unwrap();
    let read = ReadOptions {
        columns: TransactionColumns {
            customer: "customer".into(),
            date: "when".into(),
            amount: AmountSpec::Column("dollars".into()),
        },
        ..Default::default()
    };
    let from_parquet = summarize(&[pq], read, &cdnow_options(), None)
        .await
        .unwrap();
    // Integer ids print without CDNOW's leading zeros. Other ids hash to other places, so sums
    // are added in another order: floats agree to rounding (1e-12 relative), integers exactly.
    let (ours, theirs) = (from_parquet.customer_ids(), reference.customer_ids());
    assert_eq!(ours.len(), theirs.len());
    for i in 0..ours.len() {
        assert_eq!(
            ours.value(i).parse::<u64>().unwrap(),
            theirs.value(i).parse::<u64>().unwrap()
        );
    }
    assert_same_columns(&from_parquet, &reference, 1);
}

#[tokio::test]
async fn without_a_calibration_end_the_summary_is_the_calibration_part() {
    let reference = cdnow_summary().await;
    let options = SummaryOptions {
        observation_end: Some(days_from_civil(1997, 9, 30)),
        ..cdnow_options()
    };
    let options = SummaryOptions {
        calibration_end: None,
        ..options
    };
    let plain = summarize(
        &[data("cdnow/CDNOW_sample.txt")],
        cdnow_read(),
        &options,
        None,
    )
    .await
    .unwrap();
    assert!(!plain.has_holdout());
    assert_eq!(plain.batch.num_columns(), 5);
    for c in 0..5 {
        assert_eq!(
            plain.batch.column(c),
            reference.batch.column(c),
            "column {c}"
        );
    }
    assert_eq!(
        plain.report.ingest.excluded_after_end,
        6919 - 4960,
        "holdout rows are after the observation end"
    );
}

/// Columns `from..` equal: integers and text exactly, floats up to rounding (sums are added in
/// another order when the engine partitions or spills differently).
fn assert_same_columns(a: &Summary, b: &Summary, from: usize) {
    assert_eq!(a.batch.schema(), b.batch.schema());
    assert_eq!(a.batch.num_rows(), b.batch.num_rows());
    for c in from..a.batch.num_columns() {
        let name = a.batch.schema().field(c).name().clone();
        match (
            a.batch.column(c).as_primitive_opt::<Float64Type>(),
            b.batch.column(c).as_primitive_opt::<Float64Type>(),
        ) {
            (Some(x), Some(y)) => {
                for (u, v) in x.values().iter().zip(y.values()) {
                    assert!(
                        (u - v).abs() <= 1e-12 * v.abs().max(1.0),
                        "column {name}: {u} vs {v}"
                    );
                }
            }
            _ => assert_eq!(a.batch.column(c), b.batch.column(c), "column {name}"),
        }
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

#[tokio::test]
async fn spilling_under_a_small_memory_cap_gives_the_same_summary() {
    let files = [data("online_retail/online_retail.csv.gz")];
    let options = SummaryOptions {
        calibration_end: Some(days_from_civil(2011, 9, 30)),
        unit: TimeUnit::Days,
        threads: Some(2),
        ..Default::default()
    };
    let free = summarize(&files, online_retail_read(), &options, None)
        .await
        .unwrap();
    // 4 MiB is below the ~6 MiB of ~400k rows held: they go to spill files, and the result
    // must not change.
    let capped = SummaryOptions {
        memory_limit: Some(4 << 20),
        ..options.clone()
    };
    let capped = summarize(&files, online_retail_read(), &capped, None)
        .await
        .unwrap();
    assert_same_columns(&capped, &free, 0);
    // Too little to work in at all: a clear error, not a crash.
    let starved = SummaryOptions {
        memory_limit: Some(1 << 20),
        ..options
    };
    let error = summarize(&files, online_retail_read(), &starved, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("too small for the summary"), "{error}");
}

#[tokio::test]
async fn weekly_periods_merge_within_a_week_and_split_at_the_calibration_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    // 1997-01-06 is a Monday. Customer a: two purchases in week 1, one in week 2, and one in
    // week 3 after the calibration end (Wed 1997-01-22) but in the same week as one before it.
    std::fs::write(
        &path,
        "customer_id,date,amount\na,1997-01-06,1\na,1997-01-08,2\na,1997-01-14,4\na,1997-01-21,8\na,1997-01-23,16\n",
    )
    .unwrap();
    let read = ReadOptions {
        period: Period::Week,
        ..Default::default()
    };
    let options = SummaryOptions {
        calibration_end: Some(days_from_civil(1997, 1, 22)),
        observation_end: Some(days_from_civil(1997, 2, 28)),
        unit: TimeUnit::Weeks,
        ..Default::default()
    };
    let s = summarize(&[path], read, &options, None).await.unwrap();
    assert_eq!(
        s.column_i64("frequency").unwrap().value(0),
        2,
        "weeks 1, 2, 3 in calibration"
    );
    assert_eq!(s.column_f64("recency").unwrap().value(0), 2.0);
    assert_eq!(
        s.column_f64("T").unwrap().value(0),
        2.0,
        "to the start of the calibration end's week"
    );
    assert_eq!(
        s.column_f64("monetary_value").unwrap().value(0),
        6.0,
        "(4 + 8) / 2"
    );
    assert_eq!(s.column_i64("frequency_holdout").unwrap().value(0), 1);
    assert_eq!(
        s.column_f64("monetary_value_holdout").unwrap().value(0),
        16.0
    );
}

/// A transaction log in Parquet whose `when` column is `dates` (one row per customer and date).
fn parquet_log(
    dir: &tempfile::TempDir,
    name: &str,
    customers: &[&str],
    dates: datafusion::arrow::array::ArrayRef,
) -> PathBuf {
    use datafusion::arrow::array::{Float64Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use std::sync::Arc;
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "customer_id",
            datafusion::arrow::datatypes::DataType::Utf8,
            false,
        ),
        Field::new("when", dates.data_type().clone(), true),
        Field::new(
            "amount",
            datafusion::arrow::datatypes::DataType::Float64,
            false,
        ),
    ]));
    let amounts = Float64Array::from(vec![10.0; customers.len()]);
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(customers.to_vec())),
            dates,
            Arc::new(amounts),
        ],
    )
    .unwrap();
    let path = dir.path().join(name);
    retain_data::output::write_table(&batch, &path).unwrap();
    path
}

fn when_column() -> ReadOptions {
    ReadOptions {
        columns: TransactionColumns {
            customer: "customer_id".into(),
            date: "when".into(),
            amount: AmountSpec::Column("amount".into()),
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn parquet_dates_outside_the_calendar_are_rejected_rows_with_their_reason() {
    use datafusion::arrow::array::{Date32Array, TimestampMicrosecondArray, TimestampSecondArray};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let day = |m, d| days_from_civil(1997, m, d);
    let customers = ["a", "a", "b", "b", "c"];
    let date32 = parquet_log(
        &dir,
        "date32.parquet",
        &customers,
        Arc::new(Date32Array::from(vec![
            day(1, 1),
            day(2, 1),
            day(1, 5),
            2_000_000_000,
            -2_000_000_000,
        ])),
    );
    let seconds = |d: i32| i64::from(d) * 86_400 + 3_600;
    // i64::MAX seconds is past chrono's range (Arrow's cast fails on it); 10^13 seconds is the
    // year 318857, inside chrono's range but past 9999.
    let timestamps = parquet_log(
        &dir,
        "timestamp.parquet",
        &customers,
        Arc::new(TimestampSecondArray::from(vec![
            seconds(day(1, 1)),
            seconds(day(2, 1)),
            seconds(day(1, 5)),
            i64::MAX,
            10_000_000_000_000,
        ])),
    );
    let zoned = parquet_log(
        &dir,
        "zoned.parquet",
        &customers,
        Arc::new(
            TimestampMicrosecondArray::from(vec![
                seconds(day(1, 1)) * 1_000_000,
                seconds(day(2, 1)) * 1_000_000,
                seconds(day(1, 5)) * 1_000_000,
                i64::MIN,
                i64::MAX,
            ])
            .with_timezone("Europe/Paris"),
        ),
    );
    for (path, raw, unit) in [
        (&date32, "2000000000", "days"),
        (&timestamps, "9223372036854775807", "seconds"),
        (&zoned, "-9223372036854775808", "microseconds"),
    ] {
        let found = format!("\"{raw} ({unit} since 1970-01-01)\"");
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // Without --bad-rows the first such row stops the run with its row and column.
        let error = summarize(
            std::slice::from_ref(path),
            when_column(),
            &SummaryOptions::default(),
            None,
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            error.contains(&format!(
                "{name}, row 4, column when: expected a date from 0001-01-01 to 9999-12-31, found {found}"
            )),
            "{error}"
        );
        // With it, both rows are set aside with their reason and the rest is summarised.
        let bad = dir.path().join(format!("{name}.bad.csv"));
        let read = ReadOptions {
            bad_rows: Some(bad.clone()),
            ..when_column()
        };
        let summary = summarize(
            std::slice::from_ref(path),
            read,
            &SummaryOptions::default(),
            None,
        )
        .await
        .unwrap();
        let ingest = &summary.report.ingest;
        assert_eq!(
            (ingest.rows_read, ingest.rows_used, ingest.rows_rejected),
            (5, 3, 2),
            "{name}"
        );
        assert_eq!(ingest.first_day, Some(day(1, 1)), "{name}");
        assert_eq!(ingest.last_day, Some(day(2, 1)), "{name}");
        let ids: Vec<&str> = summary.customer_ids().iter().flatten().collect();
        assert_eq!(ids, ["a", "b"], "{name}");
        let rejected = std::fs::read_to_string(&bad).unwrap();
        assert_eq!(rejected.lines().count(), 3, "{rejected}");
        assert!(rejected.contains(",4,when,"), "{rejected}");
        assert!(rejected.contains(",5,when,"), "{rejected}");
        assert!(
            rejected.contains("expected a date from 0001-01-01 to 9999-12-31"),
            "{rejected}"
        );
        // The record keeps the value, as a number where no calendar can show it.
        assert!(rejected.contains(&format!("b|{raw}|10")), "{rejected}");
    }

    // The purchase histories behind cohorts, seasonality, lifecycle and survival read the same.
    let read = ReadOptions {
        bad_rows: Some(dir.path().join("history.bad.csv")),
        ..when_column()
    };
    let history = retain_data::PurchaseHistory::read(&[date32], read).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history.span(), Some((day(1, 1), day(2, 1))));
}

/// Found by `tests/fuzz.rs` (in CSV; Parquet multiplies the same way): a quantity times a unit
/// price past the largest float was used as an infinite amount.
#[tokio::test]
async fn parquet_quantity_times_price_past_the_largest_number_is_a_rejected_row() {
    use datafusion::arrow::array::{Date32Array, Float64Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("date", DataType::Date32, false),
        Field::new("quantity", DataType::Float64, false),
        Field::new("price", DataType::Float64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["a", "b"])),
            Arc::new(Date32Array::from(vec![10_000, 10_001])),
            Arc::new(Float64Array::from(vec![2.0, 1e200])),
            Arc::new(Float64Array::from(vec![3.5, 1e200])),
        ],
    )
    .unwrap();
    let path = dir.path().join("lines.parquet");
    retain_data::output::write_table(&batch, &path).unwrap();
    let bad = dir.path().join("bad.csv");
    let read = ReadOptions {
        columns: TransactionColumns {
            amount: AmountSpec::Product {
                quantity: "quantity".into(),
                price: "price".into(),
            },
            ..Default::default()
        },
        bad_rows: Some(bad.clone()),
        ..Default::default()
    };
    let summary = summarize(&[path], read, &SummaryOptions::default(), None)
        .await
        .unwrap();
    let ingest = &summary.report.ingest;
    assert_eq!((ingest.rows_used, ingest.rows_rejected), (1, 1));
    assert_eq!(ingest.amount_total, 7.0);
    let rejected = std::fs::read_to_string(&bad).unwrap();
    assert!(
        rejected.contains(",2,price,") && rejected.contains("found \"\"1e200 × 1e200\"\""),
        "{rejected}"
    );
}

/// CDNOW as a hive-partitioned folder, one `day=YYYY-MM-DD` folder per day holding that day's
/// `customer_id, amount` rows (with Spark's `_SUCCESS` markers): the folder is the log and the
/// partition is its date column, so the summary is CDNOW's, digit for digit.
#[tokio::test]
async fn a_hive_partitioned_parquet_folder_is_one_log_with_its_partitions_as_columns() {
    use datafusion::arrow::array::{Float64Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::collections::BTreeMap;
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("cdnow");
    let text = std::fs::read_to_string(data("cdnow/CDNOW_sample.txt")).unwrap();
    let mut by_day: BTreeMap<String, (Vec<String>, Vec<f64>)> = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let d = f[2];
        let day = by_day
            .entry(format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..]))
            .or_default();
        day.0.push(f[1].to_string());
        day.1.push(f[4].parse().unwrap());
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("amount", DataType::Float64, false),
    ]));
    for (day, (ids, amounts)) in &by_day {
        let folder = table.join(format!("day={day}"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("_SUCCESS"), b"").unwrap();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(ids.clone())),
                Arc::new(Float64Array::from(amounts.clone())),
            ],
        )
        .unwrap();
        retain_data::output::write_table(&batch, &folder.join("part-0.parquet")).unwrap();
    }
    let read = ReadOptions {
        columns: TransactionColumns {
            customer: "customer_id".into(),
            date: "day".into(),
            amount: AmountSpec::Column("amount".into()),
        },
        ..Default::default()
    };
    let from_folder = summarize(&[table], read, &cdnow_options(), None)
        .await
        .unwrap();
    assert_eq!(from_folder.report.ingest.rows_read, 6_919);
    assert_eq!(from_folder.batch, cdnow_summary().await.batch);
}
