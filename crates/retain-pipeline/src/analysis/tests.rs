use std::path::Path;

use retain_data::dates::days_from_civil;
use retain_data::{AmountSpec, ReadOptions, TransactionColumns};

use super::page::Chart;
use super::*;

/// The CDNOW 1/10 sample: customer in column 2, date in 3, dollars in 5.
fn cdnow() -> Log {
    Log {
        files: vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/cdnow/CDNOW_sample.txt")],
        read: ReadOptions {
            columns: TransactionColumns {
                customer: "2".into(),
                date: "3".into(),
                amount: AmountSpec::Column("5".into()),
            },
            ..ReadOptions::default()
        },
        ..Default::default()
    }
}

fn analysis() -> &'static Analysis {
    static ANALYSIS: std::sync::OnceLock<Analysis> = std::sync::OnceLock::new();
    ANALYSIS.get_or_init(|| analyze_log(&cdnow(), &AnalysisOptions::named("CDNOW")).unwrap())
}

#[test]
fn every_cdnow_customer_is_valued_and_every_dollar_counted() {
    let a = analysis();
    assert_eq!(a.as_of, days_from_civil(1998, 6, 30));
    assert_eq!(a.customers.len(), 2357);
    // The demo's revenue over all periods.
    let spent: f64 = a.customers.iter().map(|c| c.customer.historic_value).sum();
    assert!((spent - 244_091.94).abs() < 1e-6, "{spent}");
    for c in &a.customers {
        let c = &c.customer;
        let p = c.p_alive.unwrap();
        assert!((c.churn_risk - (1.0 - p)).abs() < 1e-15);
        assert!((c.value_at_risk - c.churn_risk * c.historic_value).abs() < 1e-9);
        assert_eq!(c.next_purchase.is_some(), p >= 0.5, "{}", c.customer_id);
        assert!(c.clv.unwrap() >= 0.0);
    }
    let pages: Vec<&str> = a.pages.iter().map(|p| p.page.as_str()).collect();
    assert_eq!(
        pages,
        ["overview", "segments", "value", "retention", "at-risk"]
    );
    assert_eq!(a.kpis.customers, 2357.0);
    assert!(a.kpis.clv.unwrap() > 0.0);
}

#[test]
fn the_reasons_add_up_to_the_churn_risk_above_the_average_customers() {
    let a = analysis();
    let reference = {
        let Some(SavedPurchaseModel::MbgNbd(m)) = a.model.model else {
            panic!("MBG/NBD by default")
        };
        m
    };
    // The reference customer from any customer: risk − Σ contributions is the same for all.
    let base: Vec<f64> = a
        .customers
        .iter()
        .map(|c| {
            let c = &c.customer;
            let sum: f64 = c
                .reasons
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["contribution"].as_f64().unwrap())
                .sum();
            assert_eq!(c.reasons.as_array().unwrap().len(), 3);
            c.churn_risk - sum
        })
        .collect();
    let _ = reference;
    for b in &base {
        assert!((b - base[0]).abs() < 1e-9, "{b} against {}", base[0]);
    }
}

#[test]
fn the_next_purchase_is_the_median_wait_of_a_customer_still_alive() {
    // Lomax survival ((α + T)/(α + T + w))^(r + x) is one half at the median wait.
    for (r, alpha, x, t) in [
        (0.525, 6.18, 0.0, 30.0),
        (0.243, 4.41, 5.0, 70.0),
        (1.5, 0.3, 12.0, 2.0),
    ] {
        let w = median_wait(r, alpha, x, t);
        let survival = ((alpha + t) / (alpha + t + w)).powf(r + x);
        assert!((survival - 0.5).abs() < 1e-12, "{survival}");
        // and by bisection on the survival function
        let (mut lo, mut hi) = (0.0f64, 1e9f64);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if ((alpha + t) / (alpha + t + mid)).powf(r + x) > 0.5 {
                lo = mid
            } else {
                hi = mid
            }
        }
        assert!((lo - w).abs() < 1e-6 * w.max(1.0));
    }
}

#[test]
fn charts_carry_what_they_draw() {
    let a = analysis();
    for page in &a.pages {
        for panel in &page.panels {
            assert!(
                !panel.alt.is_empty() && !panel.title.is_empty(),
                "{}",
                panel.id
            );
            assert!(!panel.table.rows.is_empty(), "{}: empty table", panel.id);
            if let Some(chart) = &panel.chart {
                if !matches!(chart, Chart::Kpis { .. }) {
                    assert!(chart.marks() > 0, "{}: nothing to draw", panel.id);
                    assert!(
                        chart.marks() <= 10_000,
                        "{}: {} marks",
                        panel.id,
                        chart.marks()
                    );
                }
            }
        }
    }
    let retention = a.pages.iter().find(|p| p.page == "retention").unwrap();
    let shares = retention
        .panels
        .iter()
        .find(|p| p.id == "cohort-shares")
        .unwrap();
    // CDNOW's customers all first bought in Q1 1997: three monthly cohorts, over 18 months.
    let Some(Chart::Heatmap { y, cells, .. }) = &shares.chart else {
        panic!()
    };
    assert_eq!(y, &["1997-01", "1997-02", "1997-03"]);
    assert_eq!(cells.len(), 18 + 17 + 16);
    let km = retention
        .panels
        .iter()
        .find(|p| p.id == "survival-by-cohort")
        .unwrap();
    let Some(Chart::Line { series, .. }) = &km.chart else {
        panic!()
    };
    for s in series {
        let v: Vec<f64> = s.values.iter().flatten().copied().collect();
        assert!(
            v.windows(2).all(|w| w[1] <= w[0] + 1e-15),
            "{}: survival rises",
            s.name
        );
        assert!(v.iter().all(|&p| (0.0..=1.0).contains(&p)));
    }
}

#[test]
fn the_customer_page_ends_at_the_stored_p_alive() {
    let a = analysis();
    let info = retain_store::AnalysisInfo {
        analysis_id: "x".into(),
        name: "CDNOW".into(),
        source: "CDNOW_sample.txt".into(),
        as_of: "1998-06-30".into(),
        customers: 2357,
        pages: vec![],
        created_at: String::new(),
    };
    for stored in a.customers.iter().step_by(97) {
        let page = customer_page(
            &info,
            &a.model,
            stored,
            &[(info.clone(), stored.customer.clone())],
        )
        .unwrap();
        let path = page
            .panels
            .iter()
            .find(|p| p.id == "p-alive-history")
            .unwrap();
        let Some(Chart::Line { series, .. }) = &path.chart else {
            panic!()
        };
        let last = series[0].values.last().unwrap().unwrap();
        assert!(
            (last - stored.customer.p_alive.unwrap()).abs() < 1e-12,
            "{}",
            stored.customer.customer_id
        );
    }
}

#[test]
fn telco_contracts_are_analysed_by_contract_with_a_churn_classifier() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/telco_churn/Telco-Customer-Churn.csv");
    let read = retain_data::CustomerTableOptions {
        id_col: Some("customerID".into()),
        ..Default::default()
    };
    let input = crate::train::TrainInput::read(Some((&path, &read)), None).unwrap();
    let options = ContractAnalysisOptions {
        name: "Telco".into(),
        as_of: days_from_civil(2024, 1, 1),
        columns: ContractColumns::default(),
        reasons: 3,
        earlier: vec![],
    };
    let a = analyze_contracts(&input, &options).unwrap();
    // IBM's table: 7,043 customers, 1,869 of whom left; the current 5,174 are stored.
    assert_eq!(a.kpis.customers, 7043.0);
    assert!((a.kpis.churn_rate.unwrap() - 1869.0 / 7043.0).abs() < 1e-12);
    assert_eq!(a.customers.len(), 5174);
    for c in &a.customers {
        let c = &c.customer;
        assert!((0.0..=1.0).contains(&c.churn_risk));
        assert_eq!(c.reasons.as_array().unwrap().len(), 3);
        assert!(["Month-to-month", "One year", "Two year"].contains(&c.segment.as_str()));
    }
    let retention = a.pages.iter().find(|p| p.page == "retention").unwrap();
    let km = &retention.panels[0];
    // Contract type separates survival beyond doubt (lifelines: chi² in the thousands).
    assert!(
        km.caption.as_deref().unwrap().contains("p < 0.001"),
        "{:?}",
        km.caption
    );
    let Some(Chart::Line { series, .. }) = &km.chart else {
        panic!()
    };
    assert_eq!(series.len(), 3);
    // Month-to-month customers leave fastest.
    let at = |s: &page::Series, m: usize| s.values[m].unwrap();
    assert!(at(&series[0], 24) < at(&series[1], 24) && at(&series[1], 24) < at(&series[2], 24));
    // A contract customer's page has no purchases, only the risk and its reasons.
    let info = retain_store::AnalysisInfo {
        analysis_id: "x".into(),
        name: "Telco".into(),
        source: "telco.csv".into(),
        as_of: "2024-01-01".into(),
        customers: 5174,
        pages: vec![],
        created_at: String::new(),
    };
    let stored = &a.customers[0];
    let page = customer_page(&info, &a.model, stored, &[]).unwrap();
    let ids: Vec<&str> = page.panels.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["customer-summary", "reasons", "across-analyses"]);
}

/// A campaign on CDNOW: customers who bought in 1997's last quarter, split by a hash of their
/// id (as good as random), contacted on 1998-01-15 at 0.50 each.
fn cdnow_campaign(dir: &Path, keep: usize) -> std::path::PathBuf {
    let (history, _) = cdnow().history().unwrap();
    let (from, to) = (days_from_civil(1997, 10, 1), days_from_civil(1997, 12, 31));
    let mut text = String::from("customer_id,group,start_date,cost\n");
    let mut n = 0;
    for k in 0..history.len() {
        if n < keep && history.days(k).iter().any(|&d| d >= from && d <= to) {
            let id = history.id(k);
            let treated = u8::from_str_radix(&retain_store::sha256_hex(id.as_bytes())[..2], 16)
                .unwrap()
                .is_multiple_of(2);
            let (group, cost) = if treated {
                ("treated", "0.5")
            } else {
                ("control", "")
            };
            text.push_str(&format!("{id},{group},1998-01-15,{cost}\n"));
            n += 1;
        }
    }
    let path = dir.join("campaign.csv");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_campaign_is_measured_against_its_control_group() {
    let dir = tempfile::tempdir().unwrap();
    let path = cdnow_campaign(dir.path(), usize::MAX);
    let (history, _) = cdnow().history().unwrap();
    let at = days_from_civil(1998, 6, 30);
    let campaign = CampaignOptions {
        margin: Some(0.3),
        ..CampaignOptions::new(&path)
    };
    let page = campaign::campaign_page(&history, &campaign, at, "").unwrap();
    let lift = page
        .panels
        .iter()
        .find(|p| p.id == "campaign-lift")
        .unwrap();
    // The share who bought, recomputed here from the log.
    let rows: Vec<(String, bool)> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), f[1] == "treated")
        })
        .collect();
    let start = days_from_civil(1998, 1, 15);
    let ids: std::collections::HashMap<&str, usize> =
        (0..history.len()).map(|k| (history.id(k), k)).collect();
    let bought = |treated: bool| {
        let arm: Vec<&(String, bool)> = rows.iter().filter(|r| r.1 == treated).collect();
        let b = arm
            .iter()
            .filter(|r| {
                history
                    .days(ids[r.0.as_str()])
                    .iter()
                    .any(|&d| d > start && d <= start + 90)
            })
            .count();
        (b as f64 / arm.len() as f64, arm.len())
    };
    let ((pt, nt), (pc, _)) = (bought(true), bought(false));
    let share = &lift.table.rows[0];
    assert!((share[1].as_f64().unwrap() - pt).abs() < 1e-12);
    assert!((share[2].as_f64().unwrap() - pc).abs() < 1e-12);
    // A split by hash has no effect to find: the interval holds 0.
    assert!(
        share[7].as_str().unwrap().starts_with("inconclusive"),
        "{share:?}"
    );
    let roi = lift.table.rows.last().unwrap();
    assert_eq!(roi[0], "ROI");
    assert!(
        (roi[6].as_f64().unwrap() - 0.5 * nt as f64).abs() < 1e-9,
        "the cost is 0.50 per treated customer"
    );

    // Twenty customers cannot say anything: no interval, and the page says why.
    let small = cdnow_campaign(dir.path(), 20);
    let page = campaign::campaign_page(&history, &CampaignOptions::new(&small), at, "").unwrap();
    assert!(
        page.notes
            .iter()
            .any(|n| n.contains("each group needs at least 30")),
        "{:?}",
        page.notes
    );
    let lift = page
        .panels
        .iter()
        .find(|p| p.id == "campaign-lift")
        .unwrap();
    assert!(lift.table.rows[0][4].is_null());

    // A row that is neither group names its line.
    std::fs::write(
        dir.path().join("bad.csv"),
        "customer_id,group,start_date,cost\n0001,treated,1998-01-15,1\n0002,maybe,1998-01-15,1\n",
    )
    .unwrap();
    let error = campaign::campaign_page(
        &history,
        &CampaignOptions::new(dir.path().join("bad.csv")),
        at,
        "",
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("bad.csv")
            && error.contains("3")
            && error.contains("treated or control")
            && error.contains("maybe"),
        "{error}"
    );
    // A window past the log's end is refused with the day.
    let error = campaign::campaign_page(
        &history,
        &CampaignOptions {
            window_days: 400,
            ..CampaignOptions::new(&path)
        },
        at,
        "",
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("after the log's last day 1998-06-30"),
        "{error}"
    );
}
