//! Awkward data and starts: every fit either converges to finite parameters with a finite
//! log-likelihood, or fails with an error that says why. Never a NaN, never a silent
//! non-convergence.

use retain_models::btyd::gamma_gamma::SpendData;
use retain_models::btyd::{
    BgBb, BgNbd, FitOptions, Fitted, GammaGamma, Lifetimes, MbgNbd, Named, ParetoNbd, RfmData,
    ShiftedBetaGeometric,
};

/// The fit's outcome as a line for the failure message, after checking it is sound.
fn check<P: Named>(
    what: &str,
    result: Result<Fitted<P>, retain_models::btyd::ModelError>,
) -> String {
    match result {
        Ok(fit) => {
            let params = fit.params.named();
            assert!(fit.converged, "{what}: reported unconverged");
            assert!(
                params.iter().all(|(_, v)| v.is_finite() && *v > 0.0),
                "{what}: parameters {params:?}"
            );
            assert!(
                fit.log_likelihood.is_finite(),
                "{what}: LL {}",
                fit.log_likelihood
            );
            if let Some(se) = &fit.std_errors {
                assert!(
                    se.named().iter().all(|(_, v)| v.is_finite() && *v > 0.0),
                    "{what}: standard errors {:?}",
                    se.named()
                );
            }
            format!("{what}: fitted {params:?}")
        }
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.len() > 20 && !message.to_lowercase().contains("nan"),
                "{what}: unhelpful error {message:?}"
            );
            format!("{what}: error {message}")
        }
    }
}

/// Continuous-time purchase models on one data set: each outcome checked.
fn fit_purchase_models(what: &str, data: &RfmData, options: &FitOptions) -> Vec<String> {
    vec![
        check(&format!("BG/NBD, {what}"), BgNbd::fit(data, options)),
        check(&format!("MBG/NBD, {what}"), MbgNbd::fit(data, options)),
        check(
            &format!("Pareto/NBD, {what}"),
            ParetoNbd::fit(data, options),
        ),
    ]
}

fn rows(rows: &[(f64, f64, f64)]) -> RfmData {
    let f: Vec<f64> = rows.iter().map(|r| r.0).collect();
    let r: Vec<f64> = rows.iter().map(|r| r.1).collect();
    let t: Vec<f64> = rows.iter().map(|r| r.2).collect();
    RfmData::new(&f, &r, &t, None).unwrap()
}

/// A small, ordinary data set: a mix of one-off and repeat customers.
fn ordinary() -> RfmData {
    let mut v = vec![];
    for i in 0..200 {
        let i = f64::from(i);
        let x = (i % 7.0).floor();
        let t = 20.0 + (i % 19.0);
        let tx = if x == 0.0 {
            0.0
        } else {
            t * ((i * 0.37) % 1.0)
        };
        v.push((x, tx, t));
    }
    rows(&v)
}

#[test]
fn bad_starting_points_still_fit_or_say_why() {
    let data = ordinary();
    let reference = BgNbd::fit(&data, &FitOptions::default()).unwrap();
    for start in [
        vec![1e-6, 1e6, 1e-6, 1e6],
        vec![1e4, 1e-4, 1e4, 1e-4],
        vec![50.0; 4],
    ] {
        let options = FitOptions {
            start: Some(start.clone()),
            ..FitOptions::default()
        };
        let outcome = check(
            &format!("BG/NBD from {start:?}"),
            BgNbd::fit(&data, &options),
        );
        // Where it converges, it is at the same maximum.
        if let Ok(fit) = BgNbd::fit(&data, &options) {
            assert!(
                (fit.log_likelihood - reference.log_likelihood).abs() < 1e-4,
                "{outcome}: LL {} vs {}",
                fit.log_likelihood,
                reference.log_likelihood
            );
        }
        for line in fit_purchase_models(&format!("start {start:?}"), &data, &options) {
            eprintln!("{line}");
        }
    }
    let bad = FitOptions {
        start: Some(vec![1.0, -1.0, 1.0, 1.0]),
        ..FitOptions::default()
    };
    let e = BgNbd::fit(&data, &bad).unwrap_err().to_string();
    assert!(e.contains("positive"), "{e}");
}

#[test]
fn no_repeat_purchases_is_an_error_for_every_purchase_model() {
    let data = rows(&[(0.0, 0.0, 10.0), (0.0, 0.0, 20.0), (0.0, 0.0, 30.0)]);
    for line in fit_purchase_models("no repeats", &data, &FitOptions::default()) {
        assert!(
            line.contains("no customer made a repeat purchase"),
            "{line}"
        );
    }
    let e = BgBb::fit(&data, &FitOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot be told apart"), "{e}");
    let spend = SpendData::from_repeat_customers(&[0.0, 0.0], &[0.0, 0.0], None);
    let e = spend.and_then(|d| GammaGamma::fit(&d, &FitOptions::default()));
    assert!(e.is_err_and(|e| e.to_string().contains("repeat")));
}

#[test]
fn everyone_still_buying_at_the_end() {
    // Recency = T for every repeat customer: no sign of dropout at all.
    let mut v = vec![];
    for i in 0..300 {
        let i = f64::from(i);
        let x = 1.0 + (i % 5.0);
        let t = 30.0 + (i % 10.0);
        v.push((x, t, t));
    }
    v.push((0.0, 0.0, 35.0));
    // The maximum is a limiting case (no dropout): a fit, with a warning saying so.
    let fit = BgNbd::fit(&rows(&v), &FitOptions::default()).unwrap();
    assert!(
        fit.warnings
            .iter()
            .any(|w| w.contains("edge of the parameter space")),
        "{:?} {:?}",
        fit.params,
        fit.warnings
    );
    for line in fit_purchase_models("recency = T", &rows(&v), &FitOptions::default()) {
        eprintln!("{line}");
    }
}

#[test]
fn huge_frequencies() {
    let mut v = vec![];
    for i in 0..300 {
        let i = f64::from(i);
        let x = if i % 3.0 == 0.0 { 0.0 } else { 1e4 + 137.0 * i };
        let t = 50.0 + (i % 20.0);
        v.push((x, if x > 0.0 { t * 0.9 } else { 0.0 }, t));
    }
    for line in fit_purchase_models("huge frequencies", &rows(&v), &FitOptions::default()) {
        eprintln!("{line}");
    }
}

#[test]
fn a_single_customer() {
    for line in fit_purchase_models(
        "one customer",
        &rows(&[(3.0, 20.0, 30.0)]),
        &FitOptions::default(),
    ) {
        eprintln!("{line}");
    }
    let spend = SpendData::from_repeat_customers(&[3.0], &[25.0], None).unwrap();
    eprintln!(
        "{}",
        check(
            "Gamma-Gamma, one customer",
            GammaGamma::fit(&spend, &FitOptions::default())
        )
    );
    let sbg = Lifetimes::from_customers(&[3.0], &[true]).unwrap();
    eprintln!(
        "{}",
        check(
            "sBG, one customer",
            ShiftedBetaGeometric::fit(&sbg, &FitOptions::default())
        )
    );
}

#[test]
fn spend_that_never_varies() {
    // Every repeat customer spends exactly 20 each time: Gamma-Gamma's spread goes to 0.
    let f = [1.0, 2.0, 5.0, 3.0, 8.0];
    let m = [20.0; 5];
    let spend = SpendData::from_repeat_customers(&f, &m, None).unwrap();
    eprintln!(
        "{}",
        check(
            "Gamma-Gamma, constant spend",
            GammaGamma::fit(&spend, &FitOptions::default())
        )
    );
}

#[test]
fn a_cohort_that_never_churns() {
    let sbg = Lifetimes::from_survivors(&[1000.0, 1000.0, 1000.0, 1000.0]).unwrap();
    eprintln!(
        "{}",
        check(
            "sBG, nobody churns",
            ShiftedBetaGeometric::fit(&sbg, &FitOptions::default())
        )
    );
    let sbg = Lifetimes::from_survivors(&[1000.0, 0.0]).unwrap();
    eprintln!(
        "{}",
        check(
            "sBG, everybody churns at once",
            ShiftedBetaGeometric::fit(&sbg, &FitOptions::default())
        )
    );
}

/// The CDNOW calibration summary (data/cdnow, published with FHL 2005; weeks, 2 decimals).
fn cdnow() -> RfmData {
    let (mut f, mut r, mut t) = (vec![], vec![], vec![]);
    for line in include_str!("../../../data/cdnow/cdnow_customers_summary.csv")
        .lines()
        .skip(1)
    {
        let v: Vec<f64> = line.split(',').map(|s| s.parse().unwrap()).collect();
        f.push(v[1]);
        r.push(v[2]);
        t.push(v[3]);
    }
    RfmData::new(&f, &r, &t, None).unwrap()
}

#[test]
fn weighted_rows_give_the_estimates_of_the_raw_rows() {
    let raw = cdnow();
    assert!(raw.len() < 2357, "some CDNOW customers share a row");
    // The same customers as distinct rows with counts, listed in reverse order.
    let rev = |v: &[f64]| v.iter().rev().copied().collect::<Vec<f64>>();
    let weighted = RfmData::new(
        &rev(&raw.x),
        &rev(&raw.t_x),
        &rev(&raw.t),
        Some(&rev(&raw.weight)),
    )
    .unwrap();
    assert_eq!(weighted.customers(), 2357.0);
    let options = FitOptions::default();
    let same = |what: &str, a: Vec<(&str, f64)>, b: Vec<(&str, f64)>| {
        for ((name, x), (_, y)) in a.iter().zip(&b) {
            assert!(
                (x - y).abs() <= 1e-4 * x.abs(),
                "{what} {name}: raw {x}, weighted {y}"
            );
        }
    };
    let bg = |d: &RfmData| BgNbd::fit(d, &options).unwrap().params.named();
    same("BG/NBD", bg(&raw), bg(&weighted));
    let mbg = |d: &RfmData| MbgNbd::fit(d, &options).unwrap().params.named();
    same("MBG/NBD", mbg(&raw), mbg(&weighted));
    let pareto = |d: &RfmData| ParetoNbd::fit(d, &options).unwrap().params.named();
    same("Pareto/NBD", pareto(&raw), pareto(&weighted));
    // Gamma-Gamma and sBG: raw rows against the same rows collapsed by hand.
    let (f, m) = (
        [1.0, 2.0, 1.0, 4.0, 2.0, 1.0],
        [10.0, 30.0, 10.0, 22.0, 30.0, 14.0],
    );
    let spend_raw = SpendData::from_repeat_customers(&f, &m, None).unwrap();
    let spend_weighted = SpendData::from_repeat_customers(
        &[4.0, 1.0, 2.0, 1.0],
        &[22.0, 10.0, 30.0, 14.0],
        Some(&[1.0, 2.0, 2.0, 1.0]),
    )
    .unwrap();
    let gg = |d: &SpendData| GammaGamma::fit(d, &options).map(|f| f.params.named());
    match (gg(&spend_raw), gg(&spend_weighted)) {
        (Ok(a), Ok(b)) => same("Gamma-Gamma", a, b),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        (a, b) => panic!("Gamma-Gamma: raw {a:?}, weighted {b:?}"),
    }
    let churn_raw = Lifetimes::from_customers(
        &[1.0, 1.0, 2.0, 3.0, 3.0, 3.0, 5.0],
        &[true, true, true, true, false, false, false],
    )
    .unwrap();
    let churn_table = Lifetimes::from_survivors(&[7.0, 5.0, 4.0, 3.0]).unwrap();
    let sbg = |d: &Lifetimes| {
        ShiftedBetaGeometric::fit(d, &options)
            .unwrap()
            .params
            .named()
    };
    // The survivor table ends at 3 periods: censor the raw customer observed for 5 there too.
    let churn_raw_at_3 = Lifetimes::from_customers(
        &[1.0, 1.0, 2.0, 3.0, 3.0, 3.0, 3.0],
        &[true, true, true, true, false, false, false],
    )
    .unwrap();
    same("sBG", sbg(&churn_raw_at_3), sbg(&churn_table));
    assert!(sbg(&churn_raw).iter().all(|(_, v)| v.is_finite()));
}
