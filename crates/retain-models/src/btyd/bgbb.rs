//! BG/BB (Fader, Hardie & Shang 2010, "Customer-base analysis in a discrete-time noncontractual
//! setting"): at each of a fixed set of transaction opportunities (a yearly fundraiser, a
//! weekly show) an alive customer transacts with probability p ~ Beta(α, β), and before each
//! opportunity drops out with probability θ ~ Beta(γ, δ).
//!
//! Data: x transactions in n opportunities, the last at opportunity t_x (0 when x = 0), as
//! `RfmData` with frequency = x, recency = t_x, T = n, all whole numbers. Likelihood (FHS
//! 2010, eq. 5):
//!
//! ```text
//! L = B(α+x, β+n-x)/B(α,β) · B(γ, δ+n)/B(γ,δ)
//!   + Σ_{i=0}^{n-t_x-1} B(α+x, β+t_x-x+i)/B(α,β) · B(γ+1, δ+t_x+i)/B(γ,δ)
//! ```

use serde::{Deserialize, Serialize};
use statrs::function::gamma::{digamma, ln_gamma};

use super::mle::{fit_model, sum_rows, Likelihood};
use super::{FitOptions, Fitted, PurchaseModel, RfmData};
use crate::special::ln_beta;
use crate::ModelError;

/// BG/BB parameters: transaction probability ~ Beta(alpha, beta), dropout ~ Beta(gamma, delta).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgBb {
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
    pub delta: f64,
}

impl BgBb {
    fn from_slice(p: &[f64]) -> BgBb {
        BgBb {
            alpha: p[0],
            beta: p[1],
            gamma: p[2],
            delta: p[3],
        }
    }

    /// Checks that the data are discrete: whole numbers with x <= t_x <= n.
    pub fn check_data(data: &RfmData) -> Result<(), ModelError> {
        for i in 0..data.len() {
            let (x, tx, n) = (data.x[i], data.t_x[i], data.t[i]);
            let whole = |v: f64| v.fract() == 0.0;
            if !(whole(tx) && whole(n)) {
                return Err(ModelError::InvalidData(format!(
                    "BG/BB needs whole numbers of transaction opportunities: found recency {tx}, periods {n}"
                )));
            }
            if tx < x {
                return Err(ModelError::InvalidData(format!(
                    "BG/BB: {x} transactions cannot end at opportunity {tx} (recency must be >= frequency)"
                )));
            }
        }
        Ok(())
    }

    /// Fits the model by maximum likelihood.
    pub fn fit(data: &RfmData, options: &FitOptions) -> Result<Fitted<BgBb>, ModelError> {
        BgBb::check_data(data)?;
        if data.x.iter().all(|&x| x == 0.0) {
            return Err(ModelError::InvalidData(
                "no customer made a transaction: the transaction and dropout processes cannot be told apart".into(),
            ));
        }
        let starts = [
            vec![1.0; 4],
            vec![0.5, 0.5, 0.5, 2.0],
            vec![2.0, 5.0, 0.1, 10.0],
        ];
        fit_model(
            "bgbb",
            &Data::new(data),
            None,
            &starts,
            options,
            BgBb::from_slice,
        )
    }

    /// The log-likelihood of the data under these parameters.
    pub fn log_likelihood(&self, data: &RfmData) -> f64 {
        Data::new(data).log_likelihood(
            &[self.alpha, self.beta, self.gamma, self.delta],
            &mut [0.0; 4],
        )
    }

    /// ln L(x, t_x, n) of one customer.
    fn ln_likelihood(&self, x: f64, t_x: f64, n: f64) -> f64 {
        let BgBb {
            alpha,
            beta,
            gamma,
            delta,
        } = *self;
        let (ab, gd) = (ln_beta(alpha, beta), ln_beta(gamma, delta));
        let mut terms =
            vec![ln_beta(alpha + x, beta + n - x) - ab + ln_beta(gamma, delta + n) - gd];
        let mut i = 0.0;
        while t_x + i < n {
            terms.push(
                ln_beta(alpha + x, beta + t_x - x + i) - ab + ln_beta(gamma + 1.0, delta + t_x + i)
                    - gd,
            );
            i += 1.0;
        }
        log_sum_exp(&terms)
    }

    /// `δ/(γ-1) · Γ(γ+δ)/Γ(1+δ) · [Γ(1+δ+m)/Γ(γ+δ+m) - Γ(1+δ+m+k)/Γ(γ+δ+m+k)]`, the sum over
    /// opportunities m+1..m+k of the probability of being alive at each (from the dropout
    /// Beta(γ, δ)), the common factor of the expectations; continuous at γ = 1.
    fn alive_opportunities(&self, m: f64, k: f64) -> f64 {
        let BgBb { gamma, delta, .. } = *self;
        if (gamma - 1.0).abs() < 1e-7 {
            let nudged = |gamma| BgBb { gamma, ..*self }.alive_opportunities(m, k);
            return 0.5 * (nudged(1.0 - 1e-6) + nudged(1.0 + 1e-6));
        }
        let lead = ln_gamma(gamma + delta) - ln_gamma(1.0 + delta);
        let first = ln_gamma(1.0 + delta + m) - ln_gamma(gamma + delta + m);
        let later = ln_gamma(1.0 + delta + m + k) - ln_gamma(gamma + delta + m + k);
        // e^first - e^later without cancellation.
        delta / (gamma - 1.0) * (lead + first).exp() * -(later - first).exp_m1()
    }
}

impl PurchaseModel for BgBb {
    /// Probability that a customer with x transactions in n opportunities, the last at t_x, is
    /// alive at the next opportunity, n+1 (FHS 2010, eq. 11).
    fn p_alive(&self, x: f64, t_x: f64, n: f64) -> f64 {
        let BgBb {
            alpha,
            beta,
            gamma,
            delta,
        } = *self;
        (ln_beta(alpha + x, beta + n - x) - ln_beta(alpha, beta) + ln_beta(gamma, delta + n + 1.0)
            - ln_beta(gamma, delta)
            - self.ln_likelihood(x, t_x, n))
        .exp()
    }

    /// Expected transactions in the next `k` opportunities of a customer with x transactions in
    /// n opportunities, the last at t_x (FHS 2010, eq. 13).
    fn expected_purchases(&self, k: f64, x: f64, t_x: f64, n: f64) -> Result<f64, ModelError> {
        let BgBb { alpha, beta, .. } = *self;
        if k <= 0.0 {
            return Ok(0.0);
        }
        let buy = ln_beta(alpha + x + 1.0, beta + n - x) - ln_beta(alpha, beta);
        Ok((buy - self.ln_likelihood(x, t_x, n)).exp() * self.alive_opportunities(n, k))
    }

    /// Expected transactions of a new customer in the first `n` opportunities (FHS 2010,
    /// eq. 9).
    fn expected_purchases_new(&self, n: f64) -> Result<f64, ModelError> {
        let BgBb { alpha, beta, .. } = *self;
        if n <= 0.0 {
            return Ok(0.0);
        }
        Ok(alpha / (alpha + beta) * self.alive_opportunities(0.0, n))
    }

    /// Probability that a new customer makes exactly x transactions in the first n
    /// opportunities (FHS 2010, eq. 7).
    fn probability_of_purchases(&self, x: u32, n: f64) -> f64 {
        let BgBb {
            alpha,
            beta,
            gamma,
            delta,
        } = *self;
        let x = f64::from(x);
        if x > n {
            return 0.0;
        }
        let (ab, gd) = (ln_beta(alpha, beta), ln_beta(gamma, delta));
        let ln_choose =
            |n: f64, k: f64| ln_gamma(n + 1.0) - ln_gamma(k + 1.0) - ln_gamma(n - k + 1.0);
        let mut total = (ln_choose(n, x) + ln_beta(alpha + x, beta + n - x) - ab
            + ln_beta(gamma, delta + n)
            - gd)
            .exp();
        let mut i = x;
        while i < n {
            total += (ln_choose(i, x) + ln_beta(alpha + x, beta + i - x) - ab
                + ln_beta(gamma + 1.0, delta + i)
                - gd)
                .exp();
            i += 1.0;
        }
        total
    }
}

fn log_sum_exp(terms: &[f64]) -> f64 {
    let m = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m + terms.iter().map(|t| (t - m).exp()).sum::<f64>().ln()
}

/// The data seen through the BG/BB likelihood.
struct Data<'a> {
    data: &'a RfmData,
    /// The largest n: the gamma-function tables run to it.
    n_max: usize,
}

impl<'a> Data<'a> {
    fn new(data: &'a RfmData) -> Self {
        let n_max = data.t.iter().fold(0.0f64, |m, &v| m.max(v)) as usize;
        Data { data, n_max }
    }
}

/// ln Γ(v + k) and ψ(v + k) for k = 0..len.
fn table(v: f64, len: usize) -> Vec<(f64, f64)> {
    (0..len)
        .map(|k| (ln_gamma(v + k as f64), digamma(v + k as f64)))
        .collect()
}

impl Likelihood for Data<'_> {
    const NAMES: &'static [&'static str] = &["alpha", "beta", "gamma", "delta"];

    fn customers(&self) -> f64 {
        self.data.customers()
    }

    fn log_likelihood(&self, p: &[f64], grad: &mut [f64]) -> f64 {
        let (alpha, beta, gamma, delta) = (p[0], p[1], p[2], p[3]);
        let len = self.n_max + 3;
        // Every beta function of the likelihood has arguments at whole-number offsets from the
        // parameters: tabulate ln Γ and ψ there once per evaluation.
        let (ta, tb, tab) = (
            table(alpha, len),
            table(beta, len),
            table(alpha + beta, len),
        );
        let (tg, td, tgd) = (
            table(gamma, 2),
            table(delta, len),
            table(gamma + delta, len),
        );
        let d = self.data;
        let (ta, tb, tab, tg, td, tgd) = (&ta, &tb, &tab, &tg, &td, &tgd);
        // ln[B(α+x, β+k)/B(α,β) · B(γ+g, δ+h)/B(γ,δ)] and its gradient.
        let term = |x: usize, k: usize, g: usize, h: usize| {
            let value = ta[x].0 + tb[k].0 - tab[x + k].0 - (ta[0].0 + tb[0].0 - tab[0].0)
                + tg[g].0
                + td[h].0
                - tgd[g + h].0
                - (tg[0].0 + td[0].0 - tgd[0].0);
            let grad = [
                ta[x].1 - tab[x + k].1 - ta[0].1 + tab[0].1,
                tb[k].1 - tab[x + k].1 - tb[0].1 + tab[0].1,
                tg[g].1 - tgd[g + h].1 - tg[0].1 + tgd[0].1,
                td[h].1 - tgd[g + h].1 - td[0].1 + tgd[0].1,
            ];
            (value, grad)
        };
        let row = |i: usize, acc: &mut (f64, [f64; 4])| {
            let (x, tx, n, w) = (
                d.x[i] as usize,
                d.t_x[i] as usize,
                d.t[i] as usize,
                d.weight[i],
            );
            let mut terms: Vec<(f64, [f64; 4])> = Vec::with_capacity(n - tx + 1);
            terms.push(term(x, n - x, 0, n));
            for j in 0..n - tx {
                terms.push(term(x, tx - x + j, 1, tx + j));
            }
            let m = terms.iter().map(|t| t.0).fold(f64::NEG_INFINITY, f64::max);
            let shares: Vec<f64> = terms.iter().map(|t| (t.0 - m).exp()).collect();
            let total: f64 = shares.iter().sum();
            acc.0 += w * (m + total.ln());
            for (share, (_, g)) in shares.iter().zip(&terms) {
                for (a, gk) in acc.1.iter_mut().zip(g) {
                    *a += w * share / total * gk;
                }
            }
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

    /// The donations data of FHS 2010 (via lifetimes' copy): 11,104 donors, 6 opportunities.
    fn donations() -> RfmData {
        let rows: [(f64, f64, f64); 22] = [
            (0.0, 0.0, 3464.0),
            (1.0, 1.0, 1091.0),
            (1.0, 2.0, 277.0),
            (1.0, 3.0, 129.0),
            (1.0, 4.0, 78.0),
            (1.0, 5.0, 119.0),
            (1.0, 6.0, 129.0),
            (2.0, 2.0, 613.0),
            (2.0, 3.0, 255.0),
            (2.0, 4.0, 155.0),
            (2.0, 5.0, 173.0),
            (2.0, 6.0, 234.0),
            (3.0, 3.0, 322.0),
            (3.0, 4.0, 181.0),
            (3.0, 5.0, 225.0),
            (3.0, 6.0, 357.0),
            (4.0, 4.0, 240.0),
            (4.0, 5.0, 284.0),
            (4.0, 6.0, 512.0),
            (5.0, 5.0, 335.0),
            (5.0, 6.0, 728.0),
            (6.0, 6.0, 1203.0),
        ];
        let x: Vec<f64> = rows.iter().map(|r| r.0).collect();
        let tx: Vec<f64> = rows.iter().map(|r| r.1).collect();
        let w: Vec<f64> = rows.iter().map(|r| r.2).collect();
        RfmData::new(&x, &tx, &[6.0; 22], Some(&w)).unwrap()
    }

    #[test]
    fn reproduces_fader_hardie_shang_2010() {
        let data = donations();
        assert_eq!(data.customers(), 11_104.0);
        let fit = BgBb::fit(&data, &FitOptions::default()).unwrap();
        let p = fit.params;
        // Published: alpha = 1.204, beta = 0.750, gamma = 0.657, delta = 2.783, LL = -33,225.6.
        let rounds = |v: f64, published: f64| ((v * 1e3).round() / 1e3 - published).abs() < 1e-9;
        assert!(rounds(p.alpha, 1.204), "{p:?}");
        assert!(rounds(p.beta, 0.750), "{p:?}");
        assert!(rounds(p.gamma, 0.657), "{p:?}");
        assert!(rounds(p.delta, 2.783), "{p:?}");
        assert!(
            (fit.log_likelihood - -33_225.6).abs() < 0.1,
            "{}",
            fit.log_likelihood
        );
        assert!(fit.std_errors.is_some());
    }

    #[test]
    fn analytic_gradient_matches_finite_differences() {
        for p in [
            [1.204, 0.750, 0.657, 2.783],
            [0.3, 4.0, 2.0, 0.5],
            [8.0, 0.2, 0.05, 30.0],
        ] {
            // Per donor (weights / 11,104), so that rounding in the finite differences of a
            // log-likelihood of -33,000 does not swamp the comparison.
            let d = donations();
            let per_donor: Vec<f64> = d.weight.iter().map(|w| w / 11_104.0).collect();
            let d = RfmData::new(&d.x, &d.t_x, &d.t, Some(&per_donor)).unwrap();
            let err = gradient_error(&Data::new(&d), &p);
            assert!(err < 1e-6, "relative gradient error {err} at {p:?}");
        }
    }

    #[test]
    fn probabilities_of_every_history_sum_to_one() {
        let m = BgBb {
            alpha: 1.204,
            beta: 0.750,
            gamma: 0.657,
            delta: 2.783,
        };
        let n = 6.0;
        // Σ over (x, t_x) of L times the number of purchase sequences with that (x, t_x):
        // C(t_x - 1, x - 1) for x > 0.
        let choose =
            |n: f64, k: f64| (ln_gamma(n + 1.0) - ln_gamma(k + 1.0) - ln_gamma(n - k + 1.0)).exp();
        let mut total = m.ln_likelihood(0.0, 0.0, n).exp();
        for tx in 1..=6 {
            for x in 1..=tx {
                let (x, tx) = (x as f64, tx as f64);
                total += choose(tx - 1.0, x - 1.0) * m.ln_likelihood(x, tx, n).exp();
            }
        }
        assert!((total - 1.0).abs() < 1e-12, "{total}");
        // The distribution of X(n) for a new customer: sums to 1, and its mean is E[X(n)].
        for n in [1.0, 6.0, 20.0] {
            let probs: Vec<f64> = (0..=n as u32)
                .map(|x| m.probability_of_purchases(x, n))
                .collect();
            let mean: f64 = probs.iter().enumerate().map(|(x, p)| x as f64 * p).sum();
            assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            let e = m.expected_purchases_new(n).unwrap();
            assert!(
                (mean - e).abs() < 1e-12 * e,
                "n {n}: mean {mean}, E[X(n)] {e}"
            );
        }
    }
}
