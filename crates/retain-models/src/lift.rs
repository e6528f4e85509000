//! What a campaign changed: the difference between a treated group and a randomly held-out
//! control group, with confidence intervals that hold at the sizes campaigns have.
//!
//! - A rate (the share who bought again): the difference p_T − p_C with Newcombe's hybrid score
//!   interval (Newcombe 1998, method 10), built from each arm's Wilson interval (l, u):
//!   `L = d − √((p_T − l_T)² + (u_C − p_C)²)`, `U = d + √((u_T − p_T)² + (p_C − l_C)²)`. Unlike
//!   the normal approximation it stays inside [−1, 1] and keeps its coverage near 0 and 1.
//! - A mean (purchases, revenue per customer): Welch's interval,
//!   `Δ ± t(df) · √(s_T²/n_T + s_C²/n_C)` with the Welch–Satterthwaite degrees of freedom.
//!
//! statsmodels' `confint_proportions_2indep(method="newcomb")` and scipy's Welch t-test give the
//! same numbers (`tests/fixtures/lift_reference.json`, made by `tests/fixtures/lift_reference.py`).

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

use crate::error::ModelError;

/// A difference with its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Difference {
    pub treated: f64,
    pub control: f64,
    /// treated − control.
    pub difference: f64,
    pub lower: f64,
    pub upper: f64,
}

impl Difference {
    /// Whether the interval holds 0: the data cannot tell the groups apart.
    pub fn inconclusive(&self) -> bool {
        self.lower <= 0.0 && self.upper >= 0.0
    }
}

fn z_of(confidence: f64) -> Result<f64, ModelError> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(ModelError::InvalidData(format!(
            "the confidence level must be between 0 and 1, found {confidence}"
        )));
    }
    Ok(Normal::standard().inverse_cdf(0.5 + confidence / 2.0))
}

/// Wilson's score interval of `successes` out of `n`.
pub fn wilson(successes: u64, n: u64, confidence: f64) -> Result<(f64, f64), ModelError> {
    if n == 0 || successes > n {
        return Err(ModelError::InvalidData(format!(
            "a rate needs 0 <= successes <= n and n > 0, found {successes} of {n}"
        )));
    }
    let z = z_of(confidence)?;
    let (n, p) = (n as f64, successes as f64 / n as f64);
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    // Rounding can put an end a hair outside [0, 1].
    Ok(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// Newcombe's hybrid score interval of the difference of two rates.
pub fn rate_difference(
    (successes_t, n_t): (u64, u64),
    (successes_c, n_c): (u64, u64),
    confidence: f64,
) -> Result<Difference, ModelError> {
    let (lt, ut) = wilson(successes_t, n_t, confidence)?;
    let (lc, uc) = wilson(successes_c, n_c, confidence)?;
    let pt = successes_t as f64 / n_t as f64;
    let pc = successes_c as f64 / n_c as f64;
    let d = pt - pc;
    Ok(Difference {
        treated: pt,
        control: pc,
        difference: d,
        lower: (d - ((pt - lt).powi(2) + (uc - pc).powi(2)).sqrt()).max(-1.0),
        upper: (d + ((ut - pt).powi(2) + (pc - lc).powi(2)).sqrt()).min(1.0),
    })
}

fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

/// Welch's interval of the difference of two means.
pub fn mean_difference(
    treated: &[f64],
    control: &[f64],
    confidence: f64,
) -> Result<Difference, ModelError> {
    if treated.len() < 2 || control.len() < 2 {
        return Err(ModelError::InvalidData(
            "a difference of means needs at least 2 customers in each group".into(),
        ));
    }
    z_of(confidence)?;
    let (mt, vt) = mean_var(treated);
    let (mc, vc) = mean_var(control);
    let (nt, nc) = (treated.len() as f64, control.len() as f64);
    let (at, ac) = (vt / nt, vc / nc);
    let se = (at + ac).sqrt();
    let d = mt - mc;
    if se == 0.0 {
        return Ok(Difference {
            treated: mt,
            control: mc,
            difference: d,
            lower: d,
            upper: d,
        });
    }
    let df = (at + ac).powi(2) / (at * at / (nt - 1.0) + ac * ac / (nc - 1.0));
    let t = StudentsT::new(0.0, 1.0, df)
        .map_err(|e| ModelError::InvalidData(format!("Welch's t: {e}")))?
        .inverse_cdf(0.5 + confidence / 2.0);
    Ok(Difference {
        treated: mt,
        control: mc,
        difference: d,
        lower: d - t * se,
        upper: d + t * se,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn newcombes_worked_example() {
        // Newcombe (1998), Table II (a): 56/70 against 48/80, method 10: 0.0524 to 0.3339.
        let d = rate_difference((56, 70), (48, 80), 0.95).unwrap();
        assert!(close(d.difference, 56.0 / 70.0 - 0.6));
        assert!((d.lower - 0.0524).abs() < 5e-5, "{}", d.lower);
        assert!((d.upper - 0.3339).abs() < 5e-5, "{}", d.upper);
    }

    #[test]
    fn agrees_with_statsmodels_and_scipy() {
        let cases: serde_json::Value =
            serde_json::from_str(include_str!("../tests/fixtures/lift_reference.json")).unwrap();
        for case in cases["rates"].as_array().unwrap() {
            let n = |k: &str| case[k].as_u64().unwrap();
            let d = rate_difference((n("st"), n("nt")), (n("sc"), n("nc")), 0.95).unwrap();
            let (lo, hi) = (
                case["lower"].as_f64().unwrap(),
                case["upper"].as_f64().unwrap(),
            );
            assert!(close(d.lower, lo) && close(d.upper, hi), "{case}: {d:?}");
        }
        for case in cases["means"].as_array().unwrap() {
            let v = |k: &str| -> Vec<f64> {
                case[k]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect()
            };
            let d = mean_difference(&v("treated"), &v("control"), 0.95).unwrap();
            let (lo, hi) = (
                case["lower"].as_f64().unwrap(),
                case["upper"].as_f64().unwrap(),
            );
            assert!(
                close(d.lower, lo) && close(d.upper, hi),
                "{d:?} against {lo}, {hi}"
            );
        }
    }

    #[test]
    fn rates_stay_inside_their_range_at_the_edges() {
        let d = rate_difference((30, 30), (0, 30), 0.95).unwrap();
        assert!(d.upper <= 1.0 && d.lower > 0.0, "{d:?}");
        assert!(!d.inconclusive());
        assert!(rate_difference((3, 2), (1, 5), 0.95).is_err());
    }
}
