//! Property tests of the parsers a stranger's file reaches: CSV transaction rows, dates in every
//! `DateFormat`, Parquet (arbitrary bytes, and typed columns of arbitrary values) and customer
//! tables. Whatever the input: no panic; every row read is used, rejected with its reason, or
//! excluded by a rule, and the counts say so; a date that parses is an accepted day and
//! round-trips through `format_day`; a number that parses is finite.
//!
//! 256 cases per property by default, a few seconds in all; `PROPTEST_CASES=N` raises it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Date64Array, Float64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray,
    TimestampSecondArray,
};
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, Float64Type, Schema};
use proptest::prelude::*;

use retain_data::dates::{days_from_civil, format_day, is_accepted_day, parse_date};
use retain_data::ingest::read_all;
use retain_data::{
    read_customer_table, AmountSpec, ColumnKind, CustomerTableOptions, DataError, DateFormat,
    IngestReport, Period, ReadOptions, TransactionColumns,
};

/// Cases per property: 256, or `PROPTEST_CASES`.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        // Failures found become plain regression tests (below and in the crate), not files.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The strftime layouts tried besides `Auto`: the ones the README shows and their neighbours.
const LAYOUTS: [&str; 9] = [
    "%Y-%m-%d",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y",
    "%Y%m%d",
    "%d.%m.%Y",
    "%Y-%m-%dT%H:%M:%S%z",
    "%b %d %Y",
    "%s",
    "%Y-%j",
];

fn formats() -> Vec<DateFormat> {
    std::iter::once(DateFormat::Auto)
        .chain(LAYOUTS.iter().map(|l| DateFormat::Strftime(l.to_string())))
        .collect()
}

fn date_format() -> impl Strategy<Value = DateFormat> {
    proptest::sample::select(formats())
}

/// Text that looks like dates more often than not: real dates in many layouts, years outside
/// 1 to 9999, and strings of date characters.
fn date_text() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (0i32..=10_000, 0u32..=13, 0u32..=32)
            .prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}").into_bytes()),
        (0i32..=10_000, 0u32..=13, 0u32..=32)
            .prop_map(|(y, m, d)| format!("{y:04}{m:02}{d:02}").into_bytes()),
        (1i32..=9999, 1u32..=12, 1u32..=28, 0u32..=25, 0u32..=61).prop_map(|(y, m, d, h, s)| {
            format!("{y:04}-{m:02}-{d:02}T{h:02}:{s:02}:{s:02}.5+01:00").into_bytes()
        }),
        (1u32..=31, 1u32..=12, -20_000i32..=20_000)
            .prop_map(|(d, m, y)| format!("{d:02}/{m:02}/{y} 10:30").into_bytes()),
        any::<i64>().prop_map(|s| s.to_string().into_bytes()),
        "[0-9/:T .+Z-]{0,26}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..12),
    ]
}

/// Text that looks like amounts: numbers of every size, non-finite spellings, garbage.
fn number_text() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<f64>().prop_map(|v| v.to_string().into_bytes()),
        (-1000i64..1000).prop_map(|v| v.to_string().into_bytes()),
        proptest::sample::select(vec![
            "NaN", "inf", "-inf", "infinity", "1e308", "1e309", "-1e308", "1e-400", " 3.5 ", "",
            "12,50", "0x10", "+4",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        "[0-9eE.+-]{0,12}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..6),
    ]
}

fn id_text() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[a-c][0-9]?".prop_map(String::into_bytes),
        Just(Vec::new()),
        Just(b"  ".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..5),
    ]
}

/// A CSV transaction log: a header, then rows of customer, date, quantity, price (some rows
/// with a field too many or too few, some lines of arbitrary bytes, some the header again).
fn transaction_csv() -> impl Strategy<Value = Vec<u8>> {
    let row = prop_oneof![
        8 => (id_text(), date_text(), number_text(), number_text())
            .prop_map(|(c, d, q, p)| [c, d, q, p].join(&b","[..])),
        1 => (id_text(), date_text()).prop_map(|(c, d)| [c, d].join(&b","[..])),
        1 => proptest::collection::vec(any::<u8>(), 0..30),
        1 => Just(b"customer_id,date,quantity,price".to_vec()),
    ];
    (proptest::collection::vec(row, 0..40), any::<bool>()).prop_map(|(rows, crlf)| {
        let newline: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        let mut file = b"customer_id,date,quantity,price".to_vec();
        for row in rows {
            file.extend_from_slice(newline);
            file.extend_from_slice(&row);
        }
        file.extend_from_slice(newline);
        file
    })
}

fn amount_spec() -> impl Strategy<Value = AmountSpec> {
    prop_oneof![
        Just(AmountSpec::None),
        Just(AmountSpec::Column("price".into())),
        Just(AmountSpec::Product {
            quantity: "quantity".into(),
            price: "price".into(),
        }),
    ]
}

fn period() -> impl Strategy<Value = Period> {
    proptest::sample::select(vec![
        Period::Day,
        Period::Week,
        Period::Month,
        Period::Quarter,
    ])
}

/// Read options over the columns of [`transaction_csv`] and [`typed_log`].
fn read_options() -> impl Strategy<Value = ReadOptions> {
    (
        amount_spec(),
        date_format(),
        period(),
        any::<bool>(),
        proptest::option::of(-800_000i32..3_000_000),
    )
        .prop_map(
            |(amount, date_format, period, keep_negative, last_day)| ReadOptions {
                columns: TransactionColumns {
                    customer: "customer_id".into(),
                    date: "date".into(),
                    amount,
                },
                date_format,
                period,
                keep_negative,
                last_day,
                ..Default::default()
            },
        )
}

/// Reads `path` with and without a bad-rows file and checks what must hold whatever the input.
fn check_ingest(dir: &Path, path: &Path, options: &ReadOptions) -> Result<(), TestCaseError> {
    let bad = dir.join("bad.csv");
    let _ = std::fs::remove_file(&bad);
    let with_bad_rows = ReadOptions {
        bad_rows: Some(bad.clone()),
        ..options.clone()
    };
    let report = match read_all(&[path.to_path_buf()], with_bad_rows) {
        // A file that cannot be read at all (empty, no such column, not Parquet) is an error,
        // and so leaves no bad-rows file.
        Err(DataError::BadRow(e)) => {
            return Err(TestCaseError::fail(format!(
                "bad row with a bad-rows file: {e}"
            )))
        }
        Err(_) => {
            prop_assert!(!bad.exists(), "a failed read left {}", bad.display());
            return Ok(());
        }
        Ok(t) => {
            check_accounting(&t.report)?;
            let rows: usize = t.batches.iter().map(|b| b.num_rows()).sum();
            prop_assert_eq!(rows as u64, t.report.rows_used);
            for batch in &t.batches {
                for column in 1..=2 {
                    let days = batch.column(column).as_primitive::<Date32Type>();
                    for day in days.values() {
                        prop_assert!(is_accepted_day((*day).into()), "day {}", day);
                    }
                }
                if let Some(amounts) = batch.column_by_name("amount") {
                    for v in amounts.as_primitive::<Float64Type>().values() {
                        prop_assert!(v.is_finite(), "amount {}", v);
                    }
                }
            }
            let written = csv::Reader::from_path(&bad)
                .map_err(|e| TestCaseError::fail(e.to_string()))?
                .records()
                .count() as u64;
            prop_assert_eq!(written, t.report.rows_rejected);
            t.report
        }
    };
    // Without a bad-rows file the same read stops at the first rejected row, or is the same.
    match read_all(&[path.to_path_buf()], options.clone()) {
        Err(DataError::BadRow(_)) => prop_assert!(report.rows_rejected > 0),
        Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
        Ok(t) => {
            prop_assert_eq!(report.rows_rejected, 0);
            prop_assert_eq!(
                IngestReport {
                    bad_rows_file: None,
                    ..report
                },
                t.report
            );
        }
    }
    Ok(())
}

fn check_accounting(r: &IngestReport) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        r.rows_read,
        r.rows_used + r.rows_rejected + r.rows_excluded(),
        "{:?}",
        r
    );
    if let (Some(first), Some(last)) = (r.first_day, r.last_day) {
        prop_assert!(is_accepted_day(first.into()) && is_accepted_day(last.into()));
        prop_assert!(first <= last);
    }
    Ok(())
}

/// A Parquet log of `customer_id`, `date` and `price` whose date column is of `date_type`, with
/// arbitrary values (nulls among them).
fn typed_log() -> impl Strategy<Value = RecordBatch> {
    let date_type = proptest::sample::select(vec![
        DataType::Date32,
        DataType::Date64,
        DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Second, None),
        DataType::Timestamp(
            datafusion::arrow::datatypes::TimeUnit::Millisecond,
            Some("+05:30".into()),
        ),
        DataType::Timestamp(
            datafusion::arrow::datatypes::TimeUnit::Microsecond,
            Some("America/New_York".into()),
        ),
        DataType::Timestamp(
            datafusion::arrow::datatypes::TimeUnit::Nanosecond,
            Some("UTC".into()),
        ),
        DataType::Utf8,
    ]);
    let raw_date = prop_oneof![
        any::<i64>(),
        // Near the ends of the accepted days, in days, milliseconds and seconds.
        (-720_000i64..-719_000),
        (2_932_000i64..2_934_000),
        (-720_000i64..2_934_000).prop_map(|d| d * 86_400),
        (-720_000i64..2_934_000).prop_map(|d| d * 86_400_000),
    ];
    let row = (
        proptest::option::weighted(0.9, id_text()),
        proptest::option::weighted(0.9, raw_date),
        proptest::option::weighted(0.9, any::<f64>()),
        date_text(),
    );
    (date_type, proptest::collection::vec(row, 1..30)).prop_map(|(date_type, rows)| {
        let ids: StringArray = rows
            .iter()
            .map(|r| {
                r.0.as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
            })
            .collect();
        let raw: Vec<Option<i64>> = rows.iter().map(|r| r.1).collect();
        let dates: ArrayRef = match &date_type {
            DataType::Date32 => Arc::new(Date32Array::from(
                raw.iter().map(|v| v.map(|v| v as i32)).collect::<Vec<_>>(),
            )),
            DataType::Date64 => Arc::new(Date64Array::from(raw.clone())),
            DataType::Timestamp(unit, zone) => {
                use datafusion::arrow::datatypes::TimeUnit as U;
                let zone = zone.clone();
                match unit {
                    U::Second => Arc::new(TimestampSecondArray::from(raw).with_timezone_opt(zone)),
                    U::Millisecond => {
                        Arc::new(TimestampMillisecondArray::from(raw).with_timezone_opt(zone))
                    }
                    U::Microsecond => {
                        Arc::new(TimestampMicrosecondArray::from(raw).with_timezone_opt(zone))
                    }
                    U::Nanosecond => {
                        Arc::new(TimestampNanosecondArray::from(raw).with_timezone_opt(zone))
                    }
                }
            }
            _ => Arc::new(
                rows.iter()
                    .map(|r| Some(String::from_utf8_lossy(&r.3).into_owned()))
                    .collect::<StringArray>(),
            ),
        };
        let prices: Float64Array = rows.iter().map(|r| r.2).collect();
        let schema = Schema::new(vec![
            Field::new("customer_id", DataType::Utf8, true),
            Field::new("date", dates.data_type().clone(), true),
            Field::new("price", DataType::Float64, true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![Arc::new(ids), dates, Arc::new(prices)],
        )
        .expect("columns of one length")
    })
}

fn write_parquet(dir: &Path, batch: &RecordBatch) -> PathBuf {
    let path = dir.join("log.parquet");
    retain_data::output::write_table(batch, &path).expect("writes");
    path
}

/// A small valid Parquet log, to corrupt.
fn valid_parquet_bytes() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Utf8, false),
            Field::new("date", DataType::Date32, false),
            Field::new("price", DataType::Float64, false),
        ])),
        vec![
            Arc::new(StringArray::from(vec!["a", "b", "a"])),
            Arc::new(Date32Array::from(vec![10_000, 10_001, 10_002])),
            Arc::new(Float64Array::from(vec![1.0, 2.5, 3.0])),
        ],
    )
    .unwrap();
    std::fs::read(write_parquet(dir.path(), &batch)).unwrap()
}

/// A customer table: an id column and attributes of every kind, with blanks, NA, garbage,
/// ragged rows and repeated ids.
fn customer_csv() -> impl Strategy<Value = Vec<u8>> {
    let cell = prop_oneof![
        (-1000i64..1000).prop_map(|v| v.to_string().into_bytes()),
        number_text(),
        proptest::sample::select(vec!["true", "FALSE", "yes", "NA", ""])
            .prop_map(|s| s.as_bytes().to_vec()),
        date_text(),
        "[a-z ]{0,5}".prop_map(String::into_bytes),
    ];
    let row = (id_text(), proptest::collection::vec(cell, 2..5));
    proptest::collection::vec(row, 0..30).prop_map(|rows| {
        let mut file = b"customer_id,a,b,c".to_vec();
        for (id, cells) in rows {
            file.push(b'\n');
            file.extend_from_slice(&id);
            for cell in cells {
                file.push(b',');
                file.extend_from_slice(&cell);
            }
        }
        file.push(b'\n');
        file
    })
}

/// Reads a customer table and checks what must hold; `from_text`: numbers were parsed from text
/// (a Parquet file's own floats may be NaN or infinite, as stored).
fn check_customer_table(
    path: &Path,
    options: &CustomerTableOptions,
    from_text: bool,
) -> Result<(), TestCaseError> {
    let table = match read_customer_table(path, options) {
        Ok(table) => table,
        Err(DataError::BadRow(e)) if options.bad_rows.is_some() => {
            return Err(TestCaseError::fail(format!(
                "bad row with a bad-rows file: {e}"
            )))
        }
        Err(_) => return Ok(()),
    };
    prop_assert_eq!(
        table.rows_read,
        table.batch.num_rows() as u64 + table.rows_rejected
    );
    if let Some(bad) = &table.bad_rows_file {
        let written = csv::Reader::from_path(bad)
            .map_err(|e| TestCaseError::fail(e.to_string()))?
            .records()
            .count() as u64;
        prop_assert_eq!(written, table.rows_rejected);
    }
    for column in &table.columns {
        let values = table.text(&column.name, "col");
        prop_assert!(values.is_ok(), "{:?}", values);
        match column.kind {
            ColumnKind::Date => {
                let days = table.days(&column.name, "col");
                prop_assert!(days.is_ok(), "{:?}", days);
                for day in days.unwrap().into_iter().flatten() {
                    prop_assert!(is_accepted_day(day.into()));
                }
            }
            ColumnKind::Integer | ColumnKind::Float => {
                let numbers = table.numbers(&column.name, "col");
                prop_assert!(numbers.is_ok(), "{:?}", numbers);
                for v in numbers.unwrap().into_iter().flatten() {
                    prop_assert!(v.is_finite() || !from_text, "{}", v);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn dates_that_parse_are_accepted_days_and_round_trip(
        text in date_text(),
        format in date_format(),
    ) {
        if let Some(day) = parse_date(&text, &format) {
            prop_assert!(is_accepted_day(day.into()), "{:?} -> {}", String::from_utf8_lossy(&text), day);
            let shown = format_day(day);
            prop_assert_eq!(shown.len(), 10, "{}", shown);
            prop_assert_eq!(parse_date(shown.as_bytes(), &DateFormat::Auto), Some(day));
        }
    }

    #[test]
    fn every_date_of_the_years_1_to_9999_parses_in_every_layout(
        year in 1i32..=9999,
        month in 1u32..=12,
        day in 1u32..=28,
        hour in 0u32..=23,
    ) {
        let date = chrono::NaiveDate::from_ymd_opt(year, month, day).unwrap();
        let time = date.and_hms_opt(hour, 7, 9).unwrap();
        let expected = days_from_civil(year, month, day);
        prop_assert_eq!(parse_date(date.format("%Y-%m-%d").to_string().as_bytes(), &DateFormat::Auto), Some(expected));
        for layout in LAYOUTS {
            if layout == "%s" && year < 1970 {
                continue;
            }
            let text = if layout.ends_with("%z") {
                time.and_utc().format(layout).to_string()
            } else {
                time.format(layout).to_string()
            };
            prop_assert_eq!(
                parse_date(text.as_bytes(), &DateFormat::Strftime(layout.into())),
                Some(expected),
                "{} as {:?}", text, layout
            );
        }
    }

    #[test]
    fn csv_rows_are_all_accounted_for(file in transaction_csv(), options in read_options()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.csv");
        std::fs::write(&path, &file).unwrap();
        check_ingest(dir.path(), &path, &options)?;
    }

    #[test]
    fn arbitrary_bytes_as_a_transaction_file_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
        gzip in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let bytes = if gzip {
            use std::io::Write;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&bytes).unwrap();
            gz.finish().unwrap()
        } else {
            bytes
        };
        std::fs::write(&path, &bytes).unwrap();
        check_ingest(dir.path(), &path, &ReadOptions::default())?;
    }

    #[test]
    fn arbitrary_bytes_as_parquet_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        footer in proptest::collection::vec(any::<u8>(), 0..8),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.parquet");
        let mut bytes = b"PAR1".to_vec();
        bytes.extend_from_slice(&body);
        bytes.extend_from_slice(&footer);
        bytes.extend_from_slice(b"PAR1");
        std::fs::write(&path, &bytes).unwrap();
        check_ingest(dir.path(), &path, &ReadOptions::default())?;
        check_customer_table(&path, &CustomerTableOptions::default(), false)?;
    }

    #[test]
    fn corrupted_parquet_never_panics(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = valid_parquet_bytes();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.parquet");
        std::fs::write(&path, &bytes).unwrap();
        let options = ReadOptions {
            columns: TransactionColumns {
                amount: AmountSpec::Column("price".into()),
                ..TransactionColumns::default()
            },
            ..Default::default()
        };
        check_ingest(dir.path(), &path, &options)?;
        check_customer_table(&path, &CustomerTableOptions::default(), false)?;
    }

    #[test]
    fn typed_parquet_rows_are_all_accounted_for(batch in typed_log(), options in read_options()) {
        let dir = tempfile::tempdir().unwrap();
        let path = write_parquet(dir.path(), &batch);
        check_ingest(dir.path(), &path, &options)?;
    }

    #[test]
    fn typed_parquet_customer_tables_never_panic(batch in typed_log()) {
        let dir = tempfile::tempdir().unwrap();
        let path = write_parquet(dir.path(), &batch);
        let options = CustomerTableOptions { id_col: None, ..Default::default() };
        match read_customer_table(&path, &options) {
            Ok(_) => check_customer_table(&path, &options, false)?,
            // The one error a readable table of plain columns can give: a date out of range.
            Err(e) => prop_assert!(
                matches!(&e, DataError::BadField { expected, .. } if expected.contains("0001-01-01")),
                "{}", e
            ),
        }
    }

    #[test]
    fn customer_tables_account_for_every_row(
        file in customer_csv(),
        with_ids in any::<bool>(),
        with_bad_rows in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("customers.csv");
        std::fs::write(&path, &file).unwrap();
        let options = CustomerTableOptions {
            id_col: with_ids.then(|| "customer_id".into()),
            na_values: vec!["NA".into()],
            bad_rows: with_bad_rows.then(|| dir.path().join("bad.csv")),
            ..Default::default()
        };
        check_customer_table(&path, &options, true)?;
    }
}

/// Logs at the ends of the accepted days, through everything computed from days (periods,
/// labels, cohorts, seasonality, summaries): no calendar computation leaves chrono's range.
#[tokio::test]
async fn the_first_and_last_accepted_days_go_through_every_computation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.csv");
    std::fs::write(
        &path,
        "customer_id,date,amount\na,0001-01-01,1\na,0001-01-09,2\nb,9999-12-31,3\nb,9999-12-20,4\n",
    )
    .unwrap();
    for period in [Period::Day, Period::Week, Period::Month, Period::Quarter] {
        let read = ReadOptions {
            period,
            ..Default::default()
        };
        let history =
            retain_data::PurchaseHistory::read(std::slice::from_ref(&path), read.clone()).unwrap();
        let (first, last) = history.span().unwrap();
        assert_eq!(format_day(first), "0001-01-01");
        assert_eq!(format_day(last), "9999-12-31");
        for p in [Period::Week, Period::Month, Period::Quarter] {
            for day in [first, last] {
                let ordinal = p.ordinal(day);
                assert!(p.first_day(ordinal) <= day);
                assert!(!p.label(ordinal).is_empty());
            }
        }
        let seasons = retain_data::seasonality::seasonal_counts(&history, last, 30).unwrap();
        assert_eq!(seasons.months.iter().map(|m| m.purchases).sum::<u64>(), 2);
        // Only the periods with customers hold a row of the cohort table.
        if period != Period::Day {
            let table = retain_data::purchase_cohorts(&history, period, None).unwrap();
            assert_eq!(table.cohorts.len(), 2);
        }
        let summary = retain_data::summarize(
            std::slice::from_ref(&path),
            read,
            &retain_data::SummaryOptions::default(),
            None,
        )
        .await
        .unwrap();
        assert_eq!(summary.batch.num_rows(), 2);
    }
}

/// Found by `corrupted_parquet_never_panics`: one byte changed in the Arrow schema that the
/// footer carries made arrow-ipc panic ("FloatingPoint type with precision of <UNKNOWN 242> not
/// supported"). Every single-byte change of a small log's footer (its schema and metadata) is now
/// read or refused, never a crash.
#[test]
fn every_one_byte_corruption_of_a_parquet_footer_is_read_or_refused() {
    let valid = valid_parquet_bytes();
    let length = valid.len();
    let footer = u32::from_le_bytes(valid[length - 8..length - 4].try_into().unwrap()) as usize + 8;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.parquet");
    let options = ReadOptions {
        columns: TransactionColumns {
            amount: AmountSpec::Column("price".into()),
            ..TransactionColumns::default()
        },
        bad_rows: Some(dir.path().join("bad.csv")),
        ..Default::default()
    };
    let mut refused = 0;
    for i in length - footer..length {
        for value in [0x00, 0x2f, 0xff] {
            let mut bytes = valid.clone();
            bytes[i] = value;
            std::fs::write(&path, &bytes).unwrap();
            match read_all(std::slice::from_ref(&path), options.clone()) {
                Ok(t) => check_accounting(&t.report).unwrap(),
                Err(_) => refused += 1,
            }
        }
    }
    assert!(refused > 0);
}
