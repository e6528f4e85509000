//! PostgreSQL tables and queries as transaction logs, against the server `.ci/postgres.sh` starts
//! (`RETAIN_TEST_POSTGRES`): the summaries equal those of the same rows as a CSV file, byte for
//! byte, over more rows than one batch; a bad row is named by source, row and column with the
//! password left out, and accounted like a file's; a fitted model's record holds no password.

mod common;

use std::path::Path;

use common::retain;
use sqlx::Connection;

/// A database of its own on the test server (None when no server is given outside CI).
async fn database() -> Option<String> {
    let Ok(server) = std::env::var("RETAIN_TEST_POSTGRES") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI reads transactions from PostgreSQL: set RETAIN_TEST_POSTGRES=postgres://USER@HOST:PORT"
        );
        eprintln!("RETAIN_TEST_POSTGRES not set: PostgreSQL source tests skipped");
        return None;
    };
    let name = format!(
        "retain_source_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros()
    );
    Some(
        retain_store::create_postgres_database(&server, &name)
            .await
            .unwrap(),
    )
}

/// CDNOW's sample as `customer_id, date (YYYY-MM-DD), amount` CSV lines.
fn cdnow_csv() -> String {
    std::fs::read_to_string("../../data/cdnow/CDNOW_sample.txt")
        .unwrap()
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let d = f[2];
            format!("{},{}-{}-{},{}\n", f[1], &d[..4], &d[4..6], &d[6..], f[4])
        })
        .collect()
}

async fn copy_in(conn: &mut sqlx::PgConnection, table: &str, csv: &str) {
    let mut copy = conn
        .copy_in_raw(&format!("COPY {table} FROM STDIN (FORMAT csv)"))
        .await
        .unwrap();
    copy.send(csv.as_bytes()).await.unwrap();
    copy.finish().await.unwrap();
}

fn summarize(source: &[&str], extra: &[&str], out: &Path) -> std::process::Output {
    let mut args = vec!["summarize"];
    args.extend_from_slice(source);
    args.extend_from_slice(extra);
    let out = out.display().to_string();
    args.extend(["-o", &out]);
    retain(&args)
}

/// The first differing line, not two whole summaries.
fn assert_same(expected: &str, path: &Path) {
    let found = std::fs::read_to_string(path).unwrap();
    for (n, (e, f)) in expected.lines().zip(found.lines()).enumerate() {
        assert_eq!(e, f, "{}: line {} differs", path.display(), n + 1);
    }
    assert_eq!(expected.lines().count(), found.lines().count());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_or_query_summarises_as_the_same_rows_in_a_file() {
    let Some(url) = database().await else { return };
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cdnow = cdnow_csv();
    sqlx::raw_sql(
        "CREATE TABLE cdnow (customer_id text, date date, amount numeric(10,2));
         CREATE TABLE \"Big Orders\" (customer bigint, placed timestamptz, quantity int, price float8);
         INSERT INTO \"Big Orders\"
           SELECT g % 7001, TIMESTAMPTZ '2020-01-01 00:00:00+00' + (g % 977) * INTERVAL '7 hours',
                  1 + g % 3, (g % 400) / 8.0
           FROM generate_series(1, 150000) AS g;",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    copy_in(&mut conn, "cdnow", &cdnow).await;
    let file = dir.path().join("cdnow.csv");
    std::fs::write(&file, format!("customer_id,date,amount\n{cdnow}")).unwrap();
    let dates = [
        "--calibration-end",
        "1997-09-30",
        "--observation-end",
        "1998-06-30",
    ];

    let from_file = dir.path().join("file.csv");
    let out = summarize(&["-t", file.to_str().unwrap()], &dates, &from_file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_table = dir.path().join("table.csv");
    let out = summarize(&["-t", &url, "--table", "cdnow"], &dates, &from_table);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("rows read 6,919: used 6,919"), "{stderr}");
    let file_text = std::fs::read_to_string(&from_file).unwrap();
    assert_same(&file_text, &from_table);
    let from_query = dir.path().join("query.csv");
    let query = "SELECT customer_id AS id, date AS day, amount FROM cdnow WHERE amount >= 0";
    let out = summarize(
        &["-t", &url, "--query", query],
        &[&dates[..], &["--customer-col", "id", "--date-col", "day"]].concat(),
        &from_query,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // CDNOW has no negative amounts, so the filter keeps every row.
    assert_same(&file_text, &from_query);

    // A fitted model's record of its data (the source's fingerprint) holds no password.
    let with_password = url.replacen("://postgres@", "://postgres:Sesame-42@", 1);
    let model = dir.path().join("model.json");
    let out = retain(&[
        "fit",
        "bgnbd",
        "-t",
        &with_password,
        "--table",
        "cdnow",
        "--calibration-end",
        "1997-09-30",
        "-o",
        model.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recorded = std::fs::read_to_string(&model).unwrap();
    assert!(recorded.contains("\"data_fingerprint\"") && !recorded.contains("Sesame"));

    // 150,000 rows (three batches), integer ids, timestamps with a zone (their UTC day),
    // quantity × price: the same rows exported by the server as CSV summarise the same.
    let big_file = dir.path().join("big.csv");
    let rows: Vec<(i64, String, i32, f64)> = sqlx::query_as(
        "SELECT customer, to_char(placed AT TIME ZONE 'UTC', 'YYYY-MM-DD'), quantity, price
         FROM \"Big Orders\"",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut text = String::from("customer,placed,quantity,price\n");
    for (c, d, q, p) in &rows {
        text.push_str(&format!("{c},{d},{q},{p}\n"));
    }
    std::fs::write(&big_file, text).unwrap();
    let columns = [
        "--customer-col",
        "customer",
        "--date-col",
        "placed",
        "--quantity-col",
        "quantity",
        "--price-col",
        "price",
    ];
    let (a, b) = (
        dir.path().join("big-file.csv"),
        dir.path().join("big-table.csv"),
    );
    let out = summarize(&["-t", big_file.to_str().unwrap()], &columns, &a);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = summarize(&["-t", &url, "--table", "Big Orders"], &columns, &b);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("rows read 150,000: used 150,000"),
        "{stderr}"
    );
    assert_same(&std::fs::read_to_string(&a).unwrap(), &b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_row_is_named_and_the_password_never_shown() {
    let Some(url) = database().await else { return };
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    sqlx::raw_sql(
        "CREATE TABLE orders (customer_id int, date text, amount text);
         INSERT INTO orders VALUES (1, '1997-01-01', '10.50'), (1, '1997-02-01', '3'),
                                   (2, '1997O3O1', '7.25'), (3, '1997-03-02', 'n/a'),
                                   (NULL, '1997-03-03', '1'), (4, '1997-03-04', '-2');",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    // The test server trusts loopback, so any password connects: it must show nowhere.
    let with_password = url.replacen("://postgres@", "://postgres:Sesame-42@", 1);
    assert_ne!(with_password, url, "{url}");
    let source = ["-t", with_password.as_str(), "--table", "orders"];

    let out = retain(&[&["summarize"][..], &source].concat());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("127.0.0.1")
            && stderr.contains(", table orders, row 3, column date")
            && stderr.contains("found \"1997O3O1\""),
        "{stderr}"
    );
    assert!(!stderr.contains("Sesame"), "{stderr}");

    let bad = dir.path().join("bad.csv");
    let out = retain(
        &[
            &["summarize"][..],
            &source,
            &["--bad-rows", bad.to_str().unwrap()],
        ]
        .concat(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("rows read 6: used 2, rejected 2, excluded 2"),
        "{stderr}"
    );
    let bad_text = std::fs::read_to_string(&bad).unwrap();
    assert!(
        bad_text.contains(",3,date,") && bad_text.contains(",4,amount,"),
        "{bad_text}"
    );
    for text in [&*stderr, &bad_text] {
        assert!(!text.contains("Sesame"), "{text}");
    }

    // Wrong names and unreachable servers are errors that name the source, not a panic.
    let out = retain(&["summarize", "-t", &with_password, "--table", "nosuch"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("table nosuch") && stderr.contains("does not exist"),
        "{stderr}"
    );
    assert!(!stderr.contains("Sesame"), "{stderr}");
    let out = retain(&["summarize", "-t", &with_password]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("name a table or a query"), "{stderr}");
}

/// IBM's Telco table as a PostgreSQL table (integers, float8 with 11 NULL TotalCharges, text):
/// `describe`, `drivers` and `train churn` read it as they read the CSV, and the columns keep the
/// types the CSV's are inferred as.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_table_reads_from_postgresql_as_from_its_csv() {
    let Some(url) = database().await else { return };
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let csv_path = "../../data/telco_churn/Telco-Customer-Churn.csv";
    let csv = std::fs::read_to_string(csv_path).unwrap();
    let header = csv.lines().next().unwrap();
    let columns: Vec<String> = header
        .split(',')
        .map(|name| {
            let kind = match name {
                "SeniorCitizen" | "tenure" => "int",
                "MonthlyCharges" | "TotalCharges" => "float8",
                _ => "text",
            };
            format!("\"{name}\" {kind}")
        })
        .collect();
    sqlx::raw_sql(&format!("CREATE TABLE telco ({})", columns.join(", ")))
        .execute(&mut conn)
        .await
        .unwrap();
    let mut copy = conn
        .copy_in_raw("COPY telco FROM STDIN (FORMAT csv, HEADER true, NULL ' ')")
        .await
        .unwrap();
    copy.send(csv.as_bytes()).await.unwrap();
    copy.finish().await.unwrap();
    let with_password = url.replacen("://postgres@", "://postgres:Sesame-42@", 1);
    let table = ["-c", with_password.as_str(), "--customers-table", "telco"];
    let file = ["-c", csv_path];

    let describe = |source: &[&str]| {
        let out = retain(
            &[
                &["describe"][..],
                source,
                &["--id-col", "customerID", "--format", "json"],
            ]
            .concat(),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let name = json["file"].take();
        (json, name)
    };
    let (from_table, name) = describe(&table);
    let (from_file, _) = describe(&file);
    assert_eq!(from_table, from_file);
    assert!(name.as_str().unwrap().ends_with(", table telco"), "{name}");
    assert!(!name.to_string().contains("Sesame"));

    let drivers = |source: &[&str]| {
        let out = retain(
            &[
                &["drivers"][..],
                source,
                &[
                    "--churn-col",
                    "Churn",
                    "--id-col",
                    "customerID",
                    "--format",
                    "json",
                ],
            ]
            .concat(),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    assert_eq!(drivers(&table), drivers(&file));

    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("churn.json");
    let out = retain(
        &[
            &["train", "churn"][..],
            &table,
            &["--label", "Churn", "--id-col", "customerID", "-o"],
            &[model.to_str().unwrap()],
        ]
        .concat(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let artifact = std::fs::read_to_string(&model).unwrap();
    assert!(artifact.contains(", table telco") && !artifact.contains("Sesame"));
    assert!(!stderr.contains("Sesame"), "{stderr}");
}
