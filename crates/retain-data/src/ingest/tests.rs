//! Reading CSV and Parquet logs end to end through `read_all`: delimiters, headers, gzip, the
//! exclusions and every kind of rejected row with the message it gets.

use super::*;
use datafusion::arrow::array::AsArray;
use std::fs::File;
use std::io::Write;
use std::sync::Arc;

fn write(dir: &tempfile::TempDir, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    File::create(&path).unwrap().write_all(content).unwrap();
    path
}

fn read(path: &Path, options: ReadOptions) -> Result<(Vec<RecordBatch>, IngestReport, SchemaRef)> {
    let t = read_all(&[path.to_path_buf()], options)?;
    Ok((t.batches, t.report, t.schema))
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

#[test]
fn delimiters_are_sniffed() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        (
            "comma.csv",
            "customer_id,date,amount\na,2020-01-01,1.5\nb,2020-01-02,2\n",
        ),
        (
            "semi.csv",
            "customer_id;date;amount\na;2020-01-01;1.5\nb;2020-01-02;2\n",
        ),
        (
            "tab.tsv",
            "customer_id\tdate\tamount\na\t2020-01-01\t1.5\nb\t2020-01-02\t2\n",
        ),
        (
            "space.txt",
            "customer_id   date     amount\r\n a  20200101   1.5\r\nb 20200102 2\r\n",
        ),
    ] {
        let path = write(&dir, name, text.as_bytes());
        let (batches, report, schema) = read(&path, ReadOptions::default()).unwrap();
        assert_eq!(rows(&batches), 2, "{name}");
        assert_eq!(report.rows_used, 2);
        assert_eq!(report.amount_total, 3.5, "{name}");
        assert_eq!(schema.fields().len(), 4);
    }
}

#[test]
fn headerless_positional_columns_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let text = b" 00004 0001 19970101  2   29.33\r\n 00004 0001 19970118  2   29.73\r\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text).unwrap();
    let path = write(&dir, "cdnow.txt.gz", &gz.finish().unwrap());
    let options = ReadOptions {
        columns: TransactionColumns {
            customer: "2".into(),
            date: "3".into(),
            amount: AmountSpec::Column("5".into()),
        },
        ..Default::default()
    };
    let (batches, report, _) = read(&path, options).unwrap();
    assert_eq!(rows(&batches), 2);
    assert_eq!(report.rows_read, 2);
    assert!((report.amount_total - 59.06).abs() < 1e-9);
}

#[test]
fn exclusions_are_counted_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "t.csv",
        b"InvoiceNo,CustomerID,InvoiceDate,Quantity,UnitPrice\n\
          1,17850,2010-12-01 08:26:00,6,2.55\n\
          C2,17850,2010-12-01 09:00:00,-6,2.55\n\
          3,,2010-12-01 09:00:00,1,1.00\n\
          4,12345,2011-12-31 09:00:00,1,1.00\n",
    );
    let options = ReadOptions {
        columns: TransactionColumns {
            customer: "CustomerID".into(),
            date: "InvoiceDate".into(),
            amount: AmountSpec::Product {
                quantity: "Quantity".into(),
                price: "UnitPrice".into(),
            },
        },
        last_day: Some(crate::dates::days_from_civil(2011, 12, 9)),
        ..Default::default()
    };
    let (batches, report, _) = read(&path, options).unwrap();
    assert_eq!(rows(&batches), 1);
    assert_eq!(report.rows_read, 4);
    assert_eq!(report.rows_used, 1);
    assert_eq!(report.excluded_negative_amount, 1);
    assert_eq!(report.excluded_no_customer, 1);
    assert_eq!(report.excluded_after_end, 1);
    assert_eq!(
        report.rows_used + report.rows_rejected + report.rows_excluded(),
        report.rows_read
    );
    assert!((report.amount_total - 15.3).abs() < 1e-12);
}

fn error_of(content: &[u8], options: ReadOptions) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "bad.csv", content);
    match read(&path, options) {
        Ok(_) => panic!(
            "expected an error for {:?}",
            String::from_utf8_lossy(content)
        ),
        Err(e) => e.to_string(),
    }
}

#[test]
fn missing_column_names_the_columns_and_a_near_match() {
    let msg = error_of(
        b"Customer_ID,date,amount\na,2020-01-01,1\n",
        ReadOptions::default(),
    );
    assert!(msg.contains("no column \"customer_id\""), "{msg}");
    assert!(msg.contains("did you mean \"Customer_ID\""), "{msg}");
    assert!(msg.contains("bad.csv"), "{msg}");
}

#[test]
fn bad_date_names_file_line_column_expected_and_found() {
    let msg = error_of(
        b"customer_id,date,amount\na,2020-01-01,1\nb,2020-13-01,2\n",
        ReadOptions::default(),
    );
    assert!(
        msg.contains("bad.csv:3, column date: expected a date"),
        "{msg}"
    );
    assert!(msg.contains("found \"2020-13-01\""), "{msg}");
    assert!(msg.contains("--bad-rows"), "{msg}");
}

#[test]
fn bad_number() {
    let msg = error_of(
        b"customer_id,date,amount\na,2020-01-01,1\nb,2020-01-02,12,5\n",
        ReadOptions::default(),
    );
    assert!(msg.contains("bad.csv:3: expected 3 fields"), "{msg}");
    let msg = error_of(
        b"customer_id;date;amount\na;2020-01-01;12,50\n",
        ReadOptions::default(),
    );
    assert!(
        msg.contains("bad.csv:2, column amount: expected a number"),
        "{msg}"
    );
    assert!(msg.contains("found \"12,50\""), "{msg}");
}

/// Found by `tests/fuzz.rs`: 2 × -1e308 was used as an amount of -inf.
#[test]
fn a_quantity_times_price_past_the_largest_number_is_rejected() {
    let options = ReadOptions {
        columns: TransactionColumns {
            amount: AmountSpec::Product {
                quantity: "quantity".into(),
                price: "price".into(),
            },
            ..Default::default()
        },
        keep_negative: true,
        ..Default::default()
    };
    let msg = error_of(
        b"customer_id,date,quantity,price\na,2020-01-01,2,-1e308\n",
        options,
    );
    assert!(
        msg.contains("bad.csv:2, column price: expected a quantity × unit price within"),
        "{msg}"
    );
    assert!(msg.contains("found \"2 × -1e308\""), "{msg}");
}

#[test]
fn empty_files() {
    let msg = error_of(b"", ReadOptions::default());
    assert!(msg.contains("the file is empty"), "{msg}");
    let msg = error_of(b"customer_id,date,amount\n", ReadOptions::default());
    assert!(msg.contains("header but no data rows"), "{msg}");
}

#[test]
fn ragged_row() {
    let msg = error_of(
        b"customer_id,date,amount\na,2020-01-01\n",
        ReadOptions::default(),
    );
    assert!(
        msg.contains("bad.csv:2: expected 3 fields (as in the header), found 2"),
        "{msg}"
    );
}

#[test]
fn non_utf8() {
    let msg = error_of(
        b"customer_id,date,amount\nJos\xe9,2020-01-01,1\n",
        ReadOptions::default(),
    );
    assert!(
        msg.contains("bad.csv:2, column customer_id: expected UTF-8 text, found byte 0xE9"),
        "{msg}"
    );
    assert!(msg.contains("iconv"), "{msg}");
}

#[test]
fn duplicate_header_and_repeated_header_line() {
    let msg = error_of(
        b"customer_id,date,date,amount\na,2020-01-01,2020-01-01,1\n",
        ReadOptions::default(),
    );
    assert!(
        msg.contains("names column \"date\" twice (fields 2 and 3)"),
        "{msg}"
    );
    let msg = error_of(
        b"customer_id,date,amount\na,2020-01-01,1\ncustomer_id,date,amount\n",
        ReadOptions::default(),
    );
    assert!(
        msg.contains("bad.csv:3: expected a data row, found the header line again"),
        "{msg}"
    );
}

#[test]
fn bad_rows_file_collects_rejects_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "t.csv",
        b"customer_id,date,amount\na,2020-01-01,1\nb,not a date,2\nc,2020-01-03,x\nd,2020-01-04\ne,2020-01-05,5\n",
    );
    let bad = dir.path().join("bad.csv");
    let options = ReadOptions {
        bad_rows: Some(bad.clone()),
        ..Default::default()
    };
    let (batches, report, _) = read(&path, options).unwrap();
    assert_eq!(rows(&batches), 2);
    assert_eq!(
        (report.rows_read, report.rows_used, report.rows_rejected),
        (5, 2, 3)
    );
    let text = std::fs::read_to_string(&bad).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[1].contains(",3,date,") && lines[1].contains("not a date"),
        "{text}"
    );
    assert!(lines[2].contains(",4,amount,"), "{text}");
    assert!(lines[3].contains(",5,,\"expected 3 fields"), "{text}");
}

/// A reading's rows (id, day, amount), report and bad-rows file text.
type Reading = (Vec<(String, i32, f64)>, IngestReport, String);

/// Everything a reading gives, codes turned back into ids.
fn read_with_workers(path: &Path, bad_rows: Option<PathBuf>, workers: usize) -> Result<Reading> {
    let options = ReadOptions {
        bad_rows: bad_rows.clone(),
        ..Default::default()
    };
    let sink = match &bad_rows {
        Some(p) => Rejected::File(Box::new(crate::text::BadRowSink::create(p)?)),
        None => Rejected::Fatal,
    };
    let mut reader = TransactionReader::open_with(&[path.to_path_buf()], options, sink, workers)?;
    let mut batches = Vec::new();
    for batch in reader.by_ref() {
        batches.push(batch?);
    }
    let (mut report, customers) = reader.into_parts();
    let mut rows = Vec::new();
    for b in &batches {
        let codes = b
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::UInt32Type>();
        let days = b
            .column(1)
            .as_primitive::<datafusion::arrow::datatypes::Date32Type>();
        let amounts = b
            .column(3)
            .as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        for r in 0..b.num_rows() {
            rows.push((
                customers.id(codes.value(r)).into_owned(),
                days.value(r),
                amounts.value(r),
            ));
        }
    }
    let bad = match report.bad_rows_file.take() {
        Some(p) => std::fs::read_to_string(p).unwrap(),
        None => String::new(),
    };
    Ok((rows, report, bad))
}

#[test]
fn a_large_file_read_in_parallel_gives_what_one_thread_gives() {
    let dir = tempfile::tempdir().unwrap();
    // Over PARALLEL_MIN_BYTES, so cut into parts: ids interned and plain, quoted fields with
    // line breaks (a part must not end inside one), bad rows spread over the file.
    let mut text = String::from("customer_id,date,amount,note\n");
    let mut i = 0u64;
    while text.len() < (parallel::PARALLEL_MIN_BYTES as usize) + (3 << 20) {
        let id = if i.is_multiple_of(3) {
            format!("c-{}", i % 7919)
        } else {
            (i % 5003).to_string()
        };
        let day = 1 + i % 28;
        let note = if i.is_multiple_of(11) {
            "\"two\nlines, quoted\""
        } else {
            "plain"
        };
        let date = if i % 100_003 == 17 {
            "2020-02-3O".to_string()
        } else {
            format!("2020-02-{day:02}")
        };
        text.push_str(&format!("{id},{date},{}.{:02},{note}\n", i % 97, i % 100));
        i += 1;
    }
    let path = write(&dir, "big.csv", text.as_bytes());
    let serial = read_with_workers(&path, Some(dir.path().join("bad1.csv")), 1).unwrap();
    let parallel = read_with_workers(&path, Some(dir.path().join("bad2.csv")), 3).unwrap();
    assert!(serial.1.rows_rejected >= 3, "{:?}", serial.1);
    assert_eq!(serial.0.len() as u64, serial.1.rows_used);
    assert!(serial.0 == parallel.0, "the same rows in the same order");
    assert_eq!(serial.1, parallel.1);
    assert!(serial.2.contains("2020-02-3O"));
    assert!(serial.2 == parallel.2, "the same bad rows, same lines");
    // Without a bad-rows file: the same first error.
    let serial = read_with_workers(&path, None, 1).err().unwrap().to_string();
    let parallel = read_with_workers(&path, None, 3).err().unwrap().to_string();
    assert!(serial.contains("big.csv:21, column date"), "{serial}");
    assert_eq!(serial, parallel);
}

/// A Parquet log of `rows` rows in row groups of 40,000: ids from `id(i)`, text dates with a
/// bad one every 100,003 rows, amounts.
fn parquet_log(
    path: &Path,
    rows: u64,
    ids: impl Fn(u64) -> datafusion::arrow::array::ArrayRef,
) -> PathBuf {
    use datafusion::arrow::array::{Float64Array, StringArray};
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::file::properties::WriterProperties;
    let dates: StringArray = (0..rows)
        .map(|i| {
            Some(if i % 100_003 == 17 {
                "2020-02-3O".to_string()
            } else {
                format!("2020-02-{:02}", 1 + i % 28)
            })
        })
        .collect();
    let amounts: Float64Array = (0..rows).map(|i| Some((i % 97) as f64 + 0.25)).collect();
    let batch = RecordBatch::try_from_iter([
        ("customer_id", ids(rows)),
        ("date", Arc::new(dates) as _),
        ("amount", Arc::new(amounts) as _),
    ])
    .unwrap();
    let properties = WriterProperties::builder()
        .set_max_row_group_row_count(Some(40_000))
        .build();
    let mut writer = ArrowWriter::try_new(
        File::create(path).unwrap(),
        batch.schema(),
        Some(properties),
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    path.to_path_buf()
}

#[test]
fn a_parquet_file_read_by_row_groups_in_parallel_gives_what_one_thread_gives() {
    use datafusion::arrow::array::{Int64Array, StringArray};
    let dir = tempfile::tempdir().unwrap();
    // Integer ids (coded without text: plain, negative, past 2^29, missing) and text ids.
    let integers = parquet_log(&dir.path().join("integers.parquet"), 300_000, |n| {
        Arc::new(
            (0..n)
                .map(|i| match i % 13 {
                    0 => None,
                    1 => Some(-((i % 31) as i64)),
                    2 => Some((1 << 40) + (i % 17) as i64),
                    _ => Some((i % 5003) as i64),
                })
                .collect::<Int64Array>(),
        )
    });
    let text = parquet_log(&dir.path().join("text.parquet"), 300_000, |n| {
        Arc::new(
            (0..n)
                .map(|i| Some(format!("c-{}", i % 7919)))
                .collect::<StringArray>(),
        )
    });
    for path in [integers, text] {
        let serial = read_with_workers(&path, Some(dir.path().join("bad1.csv")), 1).unwrap();
        let parallel = read_with_workers(&path, Some(dir.path().join("bad2.csv")), 3).unwrap();
        assert_eq!(serial.1.rows_rejected, 3, "{:?}", serial.1);
        assert_eq!(serial.0.len() as u64, serial.1.rows_used);
        assert!(serial.0 == parallel.0, "the same rows in the same order");
        assert_eq!(serial.1, parallel.1);
        assert!(serial.2.contains("2020-02-3O"));
        assert!(
            serial.2 == parallel.2,
            "the same bad rows, same row numbers"
        );
        let serial = read_with_workers(&path, None, 1).err().unwrap().to_string();
        let parallel = read_with_workers(&path, None, 3).err().unwrap().to_string();
        assert!(serial.contains("row 18, column date"), "{serial}");
        assert_eq!(serial, parallel);
    }
    // Integer ids read back as the text they are.
    let (rows, report, _) = read_with_workers(
        &dir.path().join("integers.parquet"),
        Some(dir.path().join("bad3.csv")),
        2,
    )
    .unwrap();
    assert_eq!(report.excluded_no_customer, 300_000 / 13 + 1);
    assert!(rows.iter().any(|r| r.0 == "-5"));
    assert!(rows.iter().any(|r| r.0 == (1u64 << 40).to_string()));
    assert!(rows.iter().any(|r| r.0 == "4999"));
}
