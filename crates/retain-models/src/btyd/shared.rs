//! What BG/NBD and MBG/NBD share (their formulas differ in a few offsets), in one place that
//! both take it from: the negative binomial purchase counts of an alive customer (ln P(N(t) = n)
//! and P(N(t) >= n)), the conditional expectation of purchases to come, and the error of a 2F1
//! outside the range computed exactly (which the sBG model's expected lifetime meets too).

use std::collections::hash_map::Entry;

use statrs::function::beta::beta_reg;
use statrs::function::gamma::ln_gamma;

use super::FastMap;
use crate::special::{ln_hyp2f1_batch, Hyp2f1Error};
use crate::ModelError;

/// ln P(N(t) = n) for N(t) negative binomial: Poisson counts at a Gamma(r, α) rate.
pub(crate) fn ln_negative_binomial(r: f64, alpha: f64, n: f64, t: f64) -> f64 {
    if t <= 0.0 {
        return if n == 0.0 { 0.0 } else { f64::NEG_INFINITY };
    }
    let trials = if n == 0.0 {
        0.0
    } else {
        n * (t / (alpha + t)).ln()
    };
    ln_gamma(r + n) - ln_gamma(r) - ln_gamma(n + 1.0) + r * (alpha / (alpha + t)).ln() + trials
}

/// P(N(t) >= n) for N(t) negative binomial (Poisson counts at a Gamma(r, α) rate): the
/// regularised incomplete beta function I_{t/(α+t)}(n, r), with no cancellation in the tail.
pub(crate) fn negative_binomial_tail(r: f64, alpha: f64, n: f64, t: f64) -> f64 {
    if n == 0.0 {
        1.0
    } else if t <= 0.0 {
        0.0
    } else {
        beta_reg(n, r, t / (alpha + t))
    }
}

/// `1 - ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b'; c'; t/(α+T+t))` at each t (0 for t <= 0): the
/// factor of the conditional expectations of BG/NBD (b' = b+x, c' = a+b+x-1) and MBG/NBD
/// (b' = b+x+1, c' = a+b+x), one series pass for all t. `rx` = r+x, `alpha_t` = α+T.
fn purchases_to_come(
    rx: f64,
    alpha_t: f64,
    (b2, c2): (f64, f64),
    ts: &[f64],
) -> Result<Vec<f64>, ModelError> {
    let ahead: Vec<f64> = ts.iter().map(|&t| if t > 0.0 { t } else { 0.0 }).collect();
    let zs: Vec<f64> = ahead.iter().map(|&t| t / (alpha_t + t)).collect();
    let mut ln_f = vec![0.0; ts.len()];
    ln_hyp2f1_batch(rx, b2, c2, &zs, &mut ln_f).map_err(hyp)?;
    Ok(ahead
        .iter()
        .zip(ln_f)
        .map(|(&t, ln_f)| {
            if t == 0.0 {
                0.0
            } else {
                -(ln_f + rx * (alpha_t / (alpha_t + t)).ln()).exp_m1()
            }
        })
        .collect())
}

/// The conditional expectation of BG/NBD (`k` = 0) and MBG/NBD (`k` = 1), which differ only
/// in these offsets: purchases in the next t of a customer with history (x, t_x, T),
///
/// ```text
/// (a+b+x-1+k)/(a-1) · P(alive) · [1 - ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x+k; a+b+x-1+k; t/(α+T+t))]
/// ```
///
/// at each of `ts`, for many histories, row-major. It depends on t_x only through P(alive), so
/// histories sharing x and T (most rows of a large customer base: T takes a few hundred values,
/// x a few dozen) share one series pass. The closed form divides by a-1: at a = 1 it takes the
/// mean of its values at a = 1 ± 1e-6. `p_alive(a, history)` is the model's P(alive).
pub(crate) fn conditional_expectations(
    (r, alpha, a, b): (f64, f64, f64, f64),
    k: f64,
    p_alive: &dyn Fn(f64, (f64, f64, f64)) -> f64,
    ts: &[f64],
    histories: &[(f64, f64, f64)],
) -> Result<Vec<f64>, ModelError> {
    if (a - 1.0).abs() < 1e-7 {
        let nudged = |a| conditional_expectations((r, alpha, a, b), k, p_alive, ts, histories);
        let (below, above) = (nudged(1.0 - 1e-6)?, nudged(1.0 + 1e-6)?);
        return Ok(below
            .iter()
            .zip(above)
            .map(|(l, h)| 0.5 * (l + h))
            .collect());
    }
    let mut known: FastMap<(u64, u64), Vec<f64>> = FastMap::default();
    let mut out = Vec::with_capacity(ts.len() * histories.len());
    for &(x, t_x, big_t) in histories {
        let rest = match known.entry((x.to_bits(), big_t.to_bits())) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(purchases_to_come(
                r + x,
                alpha + big_t,
                (b + x + k, a + b + x - 1.0 + k),
                ts,
            )?),
        };
        let scale = (a + b + x - 1.0 + k) / (a - 1.0) * p_alive(a, (x, t_x, big_t));
        out.extend(rest.iter().map(|v| scale * v));
    }
    Ok(out)
}

/// A 2F1 that could not be computed exactly, as the model error a prediction returns.
pub(crate) fn hyp(e: Hyp2f1Error) -> ModelError {
    ModelError::InvalidData(format!(
        "prediction outside the range computed exactly: {e}"
    ))
}
