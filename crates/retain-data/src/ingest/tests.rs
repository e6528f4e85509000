//! Reading CSV and Parquet logs end to end through `read_all`: delimiters, headers, gzip, the
//! exclusions and every kind of rejected row with the message it gets.

use super::*;
use std::fs::File;
use std::io::Write;

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
