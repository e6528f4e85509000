//! MBG/NBD (Batislam, Denizel & Filiztekin 2007; Hoppe & Wagner 2007): BG/NBD in which a
//! customer may also drop out right after the first purchase, so that customers without repeat
//! purchases are not all alive.
//!
//! Likelihood of one customer with x repeat purchases, the last at t_x, observed for T:
//!
//! ```text
//! L = Γ(r+x) α^r / Γ(r) · [ B(a, b+x+1)/B(a, b) (α+T)^-(r+x) + B(a+1, b+x)/B(a, b) (α+t_x)^-(r+x) ]
//! ```
//!
//! computed in logs as lifetimes' `ModifiedBetaGeoFitter` does.

use serde::{Deserialize, Serialize};
use statrs::function::gamma::{digamma, ln_gamma};

use super::mle::{fit_model, sum_rows, Likelihood};
use super::shared::{conditional_expectations, hyp, ln_negative_binomial, negative_binomial_tail};
use super::{FitOptions, Fitted, PurchaseModel, RfmData};
use crate::special::{ln_beta, ln_hyp2f1};
use crate::ModelError;

/// MBG/NBD parameters (named as BG/NBD's).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MbgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

impl MbgNbd {
    fn from_slice(p: &[f64]) -> MbgNbd {
        MbgNbd {
            r: p[0],
            alpha: p[1],
            a: p[2],
            b: p[3],
        }
    }

    /// Fits the model to repeat-purchase data by maximum likelihood.
    pub fn fit(data: &RfmData, options: &FitOptions) -> Result<Fitted<MbgNbd>, ModelError> {
        data.require_repeat_purchases()?;
        let starts = [
            vec![1.0; 4],
            vec![0.5, 5.0, 0.5, 2.0],
            vec![0.1, 1.0, 1.0, 10.0],
            vec![2.0, 20.0, 0.1, 0.1],
        ];
        let sample = data.sample();
        let sample = sample.as_ref().map(Data);
        fit_model(
            "mbgnbd",
            &Data(data),
            sample.as_ref(),
            &starts,
            options,
            MbgNbd::from_slice,
        )
    }

    /// The log-likelihood of the data under these parameters (the fit's objective).
    pub fn log_likelihood(&self, data: &RfmData) -> f64 {
        Data(data).log_likelihood(&[self.r, self.alpha, self.a, self.b], &mut [0.0; 4])
    }
}

impl PurchaseModel for MbgNbd {
    /// Probability that a customer with this history is still alive at T.
    fn p_alive(&self, x: f64, t_x: f64, big_t: f64) -> f64 {
        let MbgNbd { r, alpha, a, b } = *self;
        let log_ratio = (a / (b + x)).ln() + (r + x) * ((alpha + big_t) / (alpha + t_x)).ln();
        1.0 / (1.0 + log_ratio.exp())
    }

    /// Expected purchases in the next `t` of a customer with x repeat purchases, the last at
    /// t_x, observed for T (lifetimes' `conditional_expected_number_of_purchases_up_to_time`).
    fn expected_purchases(&self, t: f64, x: f64, t_x: f64, big_t: f64) -> Result<f64, ModelError> {
        Ok(self.expected_purchases_at(&[t], x, t_x, big_t)?[0])
    }

    /// [`MbgNbd::expected_purchases`] at each of `ts`, one series pass for all of them.
    fn expected_purchases_at(
        &self,
        ts: &[f64],
        x: f64,
        t_x: f64,
        big_t: f64,
    ) -> Result<Vec<f64>, ModelError> {
        self.expected_purchases_many(ts, &[(x, t_x, big_t)])
    }

    /// [`MbgNbd::expected_purchases_at`] for many histories `(x, t_x, T)`, row-major; histories
    /// with the same x and T share the series.
    fn expected_purchases_many(
        &self,
        ts: &[f64],
        histories: &[(f64, f64, f64)],
    ) -> Result<Vec<f64>, ModelError> {
        let MbgNbd { r, alpha, a, b } = *self;
        let p_alive = |a, (x, t_x, big_t)| MbgNbd { a, ..*self }.p_alive(x, t_x, big_t);
        conditional_expectations((r, alpha, a, b), 1.0, &p_alive, ts, histories)
    }

    /// Expected purchases of a newly acquired customer in a period of length `t`:
    /// `b/(a-1) · [1 - (α/(α+t))^r · 2F1(r, b+1; a+b; t/(α+t))]`.
    fn expected_purchases_new(&self, t: f64) -> Result<f64, ModelError> {
        let MbgNbd { r, alpha, a, b } = *self;
        if t <= 0.0 {
            return Ok(0.0);
        }
        if (a - 1.0).abs() < 1e-7 {
            let nudged = |a| MbgNbd { a, ..*self }.expected_purchases_new(t);
            return Ok(0.5 * (nudged(1.0 - 1e-6)? + nudged(1.0 + 1e-6)?));
        }
        let ln_f = ln_hyp2f1(r, b + 1.0, a + b, t / (alpha + t)).map_err(hyp)?;
        let rest = -(ln_f + r * (alpha / (alpha + t)).ln()).exp_m1();
        Ok(b / (a - 1.0) * rest)
    }

    /// Probability that a newly acquired customer makes exactly n purchases in a period of
    /// length `t`: alive after the n-th purchase and n purchases of the NBD, or dead right after
    /// the n-th with at least n purchases of the NBD by t.
    fn probability_of_purchases(&self, n: u32, t: f64) -> f64 {
        let MbgNbd { r, alpha, a, b } = *self;
        let n = f64::from(n);
        let ln_beta_ab = ln_beta(a, b);
        let alive = ln_beta(a, b + n + 1.0) - ln_beta_ab + ln_negative_binomial(r, alpha, n, t);
        let died =
            (ln_beta(a + 1.0, b + n) - ln_beta_ab).exp() * negative_binomial_tail(r, alpha, n, t);
        alive.exp() + died
    }
}

/// The data seen through the MBG/NBD likelihood.
struct Data<'a>(&'a RfmData);

impl Likelihood for Data<'_> {
    const NAMES: &'static [&'static str] = &["r", "alpha", "a", "b"];

    fn customers(&self) -> f64 {
        self.0.customers()
    }

    fn log_likelihood(&self, p: &[f64], grad: &mut [f64]) -> f64 {
        let (r, alpha, a, b) = (p[0], p[1], p[2], p[3]);
        let d = self.0;
        let (ln_alpha, lg_r, dg_r, ln_a) = (alpha.ln(), ln_gamma(r), digamma(r), a.ln());
        let (lg_ab, lg_b, dg_ab, dg_b) = (ln_gamma(a + b), ln_gamma(b), digamma(a + b), digamma(b));
        let per_x: Vec<[f64; 7]> = d
            .distinct_x
            .values
            .iter()
            .map(|&x| {
                [
                    ln_gamma(r + x),
                    digamma(r + x),
                    ln_gamma(b + x + 1.0),
                    digamma(b + x + 1.0),
                    ln_gamma(a + b + x + 1.0),
                    digamma(a + b + x + 1.0),
                    (b + x).ln(),
                ]
            })
            .collect();
        let ln_alpha_plus =
            |values: &[f64]| values.iter().map(|v| (alpha + v).ln()).collect::<Vec<_>>();
        let (ln_at_of, ln_atx_of) = (
            ln_alpha_plus(&d.distinct_t.values),
            ln_alpha_plus(&d.distinct_t_x.values),
        );
        let (per_x, ln_at_of, ln_atx_of) = (&per_x, &ln_at_of, &ln_atx_of);
        let row = |i: usize, acc: &mut (f64, [f64; 4])| {
            let (x, tx, t, w) = (d.x[i], d.t_x[i], d.t[i], d.weight[i]);
            let [lg_rx, dg_rx, lg_bx1, dg_bx1, lg_abx1, dg_abx1, ln_bx] =
                per_x[d.distinct_x.slot[i] as usize];
            let (ln_at, ln_atx) = (
                ln_at_of[d.distinct_t.slot[i] as usize],
                ln_atx_of[d.distinct_t_x.slot[i] as usize],
            );
            let a1 = lg_rx - lg_r + r * ln_alpha;
            let a2 = lg_ab + lg_bx1 - lg_b - lg_abx1;
            let a3 = -(r + x) * ln_at;
            // The "dropped out after the last purchase" term over the "alive at T" one.
            let a4 = ln_a - ln_bx + (r + x) * (ln_at - ln_atx);
            let (softplus, p4) = if a4 > 0.0 {
                let e = (-a4).exp();
                (a4 + e.ln_1p(), 1.0 / (1.0 + e))
            } else {
                let e = a4.exp();
                (e.ln_1p(), e / (1.0 + e))
            };
            acc.0 += w * (a1 + a2 + a3 + softplus);
            let g = &mut acc.1;
            g[0] += w * (dg_rx - dg_r + ln_alpha - ln_at + p4 * (ln_at - ln_atx));
            g[1] += w
                * (r / alpha - (r + x) / (alpha + t)
                    + p4 * (r + x) * (1.0 / (alpha + t) - 1.0 / (alpha + tx)));
            g[2] += w * (dg_ab - dg_abx1 + p4 / a);
            g[3] += w * (dg_ab + dg_bx1 - dg_b - dg_abx1 - p4 / (b + x));
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
            [0.525, 6.183, 0.891, 1.614],
            [1.5, 0.7, 3.0, 0.4],
            [0.05, 40.0, 0.2, 9.0],
        ] {
            let err = gradient_error(&Data(&sample()), &p);
            assert!(err < 1e-6, "relative gradient error {err} at {p:?}");
        }
    }

    #[test]
    fn purchase_distribution_sums_to_one_and_to_its_mean() {
        let m = MbgNbd {
            r: 0.525,
            alpha: 6.183,
            a: 0.891,
            b: 1.614,
        };
        crate::btyd::assert_purchase_distribution(&m, 600, &[1.0, 39.0, 78.0]);
    }
}
