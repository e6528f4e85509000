//! Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves";
//! Fader & Hardie's note "The Gamma-Gamma model of monetary value"): a customer's transactions
//! are Gamma(p, ν) with ν ~ Gamma(q, v) across customers, independent of purchase frequency.
//!
//! Fitted on repeat customers only (x > 0), with m̄ the mean value of their x repeat
//! transactions:
//!
//! ```text
//! ln L = ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln v + (px−1) ln m̄ + px ln x − (px+q) ln(x m̄ + v)
//! ```

use serde::{Deserialize, Serialize};
use statrs::function::gamma::{digamma, ln_gamma};

use super::mle::{fit_model, sum_rows, Likelihood};
use super::{DistinctX, FastMap, FitOptions, Fitted};
use crate::ModelError;

/// Gamma-Gamma parameters (`v` is the papers' γ; lifetimes also calls it v).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGamma {
    pub p: f64,
    pub q: f64,
    pub v: f64,
}

/// Repeat customers' purchase counts and mean repeat spend, collapsed with weights.
#[derive(Debug, Clone, PartialEq)]
pub struct SpendData {
    pub x: Vec<f64>,
    pub m: Vec<f64>,
    pub weight: Vec<f64>,
    distinct_x: DistinctX,
    /// ln x and ln m̄ per row: they do not depend on the parameters.
    ln_x: Vec<f64>,
    ln_m: Vec<f64>,
}

impl SpendData {
    /// Keeps the customers with repeat purchases (x > 0), as the model requires; their mean
    /// spend must be positive.
    pub fn from_repeat_customers(
        frequency: &[f64],
        monetary: &[f64],
        weights: Option<&[f64]>,
    ) -> Result<Self, ModelError> {
        if frequency.len() != monetary.len() || weights.is_some_and(|w| w.len() != frequency.len())
        {
            return Err(ModelError::InvalidData(
                "frequency, monetary value and weights differ in length".into(),
            ));
        }
        let mut index: FastMap<(u64, u64), usize> = FastMap::default();
        let mut d = SpendData {
            x: vec![],
            m: vec![],
            weight: vec![],
            distinct_x: DistinctX::default(),
            ln_x: vec![],
            ln_m: vec![],
        };
        for (row, (&x, &m)) in frequency.iter().zip(monetary).enumerate() {
            let w = weights.map_or(1.0, |w| w[row]);
            if x == 0.0 || w == 0.0 {
                continue;
            }
            let bad = |message: String| {
                Err(ModelError::InvalidRow {
                    row: row + 1,
                    message,
                })
            };
            if !(x.is_finite() && x > 0.0 && x.fract() == 0.0) {
                return bad(format!("frequency must be a whole number >= 0, found {x}"));
            }
            if !(m.is_finite() && m > 0.0) {
                return bad(format!(
                    "a repeat customer's monetary value must be > 0 for the Gamma-Gamma model, found {m}"
                ));
            }
            if !(w.is_finite() && w > 0.0) {
                return bad(format!("weight must be >= 0, found {w}"));
            }
            match index.get(&(x.to_bits(), m.to_bits())) {
                Some(&i) => d.weight[i] += w,
                None => {
                    index.insert((x.to_bits(), m.to_bits()), d.x.len());
                    d.x.push(x);
                    d.m.push(m);
                    d.weight.push(w);
                }
            }
        }
        if d.x.is_empty() {
            return Err(ModelError::InvalidData(
                "no repeat customers: the Gamma-Gamma model needs some".into(),
            ));
        }
        d.distinct_x = DistinctX::of(&d.x);
        d.ln_x = d.x.iter().map(|x| x.ln()).collect();
        d.ln_m = d.m.iter().map(|m| m.ln()).collect();
        Ok(d)
    }

    pub fn customers(&self) -> f64 {
        self.weight.iter().sum()
    }
}

impl GammaGamma {
    fn from_slice(p: &[f64]) -> GammaGamma {
        GammaGamma {
            p: p[0],
            q: p[1],
            v: p[2],
        }
    }

    pub fn fit(data: &SpendData, options: &FitOptions) -> Result<Fitted<GammaGamma>, ModelError> {
        let mean: f64 = data
            .m
            .iter()
            .zip(&data.weight)
            .map(|(m, w)| m * w)
            .sum::<f64>()
            / data.customers();
        let starts = [
            vec![1.0, 1.0, 1.0],
            vec![2.0, 3.0, mean],
            vec![10.0, 5.0, 4.0 * mean],
        ];
        fit_model(
            "gamma-gamma",
            &Data(data),
            None,
            &starts,
            options,
            GammaGamma::from_slice,
        )
    }

    /// Expected mean transaction value of a customer with x repeat purchases of mean m̄
    /// (lifetimes' `conditional_expected_average_profit`): a weighted mean of the population
    /// mean p·v/(q−1) and the customer's own m̄. Needs q > 1.
    pub fn expected_spend(&self, x: f64, m: f64) -> f64 {
        let GammaGamma { p, q, v } = *self;
        let individual = p * x / (p * x + q - 1.0);
        (1.0 - individual) * (v * p / (q - 1.0)) + individual * m
    }
}

struct Data<'a>(&'a SpendData);

impl Likelihood for Data<'_> {
    const NAMES: &'static [&'static str] = &["p", "q", "v"];

    fn customers(&self) -> f64 {
        self.0.customers()
    }

    fn log_likelihood(&self, params: &[f64], grad: &mut [f64]) -> f64 {
        let (p, q, v) = (params[0], params[1], params[2]);
        let (lg_q, dg_q, ln_v) = (ln_gamma(q), digamma(q), v.ln());
        let d = self.0;
        // The gamma-function terms depend on x alone: once per distinct x.
        let per_x: Vec<[f64; 4]> = d
            .distinct_x
            .values
            .iter()
            .map(|&x| {
                [
                    ln_gamma(p * x + q),
                    digamma(p * x + q),
                    ln_gamma(p * x),
                    digamma(p * x),
                ]
            })
            .collect();
        let per_x = &per_x;
        let row = |i: usize, acc: &mut (f64, [f64; 3])| {
            let (x, m, w, ln_m, ln_x) = (d.x[i], d.m[i], d.weight[i], d.ln_m[i], d.ln_x[i]);
            let [lg_pxq, dg_pxq, lg_px, dg_px] = per_x[d.distinct_x.slot[i] as usize];
            let (px, ln_xmv) = (p * x, (x * m + v).ln());
            acc.0 += w
                * (lg_pxq - lg_px - lg_q + q * ln_v + (px - 1.0) * ln_m + px * ln_x
                    - (px + q) * ln_xmv);
            acc.1[0] += w * x * (dg_pxq - dg_px + ln_m + ln_x - ln_xmv);
            acc.1[1] += w * (dg_pxq - dg_q + ln_v - ln_xmv);
            acc.1[2] += w * (q / v - (px + q) / (x * m + v));
        };
        let (total, g) = sum_rows(d.x.len(), row);
        grad.copy_from_slice(&g);
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btyd::mle::gradient_error;

    #[test]
    fn analytic_gradient_matches_finite_differences() {
        let d = SpendData::from_repeat_customers(
            &[0.0, 1.0, 2.0, 7.0, 3.0],
            &[0.0, 20.0, 35.5, 12.0, 80.0],
            None,
        )
        .unwrap();
        assert_eq!(d.x.len(), 4, "the customer without repeats is left out");
        for p in [[6.25, 3.74, 15.44], [0.5, 1.5, 100.0], [30.0, 10.0, 2.0]] {
            let err = gradient_error(&Data(&d), &p);
            assert!(err < 1e-6, "relative gradient error {err} at {p:?}");
        }
    }

    #[test]
    fn expected_spend_shrinks_towards_the_population_mean() {
        let m = GammaGamma {
            p: 6.25,
            q: 3.74,
            v: 15.44,
        };
        let population = m.v * m.p / (m.q - 1.0);
        let one = m.expected_spend(1.0, 100.0);
        let many = m.expected_spend(50.0, 100.0);
        assert!(
            population < one && one < many && many < 100.0,
            "{population} {one} {many}"
        );
    }

    #[test]
    fn zero_spend_of_a_repeat_customer_is_named() {
        let e = SpendData::from_repeat_customers(&[2.0, 1.0], &[10.0, 0.0], None).unwrap_err();
        assert_eq!(e.to_string(), "customer row 2: a repeat customer's monetary value must be > 0 for the Gamma-Gamma model, found 0");
    }
}
