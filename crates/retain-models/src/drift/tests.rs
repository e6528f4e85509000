use super::*;

fn fixture() -> serde_json::Value {
    serde_json::from_str(include_str!("../../tests/fixtures/drift_reference.json")).unwrap()
}

fn method_of(evidently: &str) -> Method {
    match evidently {
        "ks" => Method::Ks,
        "chisquare" => Method::ChiSquare,
        "z" => Method::ZTest,
        "wasserstein" => Method::Wasserstein,
        "jensenshannon" => Method::JensenShannon,
        other => panic!("unknown method {other}"),
    }
}

/// Every case of the fixture: the same test chosen, the same statistic, the same verdict and
/// the same PSI as Evidently 0.7 with scipy. Tolerance 1e-9 relative (sums in another order)
/// except the exact KS p-values, which both compute as 1 − P(inside the band) and so agree
/// to 1e-12 absolute only.
#[test]
fn matches_evidently() {
    let options = DriftOptions::default();
    for case in fixture()["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let kind = case["kind"].as_str().unwrap();
        let numbers = |k: &str| -> Vec<f64> {
            case[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        };
        let labels = |k: &str| -> Vec<String> {
            case[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect()
        };
        let got = if kind == "number" {
            let (r, c) = (numbers("reference"), numbers("current"));
            feature_drift(
                name,
                Values::Numbers(&r),
                Values::Numbers(&c),
                r.len(),
                &options,
            )
        } else {
            let (r, c) = (labels("reference"), labels("current"));
            let r: Vec<Option<&str>> = r.iter().map(|s| Some(s.as_str())).collect();
            let c: Vec<Option<&str>> = c.iter().map(|s| Some(s.as_str())).collect();
            feature_drift(
                name,
                Values::Categories(&r),
                Values::Categories(&c),
                r.len(),
                &options,
            )
        };
        assert_eq!(
            got.method,
            method_of(case["method"].as_str().unwrap()),
            "{name}"
        );
        let want = case["statistic"].as_f64().unwrap();
        let statistic = got.statistic.unwrap();
        let close = if name.contains("asymptotic") {
            // scipy's kstwo here is Pelz-Good's approximation; ours is exact (see below).
            (statistic - want).abs() <= 1e-5 * want
        } else if got.method == Method::Ks {
            (statistic - want).abs() <= 1e-12 + 1e-9 * want
        } else {
            (statistic - want).abs() <= 1e-9 * want.abs().max(1e-300)
        };
        assert!(close, "{name}: statistic {statistic:e}, Evidently {want:e}");
        assert_eq!(got.threshold, case["threshold"].as_f64().unwrap(), "{name}");
        assert_eq!(got.drift, case["drift"].as_bool().unwrap(), "{name}");
        let psi = case["psi"].as_f64().unwrap();
        assert!(
            (got.psi.unwrap() - psi).abs() <= 1e-9 * psi,
            "{name}: PSI {} Evidently {psi}",
            got.psi.unwrap()
        );
    }
}

/// scipy's `kstwo.sf` is exact (Durbin's matrix) for n ≤ 140 or n·d^1.5 ≤ 1.4 and Pelz-Good's
/// asymptotic series beyond (`scipy/stats/_ksstats.py`), which is within about 1e-6 relative;
/// Marsaglia-Tsang-Wang's matrix is exact throughout. So: 1e-9 where scipy is exact, 1e-5
/// where it approximates.
#[test]
fn kolmogorov_distribution_matches_scipy() {
    for point in fixture()["kolmogorov"].as_array().unwrap() {
        let n = point["n"].as_u64().unwrap() as usize;
        let d = point["d"].as_f64().unwrap();
        let want = point["sf"].as_f64().unwrap();
        let got = kolmogorov_sf(n, d);
        let scipy_exact = n <= 140 || n as f64 * d.powf(1.5) <= 1.4;
        let tolerance = if scipy_exact { 1e-9 } else { 1e-5 };
        assert!(
            (got - want).abs() <= tolerance * want,
            "n {n} d {d}: {got:e} scipy {want:e}"
        );
    }
}

#[test]
fn missing_and_unseen_values_are_counted_apart() {
    let r = [Some("a"), Some("b"), None, Some("a")];
    let c = [Some("a"), Some("z"), Some("z"), None, None];
    let got = feature_drift(
        "plan",
        Values::Categories(&r),
        Values::Categories(&c),
        4,
        &DriftOptions::default(),
    );
    assert_eq!(got.reference_missing_share, 0.25);
    assert_eq!(got.current_missing_share, 0.4);
    assert!((got.unseen_share - 2.0 / 3.0).abs() < 1e-15);
    assert_eq!(got.current_rows, 5);
    let numbers = [1.0, f64::NAN, 3.0, 4.0, 5.0, 6.0, 7.0];
    let got = feature_drift(
        "x",
        Values::Numbers(&numbers),
        Values::Numbers(&numbers),
        7,
        &DriftOptions::default(),
    );
    assert_eq!(got.statistic, Some(1.0));
    assert!(!got.drift);
    assert!((got.reference_missing_share - 1.0 / 7.0).abs() < 1e-15);
}

#[test]
fn nothing_to_compare_is_no_drift() {
    let r = [f64::NAN, f64::NAN];
    let c = [1.0, 2.0];
    let got = feature_drift(
        "x",
        Values::Numbers(&r),
        Values::Numbers(&c),
        2,
        &DriftOptions::default(),
    );
    assert_eq!(got.statistic, None);
    assert_eq!(got.psi, None);
    assert!(!got.drift);
}

#[test]
fn dataset_drifts_at_half_the_features() {
    let feature = |drift| FeatureDrift {
        feature: "f".into(),
        method: Method::Wasserstein,
        statistic: Some(if drift { 0.2 } else { 0.01 }),
        threshold: 0.1,
        drift,
        psi: Some(0.0),
        psi_band: Some(PsiBand::Stable),
        reference_rows: 2000,
        current_rows: 2000,
        reference_missing_share: 0.0,
        current_missing_share: 0.0,
        unseen_share: 0.0,
    };
    let options = DriftOptions::default();
    let two_of_four = DatasetDrift::of(
        vec![feature(true), feature(false), feature(true), feature(false)],
        &options,
    );
    assert!(two_of_four.dataset_drift);
    assert_eq!(two_of_four.drifted_features, 2);
    let one_of_three = DatasetDrift::of(
        vec![feature(true), feature(false), feature(false)],
        &options,
    );
    assert!(!one_of_three.dataset_drift);
    assert!(!DatasetDrift::of(Vec::new(), &options).dataset_drift);
}

#[test]
fn psi_bands() {
    assert_eq!(PsiBand::of(0.0999), PsiBand::Stable);
    assert_eq!(PsiBand::of(0.1), PsiBand::Moderate);
    assert_eq!(PsiBand::of(0.25), PsiBand::Significant);
}
