use std::path::Path;

use super::*;
use retain_data::dates::days_from_civil;

fn parse(text: &str) -> Result<Pipeline> {
    Pipeline::parse(Path::new("/data/pipelines/shop.toml"), text)
}

const MINIMAL: &str = "[source]\ntransactions = [\"log.csv\"]\n";

#[test]
fn a_minimal_file_takes_the_defaults() {
    let p = parse(MINIMAL).unwrap();
    assert_eq!(p.name, "shop");
    assert_eq!(p.cutoff, CutoffRule::LastDay);
    assert!(p.schedule.is_none());
    assert!(p.spec.models.is_empty());
    let read = p.read_options().unwrap();
    assert_eq!(read.columns.customer, "customer_id");
    assert_eq!(read.bad_rows, None);
}

#[test]
fn errors_name_the_line_and_what_was_expected() {
    let typo = format!("{MINIMAL}[cutof]\nrule = \"last-day\"\n");
    let e = parse(&typo).unwrap_err().to_string();
    assert!(e.starts_with("/data/pipelines/shop.toml:3:"), "{e}");
    assert!(e.contains("cutof"), "{e}");
    let unknown_key = "[source]\ntransactions = [\"log.csv\"]\ncustomer_column = \"id\"\n";
    let e = parse(unknown_key).unwrap_err().to_string();
    assert!(e.contains(":3:1") && e.contains("customer_column"), "{e}");
    let bad_cron = format!("schedule = \"every monday\"\n{MINIMAL}");
    let e = parse(&bad_cron).unwrap_err().to_string();
    assert!(e.contains("not a cron expression"), "{e}");
    let bad_kind = format!("{MINIMAL}[[models]]\nname = \"m\"\nkind = \"lstm\"\n");
    let e = parse(&bad_kind).unwrap_err().to_string();
    assert!(
        e.contains("expected churn, bgnbd, mbgnbd or pareto-nbd"),
        "{e}"
    );
    let twice = format!(
        "{MINIMAL}[[models]]\nname = \"m\"\nkind = \"churn\"\n[[models]]\nname = \"m\"\nkind = \"bgnbd\"\n"
    );
    assert!(parse(&twice)
        .unwrap_err()
        .to_string()
        .contains("named twice"));
    let both = format!("{MINIMAL}[cutoff]\nrule = \"last-day\"\ndate = \"2020-01-01\"\n");
    assert!(parse(&both).unwrap_err().to_string().contains("not both"));
}

#[test]
fn cutoff_rules() {
    let day = |y, m, d| days_from_civil(y, m, d);
    // 2024-03-13 is a Wednesday: the last complete week ended on Sunday 2024-03-10.
    assert_eq!(
        CutoffRule::LastCompleteWeek.day(day(2024, 3, 13)),
        day(2024, 3, 10)
    );
    assert_eq!(
        CutoffRule::LastCompleteWeek.day(day(2024, 3, 10)),
        day(2024, 3, 10)
    );
    assert_eq!(
        CutoffRule::LastCompleteMonth.day(day(2024, 3, 13)),
        day(2024, 2, 29)
    );
    assert_eq!(
        CutoffRule::LastCompleteMonth.day(day(2024, 3, 31)),
        day(2024, 3, 31)
    );
    assert_eq!(
        CutoffRule::LastCompleteMonth.day(day(2024, 1, 1)),
        day(2023, 12, 31)
    );
    assert_eq!(CutoffRule::LastDay.day(day(2024, 1, 1)), day(2024, 1, 1));
    let fixed = parse(&format!("{MINIMAL}[cutoff]\ndate = \"1998-06-30\"\n")).unwrap();
    assert_eq!(fixed.cutoff, CutoffRule::Date(day(1998, 6, 30)));
}

#[test]
fn schedules_fire_on_their_cron_times() {
    let p = parse(&format!("schedule = \"0 6 * * MON\"\n{MINIMAL}")).unwrap();
    let wednesday = chrono::DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let next = p.next_due(wednesday).unwrap();
    assert_eq!(next.to_rfc3339(), "2026-12-07T06:00:00+00:00");
}

#[test]
fn globs_expand_relative_to_the_file_and_must_match() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["b.csv", "a.csv", "notes.txt"] {
        std::fs::write(dir.path().join(name), "x").unwrap();
    }
    let path = dir.path().join("p.toml");
    let p = Pipeline::parse(&path, "[source]\ntransactions = [\"*.csv\", \"a.csv\"]\n").unwrap();
    let files = p.transaction_files().unwrap();
    assert_eq!(files, [dir.path().join("a.csv"), dir.path().join("b.csv")]);
    let none = Pipeline::parse(&path, "[source]\ntransactions = [\"*.parquet\"]\n").unwrap();
    let e = none.transaction_files().unwrap_err().to_string();
    assert!(e.contains("matches no file"), "{e}");
}

#[test]
fn drift_thresholds_are_evidentlys_unless_the_file_says() {
    let p = parse(MINIMAL).unwrap();
    assert_eq!(
        p.spec.drift.options(),
        retain_models::drift::DriftOptions::default()
    );
    let p = parse(&format!("{MINIMAL}[drift]\ndrift_share = 0.3\n")).unwrap();
    let options = p.spec.drift.options();
    assert_eq!(options.drift_share, 0.3);
    assert_eq!(options.p_value, 0.05);
    let e = parse(&format!("{MINIMAL}[drift]\ndrift_share = 3.0\n")).unwrap_err();
    assert!(e.to_string().contains("[drift]"), "{e}");
    let e = parse(&format!("{MINIMAL}[drift]\nshare = 0.3\n")).unwrap_err();
    assert!(e.to_string().contains("share"), "{e}");
}
