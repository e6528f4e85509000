//! Whether a rate differs between seasons (calendar months, weekdays): the likelihood-ratio
//! test (G-test) of one Poisson rate for every category against a rate per category, each
//! category's count read against its exposure (customer-days).

use serde::Serialize;
use statrs::distribution::{ChiSquared, ContinuousCDF};

use crate::ModelError;

/// The test's result: G is chi-square with `df` degrees of freedom under equal rates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RateTest {
    pub statistic: f64,
    pub df: u32,
    pub p_value: f64,
}

/// Tests equal rates across categories: `counts[i]` events over `exposure[i]`. Categories
/// without exposure take no part.
pub fn equal_rates_test(counts: &[f64], exposure: &[f64]) -> Result<RateTest, ModelError> {
    if counts.len() != exposure.len() {
        return Err(ModelError::InvalidData(
            "counts and exposures differ in length".into(),
        ));
    }
    if counts.iter().zip(exposure).any(|(&c, &e)| {
        !(c >= 0.0 && e >= 0.0 && c.is_finite() && e.is_finite()) || (e == 0.0 && c > 0.0)
    }) {
        return Err(ModelError::InvalidData(
            "counts and exposures must be >= 0, and a count needs exposure".into(),
        ));
    }
    let used: Vec<(f64, f64)> = counts
        .iter()
        .zip(exposure)
        .filter(|(_, &e)| e > 0.0)
        .map(|(&c, &e)| (c, e))
        .collect();
    if used.len() < 2 {
        return Err(ModelError::InvalidData(
            "comparing rates needs at least two categories with exposure".into(),
        ));
    }
    let total: f64 = used.iter().map(|u| u.0).sum();
    let total_exposure: f64 = used.iter().map(|u| u.1).sum();
    let statistic = 2.0
        * used
            .iter()
            .filter(|(c, _)| *c > 0.0)
            .map(|&(c, e)| c * (c / (total * e / total_exposure)).ln())
            .sum::<f64>();
    let df = used.len() - 1;
    Ok(RateTest {
        statistic,
        df: df as u32,
        p_value: ChiSquared::new(df as f64)
            .expect("df >= 1")
            .sf(statistic.max(0.0))
            .clamp(0.0, 1.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_test_by_hand() {
        // 10 and 20 events over equal exposure: E = 15 each,
        // G = 2 (10 ln(10/15) + 20 ln(20/15)) = 3.39798, p = P(chi2_1 > G) = 0.06528.
        let t = equal_rates_test(&[10.0, 20.0], &[1.0, 1.0]).unwrap();
        assert!((t.statistic - 3.397_980_736).abs() < 1e-6);
        assert!((t.p_value - 0.065_28).abs() < 1e-4);
        assert_eq!(t.df, 1);
        // Rates proportional to exposure: no effect at all.
        let t = equal_rates_test(&[10.0, 20.0, 0.0], &[1.0, 2.0, 0.0]).unwrap();
        assert!(t.statistic.abs() < 1e-12 && (t.p_value - 1.0).abs() < 1e-12);
        assert!(equal_rates_test(&[1.0], &[0.0]).is_err());
    }
}
