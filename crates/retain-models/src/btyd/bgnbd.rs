//! BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while alive a
//! customer buys at rate λ ~ Gamma(r, α); after each purchase they drop out with probability
//! p ~ Beta(a, b).
//!
//! Likelihood of one customer with x repeat purchases, the last at t_x, observed for T:
//!
//! ```text
//! L = B(a, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
//!   + [x > 0] B(a+1, b+x-1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x))
//! ```
//!
//! computed in logs with the two terms combined by log-sum-exp, as lifetimes does.

use serde::{Deserialize, Serialize};
use statrs::function::gamma::{digamma, ln_gamma};

use super::mle::{fit_model, sum_rows, Likelihood};
use super::shared::{conditional_expectations, hyp, ln_negative_binomial, negative_binomial_tail};
use super::{FitOptions, Fitted, PurchaseModel, RfmData};
use crate::special::{ln_beta, ln_hyp2f1};
use crate::ModelError;

/// BG/NBD parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

impl BgNbd {
    fn from_slice(p: &[f64]) -> BgNbd {
        BgNbd {
            r: p[0],
            alpha: p[1],
            a: p[2],
            b: p[3],
        }
    }

    /// Fits the model to repeat-purchase data by maximum likelihood.
    pub fn fit(data: &RfmData, options: &FitOptions) -> Result<Fitted<BgNbd>, ModelError> {
        data.require_repeat_purchases()?;
        // lifetimes starts at ones; the others cover slow buyers and near-certain dropout.
        let starts = [
            vec![1.0; 4],
            vec![0.5, 5.0, 0.5, 2.0],
            vec![0.1, 1.0, 1.0, 10.0],
            vec![2.0, 20.0, 0.1, 0.1],
        ];
        let sample = data.sample();
        let sample = sample.as_ref().map(Data);
        fit_model(
            "bgnbd",
            &Data(data),
            sample.as_ref(),
            &starts,
            options,
            BgNbd::from_slice,
        )
    }

    /// The log-likelihood of the data under these parameters (the fit's objective).
    pub fn log_likelihood(&self, data: &RfmData) -> f64 {
        Data(data).log_likelihood(&[self.r, self.alpha, self.a, self.b], &mut [0.0; 4])
    }
}

impl PurchaseModel for BgNbd {
    /// Probability that a customer with this history is still alive at T.
    fn p_alive(&self, x: f64, t_x: f64, t: f64) -> f64 {
        if x == 0.0 {
            return 1.0;
        }
        let BgNbd { r, alpha, a, b } = *self;
        let log_ratio = (a / (b + x - 1.0)).ln() + (r + x) * ((alpha + t) / (alpha + t_x)).ln();
        1.0 / (1.0 + log_ratio.exp())
    }

    /// Expected purchases in the next `t` of a customer with x repeat purchases, the last at
    /// t_x, observed for T (FHL 2005, eq. 10; lifetimes'
    /// `conditional_expected_number_of_purchases_up_to_time`).
    fn expected_purchases(&self, t: f64, x: f64, t_x: f64, big_t: f64) -> Result<f64, ModelError> {
        Ok(self.expected_purchases_at(&[t], x, t_x, big_t)?[0])
    }

    /// [`BgNbd::expected_purchases`] at each of `ts`, with one pass of the hypergeometric
    /// series for all of them (their 2F1 differ in z alone).
    fn expected_purchases_at(
        &self,
        ts: &[f64],
        x: f64,
        t_x: f64,
        big_t: f64,
    ) -> Result<Vec<f64>, ModelError> {
        self.expected_purchases_many(ts, &[(x, t_x, big_t)])
    }

    /// [`BgNbd::expected_purchases_at`] for many histories `(x, t_x, T)`, row-major; histories
    /// with the same x and T share the series.
    fn expected_purchases_many(
        &self,
        ts: &[f64],
        histories: &[(f64, f64, f64)],
    ) -> Result<Vec<f64>, ModelError> {
        let BgNbd { r, alpha, a, b } = *self;
        let p_alive = |a, (x, t_x, big_t)| BgNbd { a, ..*self }.p_alive(x, t_x, big_t);
        conditional_expectations((r, alpha, a, b), 0.0, &p_alive, ts, histories)
    }

    /// Expected purchases of a newly acquired customer in a period of length `t` (FHL 2005,
    /// eq. 9): `(a+b-1)/(a-1) · [1 - (α/(α+t))^r · 2F1(r, b; a+b-1; t/(α+t))]`.
    fn expected_purchases_new(&self, t: f64) -> Result<f64, ModelError> {
        let BgNbd { r, alpha, a, b } = *self;
        if t <= 0.0 {
            return Ok(0.0);
        }
        // The closed form divides by a-1; at a = 1 take the mean of its values either side.
        if (a - 1.0).abs() < 1e-7 {
            let nudged = |a| BgNbd { a, ..*self }.expected_purchases_new(t);
            return Ok(0.5 * (nudged(1.0 - 1e-6)? + nudged(1.0 + 1e-6)?));
        }
        let ln_f = ln_hyp2f1(r, b, a + b - 1.0, t / (alpha + t)).map_err(hyp)?;
        let rest = -(ln_f + r * (alpha / (alpha + t)).ln()).exp_m1();
        Ok((a + b - 1.0) / (a - 1.0) * rest)
    }

    /// Probability that a newly acquired customer makes exactly n purchases in a period of
    /// length `t` (FHL 2005, eq. 8): alive throughout with n purchases of the NBD, or dropped out
    /// right after the n-th (n > 0) with at least n purchases of the NBD by t.
    fn probability_of_purchases(&self, n: u32, t: f64) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let n = f64::from(n);
        let ln_beta_ab = ln_beta(a, b);
        let alive = ln_beta(a, b + n) - ln_beta_ab + ln_negative_binomial(r, alpha, n, t);
        let died = if n > 0.0 {
            (ln_beta(a + 1.0, b + n - 1.0) - ln_beta_ab).exp()
                * negative_binomial_tail(r, alpha, n, t)
        } else {
            0.0
        };
        alive.exp() + died
    }
}

/// The data seen through the BG/NBD likelihood.
struct Data<'a>(&'a RfmData);

impl Likelihood for Data<'_> {
    const NAMES: &'static [&'static str] = &["r", "alpha", "a", "b"];

    fn customers(&self) -> f64 {
        self.0.customers()
    }

    fn log_likelihood(&self, p: &[f64], grad: &mut [f64]) -> f64 {
        let (r, alpha, a, b) = (p[0], p[1], p[2], p[3]);
        let d = self.0;
        let (ln_alpha, lg_r, dg_r) = (alpha.ln(), ln_gamma(r), digamma(r));
        let (lg_ab, lg_b, dg_ab, dg_b) = (ln_gamma(a + b), ln_gamma(b), digamma(a + b), digamma(b));
        // What depends on x alone, once per distinct x: the constant part of ln L, ln(b+x-1)
        // and 1/(b+x-1) of the dropout term, and the constant parts of the r, a, b gradients.
        let per_x: Vec<[f64; 6]> = d
            .distinct_x
            .values
            .iter()
            .map(|&x| {
                let constant = ln_gamma(r + x) - lg_r + r * ln_alpha + lg_ab + ln_gamma(b + x)
                    - lg_b
                    - ln_gamma(a + b + x);
                let (dg_bx, dg_abx) = (digamma(b + x), digamma(a + b + x));
                // The dropout term exists only for x > 0 (b+x-1 may be 0 at x = 0).
                let (ln_bx1, inv_bx1) = if x > 0.0 {
                    ((b + x - 1.0).ln(), 1.0 / (b + x - 1.0))
                } else {
                    (0.0, 0.0)
                };
                [
                    constant,
                    ln_bx1,
                    inv_bx1,
                    digamma(r + x) - dg_r + ln_alpha,
                    dg_ab - dg_abx,
                    dg_ab + dg_bx - dg_b - dg_abx,
                ]
            })
            .collect();
        // ln(α+v) and 1/(α+v) once per distinct T and t_x.
        let per_time = |values: &[f64]| {
            values
                .iter()
                .map(|v| [(alpha + v).ln(), 1.0 / (alpha + v)])
                .collect::<Vec<[f64; 2]>>()
        };
        let (per_t, per_tx) = (
            per_time(&d.distinct_t.values),
            per_time(&d.distinct_t_x.values),
        );
        let (ln_a, inv_a, inv_alpha) = (a.ln(), 1.0 / a, 1.0 / alpha);
        let (per_x, per_t, per_tx) = (&per_x, &per_t, &per_tx);
        // One customer row's log-likelihood and gradient, added into (total, grad).
        let row = |i: usize, acc: &mut (f64, [f64; 4])| {
            let (x, w) = (d.x[i], d.weight[i]);
            let [constant, ln_bx1, inv_bx1, g_r, g_a, g_b] = per_x[d.distinct_x.slot[i] as usize];
            let [ln_at, inv_at] = per_t[d.distinct_t.slot[i] as usize];
            let a3 = -(r + x) * ln_at;
            // Shares of the two likelihood terms: p3 for "alive at T", p4 for "died after t_x",
            // combined as m + ln(1 + e^-|a3-a4|): one exp and one log1p.
            let (ll, p3, p4, ln_atx, inv_atx) = if x > 0.0 {
                let [ln_atx, inv_atx] = per_tx[d.distinct_t_x.slot[i] as usize];
                let a4 = ln_a - ln_bx1 - (r + x) * ln_atx;
                let e = (-(a3 - a4).abs()).exp();
                let (big, small) = (1.0 / (1.0 + e), e / (1.0 + e));
                let (p3, p4) = if a3 >= a4 { (big, small) } else { (small, big) };
                (a3.max(a4) + e.ln_1p(), p3, p4, ln_atx, inv_atx)
            } else {
                (a3, 1.0, 0.0, 0.0, 0.0)
            };
            let g = &mut acc.1;
            acc.0 += w * (constant + ll);
            g[0] += w * (g_r - p3 * ln_at - p4 * ln_atx);
            g[1] += w * (r * inv_alpha - (r + x) * (p3 * inv_at + p4 * inv_atx));
            g[2] += w * (g_a + p4 * inv_a);
            g[3] += w * (g_b - p4 * inv_bx1);
        };
        let (total, g) = sum_rows(d.len(), row);
        grad.copy_from_slice(&g);
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btyd::mle::gradient_error;
    use crate::btyd::WEEKS_PER_MONTH;

    fn sample() -> RfmData {
        RfmData::new(
            &[0.0, 1.0, 2.0, 5.0, 0.0, 3.0],
            &[0.0, 4.0, 30.0, 35.5, 0.0, 10.0],
            &[38.0, 38.0, 38.0, 38.0, 20.0, 30.0],
            Some(&[10.0, 3.0, 2.0, 1.0, 4.0, 2.0]),
        )
        .unwrap()
    }

    #[test]
    fn analytic_gradient_matches_finite_differences() {
        for p in [
            [0.243, 4.414, 0.793, 2.426],
            [1.5, 0.7, 3.0, 0.4],
            [0.05, 40.0, 0.2, 9.0],
        ] {
            let err = gradient_error(&Data(&sample()), &p);
            assert!(err < 1e-6, "relative gradient error {err} at {p:?}");
        }
    }

    #[test]
    fn weighted_rows_equal_repeated_rows() {
        let weighted = sample();
        let mut f = vec![];
        let mut r = vec![];
        let mut t = vec![];
        for i in 0..weighted.len() {
            for _ in 0..weighted.weight[i] as usize {
                f.push(weighted.x[i]);
                r.push(weighted.t_x[i]);
                t.push(weighted.t[i]);
            }
        }
        // Rebuilt row by row, interleaved, the data collapse back to the same rows.
        let raw = RfmData::new(&f, &r, &t, None).unwrap();
        let params = BgNbd {
            r: 0.3,
            alpha: 5.0,
            a: 0.8,
            b: 2.0,
        };
        assert!((params.log_likelihood(&raw) - params.log_likelihood(&weighted)).abs() < 1e-9);
    }

    #[test]
    fn p_alive_is_one_without_repeats_and_falls_with_silence() {
        let m = BgNbd {
            r: 0.243,
            alpha: 4.414,
            a: 0.793,
            b: 2.426,
        };
        assert_eq!(m.p_alive(0.0, 0.0, 38.0), 1.0);
        let recent = m.p_alive(3.0, 37.0, 38.0);
        let silent = m.p_alive(3.0, 5.0, 38.0);
        // By hand: 1 / (1 + a/(b+2) · ((α+38)/(α+37))^(r+3)) = 0.83781...
        assert!((recent - 0.837_813_948).abs() < 1e-8, "{recent}");
        assert!(silent < recent && silent > 0.0, "{recent} {silent}");
    }

    #[test]
    fn predictions_equal_lifetimes() {
        // fixtures/bgnbd_lifetimes.csv: lifetimes 0.11.3 at the CDNOW estimates (how: its script).
        let m = BgNbd {
            r: 0.2425929,
            alpha: 4.4135316,
            a: 0.7928862,
            b: 2.4257535,
        };
        let close = |ours: f64, theirs: f64| (ours - theirs).abs() <= 1e-9 * theirs.abs().max(1e-3);
        let mut checked = 0;
        for line in include_str!("../../fixtures/bgnbd_lifetimes.csv")
            .lines()
            .skip(1)
        {
            let v: Vec<f64> = line.split(',').map(|s| s.parse().unwrap()).collect();
            let (t, x, tx, big_t) = (v[0], v[1], v[2], v[3]);
            let e = m.expected_purchases(t, x, tx, big_t).unwrap();
            assert!(
                close(e, v[4]),
                "E[X({t}) | {x}, {tx}, {big_t}] = {e}, lifetimes {}",
                v[4]
            );
            assert!(
                close(m.p_alive(x, tx, big_t), v[5]),
                "P(alive | {x}, {tx}, {big_t})"
            );
            assert!(
                close(m.expected_purchases_new(t).unwrap(), v[6]),
                "E[X({t})] new"
            );
            checked += 1;
        }
        assert_eq!(checked, 36);
    }

    #[test]
    fn expected_purchases_at_several_times_equal_one_at_a_time() {
        let m = BgNbd {
            r: 0.243,
            alpha: 4.414,
            a: 0.793,
            b: 2.426,
        };
        let ts = [WEEKS_PER_MONTH, 13.0, 39.0, 52.14, 0.0];
        for (x, tx, big_t) in [(0.0, 0.0, 30.0), (2.0, 20.0, 38.0), (300.0, 77.0, 78.0)] {
            let batch = m.expected_purchases_at(&ts, x, tx, big_t).unwrap();
            for (t, got) in ts.iter().zip(batch) {
                let one = m.expected_purchases(*t, x, tx, big_t).unwrap();
                assert!(
                    (got - one).abs() <= 1e-12 * one.max(1e-3),
                    "t {t}: {got} vs {one}"
                );
            }
        }
    }

    #[test]
    fn purchase_distribution_sums_to_one_and_to_its_mean() {
        let m = BgNbd {
            r: 0.243,
            alpha: 4.414,
            a: 0.793,
            b: 2.426,
        };
        crate::btyd::assert_purchase_distribution(&m, 600, &[1.0, 39.0, 78.0]);
    }

    #[test]
    fn no_repeat_purchases_is_an_error_not_a_nan() {
        let d = RfmData::new(&[0.0, 0.0], &[0.0, 0.0], &[10.0, 20.0], None).unwrap();
        let e = BgNbd::fit(&d, &FitOptions::default()).unwrap_err();
        assert!(e.to_string().contains("no customer made a repeat purchase"));
    }
}
