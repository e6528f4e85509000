//! Special functions that no well-kept crate provides robustly: the Gauss hypergeometric
//! function 2F1, which BG/NBD's predictions and the Pareto/NBD likelihood need.
//!
//! The value is computed in logs, because in BG/NBD's conditional expectation it grows like
//! (1-z)^-x and overflows f64 for customers with a few thousand purchases. The series is summed
//! after whichever of the Euler and Pfaff transformations keeps its terms smallest:
//! - Euler: 2F1(a, b; c; z) = (1-z)^(c-a-b) 2F1(c-a, c-b; c; z);
//! - Pfaff, for z < 0: 2F1(a, b; c; z) = (1-z)^(-a) 2F1(a, c-b; c; z/(z-1)), whose argument is
//!   in (0, 1) where the series has no cancellation.
//!
//! Tested against mpmath at 40 digits (fixtures/hyp2f1_mpmath.csv).

/// ln B(a, b) = ln Γ(a) + ln Γ(b) - ln Γ(a+b). Unlike statrs' `ln_beta` it does not panic at
/// a = 0 or b = 0 (a parameter underflowing in a line search): it returns a non-finite value
/// that the optimiser steps back from.
pub fn ln_beta(a: f64, b: f64) -> f64 {
    use statrs::function::gamma::ln_gamma;
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// Why 2F1 could not be evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Hyp2f1Error {
    #[error("2F1({a}, {b}; {c}; {z}): {reason}")]
    Domain {
        a: f64,
        b: f64,
        c: f64,
        z: f64,
        reason: &'static str,
    },
    #[error("2F1({a}, {b}; {c}; {z}) did not converge in {terms} terms")]
    NoConvergence {
        a: f64,
        b: f64,
        c: f64,
        z: f64,
        terms: usize,
    },
}

const MAX_TERMS: usize = 5_000_000;

/// ln 2F1(a, b; c; z) for real parameters, z < 1, c not 0 or a negative integer, where the
/// function is positive (as it is wherever the models use it).
pub fn ln_hyp2f1(a: f64, b: f64, c: f64, z: f64) -> Result<f64, Hyp2f1Error> {
    let domain = |reason| Err(Hyp2f1Error::Domain { a, b, c, z, reason });
    if !(a.is_finite() && b.is_finite() && c.is_finite() && z.is_finite()) {
        return domain("non-finite argument");
    }
    if z >= 1.0 {
        return domain("z must be below 1");
    }
    if c <= 0.0 && c.fract() == 0.0 {
        return domain("c is 0 or a negative integer");
    }
    if z == 0.0 || a == 0.0 || b == 0.0 {
        return Ok(0.0);
    }
    if z < 0.0 {
        // Pfaff on a or on b, whichever leaves the cheaper series.
        let w = z / (z - 1.0);
        let (p, q) = if (a * (c - b)).abs() <= (b * (c - a)).abs() {
            (a, c - b)
        } else {
            (b, c - a)
        };
        return Ok(-p * (1.0 - z).ln() + ln_positive_z(p, q, c, w)?);
    }
    ln_positive_z(a, b, c, z)
}

/// 0 < z < 1: the direct series or Euler's, whichever has the smaller leading coefficient.
fn ln_positive_z(a: f64, b: f64, c: f64, z: f64) -> Result<f64, Hyp2f1Error> {
    if euler_is_cheaper(a, b, c) {
        Ok((c - a - b) * (1.0 - z).ln() + ln_series(c - a, c - b, c, z)?)
    } else {
        ln_series(a, b, c, z)
    }
}

fn euler_is_cheaper(a: f64, b: f64, c: f64) -> bool {
    (a * b).abs() > ((c - a) * (c - b)).abs()
}

/// ln 2F1(a, b; c; z) at several z in [0, 1) with the same a, b, c, written into `out`: one
/// pass of the series serves every z (the coefficient (a)_n (b)_n / ((c)_n n!) is shared), as
/// in a CLV's month-by-month expected purchases of one customer. Equal to [`ln_hyp2f1`] at each
/// z up to rounding.
pub fn ln_hyp2f1_batch(
    a: f64,
    b: f64,
    c: f64,
    zs: &[f64],
    out: &mut [f64],
) -> Result<(), Hyp2f1Error> {
    assert_eq!(zs.len(), out.len(), "one output per z");
    let (finite, valid_c) = (
        a.is_finite() && b.is_finite() && c.is_finite(),
        !(c <= 0.0 && c.fract() == 0.0),
    );
    let in_range = zs.iter().all(|z| (0.0..1.0).contains(z));
    if !(finite && valid_c && in_range) || a == 0.0 || b == 0.0 {
        // Outside the batch's fast path: one at a time, with their errors.
        for (z, o) in zs.iter().zip(out.iter_mut()) {
            *o = ln_hyp2f1(a, b, c, *z)?;
        }
        return Ok(());
    }
    let euler = euler_is_cheaper(a, b, c);
    let (p, q) = if euler { (c - a, c - b) } else { (a, b) };
    const RESCALE: f64 = 1e250;
    let lanes = zs.len();
    let (mut term, mut sum, mut ln_scale) = (
        vec![1.0f64; lanes],
        vec![1.0f64; lanes],
        vec![0.0f64; lanes],
    );
    // Every lane advances every step (branch-free, so the loop vectorises); the series stops
    // when every lane's geometric bound on its rest is below rounding, as in `ln_series`.
    let mut n = 0usize;
    loop {
        if n == MAX_TERMS {
            return Err(Hyp2f1Error::NoConvergence {
                a,
                b,
                c,
                z: zs.iter().copied().fold(0.0, f64::max),
                terms: MAX_TERMS,
            });
        }
        let nf = n as f64;
        let base = (p + nf) * (q + nf) / ((c + nf) * (nf + 1.0));
        for ((t, s), z) in term.iter_mut().zip(sum.iter_mut()).zip(zs) {
            *t *= base * z;
            *s += *t;
        }
        n += 1;
        if sum.iter().any(|s| s.abs() > RESCALE) {
            for m in 0..lanes {
                if sum[m].abs() > RESCALE {
                    sum[m] /= RESCALE;
                    term[m] /= RESCALE;
                    ln_scale[m] += RESCALE.ln();
                }
            }
        }
        let converged = (0..lanes).all(|m| {
            let r = (base * zs[m]).abs();
            term[m] == 0.0 || (r < 1.0 && term[m].abs() / (1.0 - r) <= 1e-17 * sum[m].abs())
        });
        if converged {
            break;
        }
    }
    for m in 0..lanes {
        let z = zs[m];
        let ln_sum = positive_log(sum[m], ln_scale[m], a, b, c, z)?;
        out[m] = if euler && z > 0.0 {
            (c - a - b) * (1.0 - z).ln() + ln_sum
        } else {
            ln_sum
        };
    }
    Ok(())
}

/// ln of the Gauss series Σ (a)_n (b)_n / ((c)_n n!) z^n, 0 < z < 1, summed with a running
/// scale so that large terms do not overflow.
fn ln_series(a: f64, b: f64, c: f64, z: f64) -> Result<f64, Hyp2f1Error> {
    const RESCALE: f64 = 1e250;
    let (mut term, mut sum, mut ln_scale) = (1.0f64, 1.0f64, 0.0f64);
    for n in 0..MAX_TERMS {
        let nf = n as f64;
        let ratio = (a + nf) * (b + nf) / ((c + nf) * (nf + 1.0)) * z;
        term *= ratio;
        sum += term;
        if term == 0.0 {
            break; // a or b is a non-positive integer: a polynomial, now complete
        }
        if sum.abs() > RESCALE {
            sum /= RESCALE;
            term /= RESCALE;
            ln_scale += RESCALE.ln();
        }
        // Past the peak the terms shrink at least geometrically by `ratio` -> z: stop when the
        // geometric bound on the rest is below rounding.
        let r = ratio.abs();
        if r < 1.0 && term.abs() / (1.0 - r) <= 1e-17 * sum.abs() {
            return positive_log(sum, ln_scale, a, b, c, z);
        }
    }
    if term == 0.0 {
        return positive_log(sum, ln_scale, a, b, c, z);
    }
    Err(Hyp2f1Error::NoConvergence {
        a,
        b,
        c,
        z,
        terms: MAX_TERMS,
    })
}

fn positive_log(
    sum: f64,
    ln_scale: f64,
    a: f64,
    b: f64,
    c: f64,
    z: f64,
) -> Result<f64, Hyp2f1Error> {
    if sum > 0.0 {
        Ok(sum.ln() + ln_scale)
    } else {
        Err(Hyp2f1Error::Domain {
            a,
            b,
            c,
            z,
            reason: "the value is not positive",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_mpmath_in_every_regime_the_models_reach() {
        let fixture = include_str!("../fixtures/hyp2f1_mpmath.csv");
        let mut checked = 0;
        for line in fixture.lines().skip(1) {
            let f: Vec<&str> = line.splitn(6, ',').collect();
            let v: Vec<f64> = f[..5].iter().map(|s| s.parse().unwrap()).collect();
            let ours =
                ln_hyp2f1(v[0], v[1], v[2], v[3]).unwrap_or_else(|e| panic!("{}: {e}", f[5]));
            let tol = 1e-11 * v[4].abs().max(1.0);
            assert!(
                (ours - v[4]).abs() <= tol,
                "{}: 2F1({}, {}; {}; {}) ln = {ours}, mpmath {}",
                f[5],
                v[0],
                v[1],
                v[2],
                v[3],
                v[4]
            );
            checked += 1;
        }
        assert_eq!(checked, 115);
    }

    #[test]
    fn a_batch_equals_one_at_a_time() {
        let zs = [0.0, 0.05, 0.3, 0.5, 0.77, 0.9, 0.99];
        // Direct series, Euler's, huge a and b, a polynomial.
        for (a, b, c) in [
            (0.3, 2.5, 3.0),
            (20.2, 22.4, 22.6),
            (500.24, 502.4, 502.2),
            (-2.0, 1.5, 2.5),
        ] {
            let mut batch = [0.0; 7];
            ln_hyp2f1_batch(a, b, c, &zs, &mut batch).unwrap();
            for (z, got) in zs.iter().zip(batch) {
                let one = ln_hyp2f1(a, b, c, *z).unwrap();
                assert!(
                    (got - one).abs() <= 1e-13 * one.abs().max(1.0),
                    "2F1({a}, {b}; {c}; {z}): {got} vs {one}"
                );
            }
        }
        let mut out = [0.0];
        assert!(ln_hyp2f1_batch(1.0, 1.0, 2.0, &[1.0], &mut out).is_err());
    }

    #[test]
    fn closed_forms() {
        // 2F1(1, 1; 2; z) = -ln(1-z)/z.
        for z in [-3.0, -0.5, 0.1, 0.5, 0.9, 0.999] {
            let want = (-(1.0f64 - z).ln() / z).ln();
            assert!(
                (ln_hyp2f1(1.0, 1.0, 2.0, z).unwrap() - want).abs() < 1e-13,
                "z = {z}"
            );
        }
        // A polynomial: 2F1(-2, b; c; z) = 1 - 2bz/c + b(b+1)z^2/(c(c+1)).
        let (b, c, z) = (1.5, 2.5, 0.3);
        let want = 1.0 - 2.0 * b * z / c + b * (b + 1.0) * z * z / (c * (c + 1.0));
        assert!((ln_hyp2f1(-2.0, b, c, z).unwrap() - want.ln()).abs() < 1e-15);
        assert_eq!(ln_hyp2f1(0.5, 0.5, 1.5, 0.0).unwrap(), 0.0);
    }

    #[test]
    fn outside_the_domain_is_an_error_not_a_nan() {
        assert!(matches!(
            ln_hyp2f1(1.0, 1.0, 2.0, 1.0),
            Err(Hyp2f1Error::Domain { .. })
        ));
        assert!(matches!(
            ln_hyp2f1(1.0, 1.0, -2.0, 0.5),
            Err(Hyp2f1Error::Domain { .. })
        ));
        assert!(matches!(
            ln_hyp2f1(f64::NAN, 1.0, 2.0, 0.5),
            Err(Hyp2f1Error::Domain { .. })
        ));
    }
}
