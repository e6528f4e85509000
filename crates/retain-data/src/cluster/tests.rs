//! The cluster's plans, codecs and address, without a cluster: the plans run in a plain
//! DataFusion session (what an executor runs, minus the network) and must give what the local
//! path gives, to the digit; the codecs must carry retain's nodes across unchanged. The real
//! cluster (scheduler, two executors, a killed executor) is `crates/retain/tests/cluster.rs`.

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{DefaultPhysicalProtoConverter, PhysicalExtensionCodec};

use super::codec::{RetainLogicalCodec, RetainPhysicalCodec};
use super::scan::{LogScanExec, LogTable, ScanSpec};
use super::*;
use crate::dates::days_from_civil;
use crate::summary::{split_day, summary_of, SummaryOptions};
use crate::{AmountSpec, TransactionColumns};

const CDNOW: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../data/cdnow/CDNOW_sample.txt"
);

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

fn here() -> Session {
    Session {
        ctx: SessionContext::new(),
        scheduler: "here".into(),
    }
}

/// CDNOW in three files, the second with a bad date and a bad amount.
fn three_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(CDNOW).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let third = lines.len() / 3;
    let mut parts = [
        lines[..third].to_vec(),
        lines[third..2 * third].to_vec(),
        lines[2 * third..].to_vec(),
    ];
    parts[1][5] = " 00900 0900 1997l203  2   29.33";
    parts[1][50] = " 00901 0901 19970203  2   lots";
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let path = dir.join(format!("part-{i}.txt"));
            std::fs::write(&path, part.join("\n") + "\n").unwrap();
            path
        })
        .collect()
}

#[tokio::test]
async fn the_cluster_summary_plan_gives_the_local_summary() {
    let dir = tempfile::tempdir().unwrap();
    let files = three_files(dir.path());
    for (calibration_end, period) in [
        (Some(days_from_civil(1997, 9, 30)), crate::Period::Day),
        (None, crate::Period::Day),
        (Some(days_from_civil(1997, 9, 30)), crate::Period::Week),
    ] {
        let options = SummaryOptions {
            calibration_end,
            observation_end: Some(days_from_civil(1998, 6, 30)),
            ..Default::default()
        };
        let read = |bad: &str| ReadOptions {
            period,
            bad_rows: Some(dir.path().join(bad)),
            last_day: options.observation_end,
            ..cdnow_read()
        };
        let local = crate::summarize(&files, read("bad-local.csv"), &options, None)
            .await
            .unwrap();
        let aggregated = aggregate(here(), &files, read("bad-here.csv"), split_day(&options))
            .await
            .unwrap();
        let cluster = summary_of(aggregated, &files, &options, period).unwrap();
        assert_eq!(local.batch, cluster.batch, "{calibration_end:?} {period:?}");
        let mut report = cluster.report.clone();
        report.ingest.bad_rows_file = local.report.ingest.bad_rows_file.clone();
        assert_eq!(local.report.ingest, report.ingest);
        assert_eq!(local.report.customers, cluster.report.customers);
        assert_eq!(local.report.ingest.rows_rejected, 2);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("bad-local.csv")).unwrap(),
            std::fs::read_to_string(dir.path().join("bad-here.csv")).unwrap()
        );
    }
}

#[tokio::test]
async fn the_cluster_purchase_days_give_the_local_history() {
    let dir = tempfile::tempdir().unwrap();
    let files = three_files(dir.path());
    let read = ReadOptions {
        bad_rows: Some(dir.path().join("bad.csv")),
        ..cdnow_read()
    };
    let local = crate::PurchaseHistory::read(&files, read.clone()).unwrap();
    let days = purchase_days(here(), &files, read).await.unwrap();
    let cluster = crate::PurchaseHistory::from_rows(days.rows, &days.customers, days.ingest, true);
    assert_eq!(local.len(), 2357);
    let mut cluster = cluster;
    cluster.report.bad_rows_file = local.report.bad_rows_file.clone();
    assert_eq!(local, cluster);
}

#[tokio::test]
async fn without_a_bad_rows_file_the_first_rejected_row_fails_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let files = three_files(dir.path());
    let Err(error) = aggregate(here(), &files, cdnow_read(), i32::MAX).await else {
        panic!("a bad date went through");
    };
    let text = error.to_string();
    assert!(
        text.contains("part-1.txt:6, column 3") && text.contains("1997l203"),
        "{text}"
    );
}

#[test]
fn engines_parse_and_print() {
    assert_eq!("local".parse::<Engine>(), Ok(Engine::Local));
    let engine: Engine = "ballista://10.0.0.5:50050".parse().unwrap();
    assert_eq!(
        engine,
        Engine::Ballista {
            host: "10.0.0.5".into(),
            port: 50050
        }
    );
    assert_eq!(engine.to_string(), "ballista://10.0.0.5:50050");
    for bad in [
        "ballista://host",
        "ballista://:50050",
        "df://h:1",
        "ballista://h:99999",
    ] {
        let error = bad.parse::<Engine>().unwrap_err();
        assert!(error.contains("ballista://HOST:PORT"), "{bad}: {error}");
    }
}

#[tokio::test]
async fn the_codecs_carry_the_scan_and_the_aggregate() {
    let spec = Arc::new(ScanSpec {
        files: vec!["/data/a.csv".into(), "/data/b.csv".into()],
        read: cdnow_read(),
        keep_rejected: true,
    });
    let ctx = SessionContext::new();
    let task = ctx.task_ctx();

    let logical = RetainLogicalCodec::default();
    let mut buf = Vec::new();
    let table: Arc<dyn datafusion::catalog::TableProvider> =
        Arc::new(LogTable { spec: spec.clone() });
    let reference = datafusion::common::TableReference::bare("transactions");
    logical
        .try_encode_table_provider(&reference, table, &mut buf)
        .unwrap();
    let decoded = logical
        .try_decode_table_provider(&buf, &reference, scan::scan_schema(), &task)
        .unwrap();
    let decoded = decoded.downcast_ref::<LogTable>().unwrap();
    assert_eq!(decoded.spec.files, spec.files);
    assert_eq!(decoded.spec.read.columns, spec.read.columns);
    assert!(decoded.spec.keep_rejected);

    let physical = RetainPhysicalCodec::default();
    let scan = Arc::new(LogScanExec::new(spec.clone(), Some(vec![0, 4])).unwrap());
    let mut buf = Vec::new();
    physical
        .try_encode(scan.clone(), &mut buf, &DefaultPhysicalProtoConverter {})
        .unwrap();
    let input = scan.children()[0].clone();
    let decoded = physical
        .try_decode(&buf, &[input], &task, &DefaultPhysicalProtoConverter {})
        .unwrap();
    let decoded = decoded.downcast_ref::<LogScanExec>().unwrap();
    assert_eq!(decoded.spec.files, spec.files);
    assert_eq!(decoded.projection, Some(vec![0, 4]));

    let mut buf = Vec::new();
    let udaf = crate::arg_min::arg_min_udaf();
    physical.try_encode_udaf(&udaf, &mut buf).unwrap();
    assert!(!buf.is_empty());
    let back = physical.try_decode_udaf("arg_min", &buf).unwrap();
    assert_eq!(back.name(), "arg_min");
    // Other aggregates are left to the registry: nothing written for them.
    let mut buf = Vec::new();
    let sum = datafusion::functions_aggregate::sum::sum_udaf();
    physical.try_encode_udaf(&sum, &mut buf).unwrap();
    assert!(buf.is_empty());
}
