//! Shifted-beta-geometric (sBG) model of contractual customers (Fader & Hardie 2007, "How to
//! project customer retention"): each period a customer cancels with probability θ, with
//! θ ~ Beta(α, β) across customers. Fitted on lifetimes that may be right-censored:
//!
//! ```text
//! P(T = t) = B(α+1, β+t−1) / B(α, β)     (cancelled in period t)
//! S(t)     = B(α, β+t) / B(α, β)         (still a customer after t periods)
//! ```

use serde::{Deserialize, Serialize};
use statrs::function::gamma::digamma;

use super::mle::{fit_model, Likelihood};
use super::shared::hyp;
use super::{FitOptions, Fitted};
use crate::special::{ln_beta, ln_hyp2f1};
use crate::ModelError;

/// sBG parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ShiftedBetaGeometric {
    pub alpha: f64,
    pub beta: f64,
}

/// Customer lifetimes in whole periods: `periods` survived when `churned` is false (still a
/// customer, censored), or the period in which the customer cancelled.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Lifetimes {
    pub periods: Vec<f64>,
    pub churned: Vec<bool>,
    pub weight: Vec<f64>,
}

impl Lifetimes {
    /// From a survivor table: `alive[t]` customers still active after t periods, `alive[0]` the
    /// cohort's size (Fader & Hardie's data layout).
    pub fn from_survivors(alive: &[f64]) -> Result<Self, ModelError> {
        if alive.len() < 2 {
            return Err(ModelError::InvalidData(
                "a survivor table needs the cohort size and at least one period".into(),
            ));
        }
        let mut d = Lifetimes::default();
        for t in 1..alive.len() {
            let lost = alive[t - 1] - alive[t];
            if !(alive[t].is_finite() && alive[t] >= 0.0 && lost >= 0.0) {
                return Err(ModelError::InvalidRow {
                    row: t + 1,
                    message: format!(
                        "survivors must not grow: {} after period {}, {} after period {t}",
                        alive[t - 1],
                        t - 1,
                        alive[t]
                    ),
                });
            }
            if lost > 0.0 {
                d.push(t as f64, true, lost);
            }
        }
        let last = alive.len() - 1;
        if alive[last] > 0.0 {
            d.push(last as f64, false, alive[last]);
        }
        Ok(d)
    }

    /// From one row per customer: periods observed and whether the customer cancelled.
    pub fn from_customers(periods: &[f64], churned: &[bool]) -> Result<Self, ModelError> {
        if periods.len() != churned.len() || periods.is_empty() {
            return Err(ModelError::InvalidData(
                "durations and churn flags differ in length, or are empty".into(),
            ));
        }
        let mut d = Lifetimes::default();
        for (row, (&t, &c)) in periods.iter().zip(churned).enumerate() {
            if !(t.is_finite() && t.fract() == 0.0 && (t >= 1.0 || (!c && t >= 0.0))) {
                return Err(ModelError::InvalidRow {
                    row: row + 1,
                    message: format!(
                        "duration must be a whole number of periods (>= 1 when churned), found {t}"
                    ),
                });
            }
            d.push(t, c, 1.0);
        }
        Ok(d)
    }

    fn push(&mut self, periods: f64, churned: bool, weight: f64) {
        self.periods.push(periods);
        self.churned.push(churned);
        self.weight.push(weight);
    }

    pub fn customers(&self) -> f64 {
        self.weight.iter().sum()
    }
}

impl ShiftedBetaGeometric {
    pub fn fit(
        data: &Lifetimes,
        options: &FitOptions,
    ) -> Result<Fitted<ShiftedBetaGeometric>, ModelError> {
        if !data.churned.iter().any(|&c| c) {
            return Err(ModelError::InvalidData(
                "no customer cancelled: the churn rate cannot be estimated".into(),
            ));
        }
        let starts = [vec![1.0, 1.0], vec![0.5, 5.0], vec![5.0, 0.5]];
        fit_model("sbg", &Data(data), None, &starts, options, |v| {
            ShiftedBetaGeometric {
                alpha: v[0],
                beta: v[1],
            }
        })
    }

    /// Share of a cohort still active after `t` periods.
    pub fn survival(&self, t: f64) -> f64 {
        if t.fract() == 0.0 && (0.0..=1e4).contains(&t) {
            // The product of the retention rates: exact where the difference of ln B cancels
            // catastrophically (α and β in the millions and beyond, as fits to nearly
            // homogeneous churn give).
            let (a, b) = (self.alpha, self.beta);
            return (1..=t as u32)
                .map(|i| (-a / (a + b + f64::from(i) - 1.0)).ln_1p())
                .sum::<f64>()
                .exp();
        }
        (ln_beta(self.alpha, self.beta + t) - ln_beta(self.alpha, self.beta)).exp()
    }

    /// Share of those active after period t−1 who renew in period t: (β+t−1)/(α+β+t−1),
    /// rising with t as the customers most likely to leave leave first.
    pub fn retention_rate(&self, t: f64) -> f64 {
        (self.beta + t - 1.0) / (self.alpha + self.beta + t - 1.0)
    }

    /// Discounted expected residual lifetime of a customer who has renewed `renewals` times
    /// and faces the next renewal decision (Fader & Hardie 2010, "Customer-base valuation in a
    /// contractual setting", eq. 6): the expected number of future payments, the next one
    /// undiscounted, each later one discounted at `discount` per period,
    ///
    /// ```text
    /// DERL = (β+n)/(α+β+n) · 2F1(1, β+n+1; α+β+n+1; 1/(1+d)),  n = renewals.
    /// ```
    ///
    /// Times the margin per period it is the customer's residual lifetime value.
    pub fn discounted_expected_residual_lifetime(
        &self,
        discount: f64,
        renewals: u32,
    ) -> Result<f64, ModelError> {
        if !(discount.is_finite() && discount > 0.0) {
            return Err(ModelError::InvalidData(format!(
                "the discount rate must be > 0 (without discounting the expected lifetime can be infinite), found {discount}"
            )));
        }
        let (a, b, n) = (self.alpha, self.beta, f64::from(renewals));
        let ln_f =
            ln_hyp2f1(1.0, b + n + 1.0, a + b + n + 1.0, 1.0 / (1.0 + discount)).map_err(hyp)?;
        Ok(self.retention_rate(n + 1.0) * ln_f.exp())
    }
}

struct Data<'a>(&'a Lifetimes);

impl Likelihood for Data<'_> {
    const NAMES: &'static [&'static str] = &["alpha", "beta"];

    fn customers(&self) -> f64 {
        self.0.customers()
    }

    fn log_likelihood(&self, p: &[f64], grad: &mut [f64]) -> f64 {
        let (a, b) = (p[0], p[1]);
        let (lb_ab, dg_a, dg_b, dg_ab) = (ln_beta(a, b), digamma(a), digamma(b), digamma(a + b));
        grad.fill(0.0);
        let mut total = 0.0;
        for i in 0..self.0.periods.len() {
            let (t, w) = (self.0.periods[i], self.0.weight[i]);
            let dg_abt = digamma(a + b + t);
            if self.0.churned[i] {
                total += w * (ln_beta(a + 1.0, b + t - 1.0) - lb_ab);
                grad[0] += w * (digamma(a + 1.0) - dg_abt - dg_a + dg_ab);
                grad[1] += w * (digamma(b + t - 1.0) - dg_abt - dg_b + dg_ab);
            } else {
                total += w * (ln_beta(a, b + t) - lb_ab);
                grad[0] += w * (dg_ab - dg_abt);
                grad[1] += w * (digamma(b + t) - dg_abt - dg_b + dg_ab);
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btyd::mle::gradient_error;

    // Fader & Hardie (2007), table 1: survivors of 1,000 customers after years 0..7.
    const REGULAR: [f64; 8] = [1000.0, 631.0, 468.0, 382.0, 326.0, 289.0, 262.0, 241.0];
    const HIGH_END: [f64; 8] = [1000.0, 869.0, 743.0, 653.0, 593.0, 551.0, 517.0, 491.0];

    #[test]
    fn reproduces_fader_hardie_2007() {
        // Published: regular α 0.704, β 1.182; high end α 0.668, β 3.806 (LL -1680.3, -1611.2;
        // confirmed here with an independent scipy fit of the same table).
        for (table, alpha, beta, ll) in [
            (REGULAR, 0.704, 1.182, -1680.3),
            (HIGH_END, 0.668, 3.806, -1611.2),
        ] {
            let fit = ShiftedBetaGeometric::fit(
                &Lifetimes::from_survivors(&table).unwrap(),
                &FitOptions::default(),
            )
            .unwrap();
            let p = fit.params;
            assert!(
                (p.alpha - alpha).abs() < 0.0005 && (p.beta - beta).abs() < 0.0005,
                "{p:?}"
            );
            assert!(
                (fit.log_likelihood - ll).abs() < 0.05,
                "{}",
                fit.log_likelihood
            );
            assert_eq!(fit.n_customers, 1000.0);
            // The fitted curve tracks the observed survivors.
            for (t, alive) in table.iter().enumerate() {
                assert!(
                    (1000.0 * p.survival(t as f64) - alive).abs() < 25.0,
                    "year {t}"
                );
            }
            assert!(p.retention_rate(2.0) < p.retention_rate(10.0));
        }
    }

    #[test]
    fn survival_is_exact_at_the_edge_of_the_parameter_space() {
        // Moderate parameters: the product of retention rates equals the ratio of betas.
        let m = ShiftedBetaGeometric {
            alpha: 0.7,
            beta: 3.2,
        };
        for t in [1.0, 7.0, 40.0] {
            let by_beta = (ln_beta(0.7, 3.2 + t) - ln_beta(0.7, 3.2)).exp();
            assert!((m.survival(t) - by_beta).abs() < 1e-12);
        }
        // Huge alpha and beta: churn is geometric with p = alpha / (alpha + beta).
        let m = ShiftedBetaGeometric {
            alpha: 1.742e47,
            beta: 3.489e50,
        };
        let p: f64 = 1.742e47 / (1.742e47 + 3.489e50);
        assert!((m.survival(96.0) - (1.0 - p).powi(96)).abs() < 1e-12);
        assert!(m.survival(96.0) < 0.96);
    }

    #[test]
    fn discounted_residual_lifetime_equals_the_discounted_sum_of_survival() {
        // Σ_{t>n} S(t)/S(n) / (1+d)^(t-n-1), summed until the terms vanish.
        let direct = |m: &ShiftedBetaGeometric, d: f64, n: u32| {
            let s_n = m.survival(f64::from(n));
            (1..5_000)
                .map(|k| m.survival(f64::from(n + k)) / s_n / (1.0 + d).powi(k as i32 - 1))
                .sum::<f64>()
        };
        for (alpha, beta) in [(0.704, 1.182), (0.668, 3.806), (3.0, 0.5)] {
            let m = ShiftedBetaGeometric { alpha, beta };
            for d in [0.05, 0.1, 0.5] {
                for n in [0, 1, 4, 20] {
                    let ours = m.discounted_expected_residual_lifetime(d, n).unwrap();
                    let want = direct(&m, d, n);
                    assert!(
                        (ours - want).abs() < 1e-9 * want,
                        "{m:?} d {d} n {n}: {ours} vs {want}"
                    );
                }
            }
        }
        // α = β = 1: S(t) = 1/(t+1), so a new customer's DERL is
        // Σ_{t>=1} z^(t-1)/(t+1) = (-ln(1-z) - z)/z², z = 1/(1+d).
        let m = ShiftedBetaGeometric {
            alpha: 1.0,
            beta: 1.0,
        };
        let z = 1.0 / 1.1;
        let want = (-(1.0f64 - z).ln() - z) / (z * z);
        let ours = m.discounted_expected_residual_lifetime(0.1, 0).unwrap();
        assert!((ours - want).abs() < 1e-12 * want, "{ours} vs {want}");
        // Customers who renewed more often are worth more: the survivors are the loyal ones.
        let high_end = ShiftedBetaGeometric {
            alpha: 0.668,
            beta: 3.806,
        };
        let by_tenure: Vec<f64> = (0..5)
            .map(|n| {
                high_end
                    .discounted_expected_residual_lifetime(0.1, n)
                    .unwrap()
            })
            .collect();
        assert!(by_tenure.windows(2).all(|w| w[0] < w[1]), "{by_tenure:?}");
        assert!(m.discounted_expected_residual_lifetime(0.0, 0).is_err());
    }

    #[test]
    fn analytic_gradient_matches_finite_differences() {
        let d = Lifetimes::from_survivors(&REGULAR).unwrap();
        // Away from the optimum: there the gradient is ~0 and the finite differences of an
        // LL of -1680 only measure ln_beta's rounding (7e-6 at the optimum).
        for p in [[1.5, 4.0], [2.0, 0.3], [0.1, 9.0]] {
            let err = gradient_error(&Data(&d), &p);
            assert!(err < 1e-6, "{p:?}: {err}");
        }
    }

    #[test]
    fn per_customer_rows_equal_the_survivor_table() {
        let (mut periods, mut churned) = (vec![], vec![]);
        for t in 1..REGULAR.len() {
            for _ in 0..(REGULAR[t - 1] - REGULAR[t]) as usize {
                periods.push(t as f64);
                churned.push(true);
            }
        }
        for _ in 0..REGULAR[7] as usize {
            periods.push(7.0);
            churned.push(false);
        }
        let rows = Lifetimes::from_customers(&periods, &churned).unwrap();
        let table = Lifetimes::from_survivors(&REGULAR).unwrap();
        let p = [0.7, 1.2];
        let (a, b) = (
            Data(&rows).log_likelihood(&p, &mut [0.0; 2]),
            Data(&table).log_likelihood(&p, &mut [0.0; 2]),
        );
        assert!((a - b).abs() < 1e-8, "{a} vs {b}");
        assert!(
            Lifetimes::from_survivors(&[100.0, 120.0]).is_err(),
            "survivors cannot grow"
        );
    }
}
