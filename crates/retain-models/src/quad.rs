//! Adaptive Gauss–Kronrod (7–15 point) quadrature of positive integrands given by their
//! logarithm, for the integrals of the Pareto/NBD model that would otherwise be differences of
//! hypergeometric functions.
//!
//! The integrand is `exp(ln_f(u))`, and with it K functions `g_k(u)` whose `f`-weighted means
//! are wanted (a likelihood's gradient is such a mean: the derivative of `ln ∫ f` with respect to
//! a parameter θ is the mean of `∂ ln f / ∂θ`). Values are scaled by the largest `ln_f` seen, so
//! integrands of 1e-300 or 1e300 neither underflow nor overflow. The interval is bisected where
//! the error estimate is largest until the estimated relative error is below the tolerance.

/// The integral, in logs, and the weighted means.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LogIntegral<const K: usize> {
    /// ln ∫ f(u) du (−∞ for an empty interval).
    pub ln_value: f64,
    /// ∫ f g_k / ∫ f.
    pub means: [f64; K],
}

// Abscissae and weights of QUADPACK's qk15: the Kronrod points, of which the odd ones (1, 3, 5,
// 7) are the 7-point Gauss points.
const XGK: [f64; 8] = [
    0.991_455_371_120_812_6,
    0.949_107_912_342_758_5,
    0.864_864_423_359_769_1,
    0.741_531_185_599_394_4,
    0.586_087_235_467_691_1,
    0.405_845_151_377_397_2,
    0.207_784_955_007_898_5,
    0.0,
];
const WGK: [f64; 8] = [
    0.022_935_322_010_529_22,
    0.063_092_092_629_978_55,
    0.104_790_010_322_250_2,
    0.140_653_259_715_525_9,
    0.169_004_726_639_267_9,
    0.190_350_578_064_785_4,
    0.204_432_940_075_298_9,
    0.209_482_141_084_727_8,
];
const WG: [f64; 4] = [
    0.129_484_966_168_869_7,
    0.279_705_391_489_276_7,
    0.381_830_050_505_118_9,
    0.417_959_183_673_469_4,
];

/// Relative accuracy asked of every integral.
const TOLERANCE: f64 = 1e-12;
/// Bisections allowed before giving up on the tolerance (the result is then still the best
/// estimate; the integrands of the models are smooth, so this is a guard, not a path).
const MAX_SEGMENTS: usize = 200;

/// One segment's Kronrod estimates, scaled by `exp(-scale)`.
struct Segment<const K: usize> {
    a: f64,
    b: f64,
    value: f64,
    moments: [f64; K],
    error: f64,
}

/// ∫_a^b exp(ln_f(u)) du and the weighted means of the g_k, with `f` returning
/// `(ln_f(u), [g_1(u), …, g_K(u)])`.
pub(crate) fn integrate_log<const K: usize>(
    a: f64,
    b: f64,
    f: impl Fn(f64) -> (f64, [f64; K]),
) -> LogIntegral<K> {
    if b <= a {
        return LogIntegral {
            ln_value: f64::NEG_INFINITY,
            means: [0.0; K],
        };
    }
    let mut scale = f64::NEG_INFINITY;
    let mut segments: Vec<Segment<K>> = Vec::with_capacity(8);
    let first = kronrod(a, b, &f, &mut scale, &mut segments);
    segments.push(first);
    loop {
        let (total, error) = segments
            .iter()
            .fold((0.0, 0.0), |(v, e), s| (v + s.value, e + s.error));
        if error <= TOLERANCE * total || segments.len() >= MAX_SEGMENTS || total == 0.0 {
            break;
        }
        let worst = (0..segments.len())
            .max_by(|&i, &j| segments[i].error.total_cmp(&segments[j].error))
            .expect("at least one segment");
        let s = segments.swap_remove(worst);
        let mid = 0.5 * (s.a + s.b);
        if !(mid > s.a && mid < s.b) {
            // No room left to bisect in floating point: keep the estimate.
            segments.push(Segment { error: 0.0, ..s });
            continue;
        }
        let left = kronrod(s.a, mid, &f, &mut scale, &mut segments);
        segments.push(left);
        let right = kronrod(mid, s.b, &f, &mut scale, &mut segments);
        segments.push(right);
    }
    let total: f64 = segments.iter().map(|s| s.value).sum();
    let mut means = [0.0; K];
    for s in &segments {
        for (m, v) in means.iter_mut().zip(s.moments) {
            *m += v;
        }
    }
    for m in &mut means {
        *m /= total;
    }
    LogIntegral {
        ln_value: total.ln() + scale,
        means,
    }
}

/// The 15-point Kronrod estimate on [a, b] with QUADPACK's error estimate. A node above the
/// running scale raises it, and the segments already stored are rescaled to match.
fn kronrod<const K: usize>(
    a: f64,
    b: f64,
    f: &impl Fn(f64) -> (f64, [f64; K]),
    scale: &mut f64,
    stored: &mut [Segment<K>],
) -> Segment<K> {
    let center = 0.5 * (a + b);
    let half = 0.5 * (b - a);
    let mut nodes = [(0.0, [0.0; K]); 15];
    for (i, node) in nodes.iter_mut().enumerate() {
        let x = match i {
            0..=6 => center - half * XGK[i],
            7 => center,
            _ => center + half * XGK[14 - i],
        };
        *node = f(x);
    }
    let peak = nodes.iter().map(|n| n.0).fold(f64::NEG_INFINITY, f64::max);
    if peak > *scale {
        let shrink = (*scale - peak).exp();
        for s in stored.iter_mut() {
            s.value *= shrink;
            s.error *= shrink;
            for m in &mut s.moments {
                *m *= shrink;
            }
        }
        *scale = peak;
    }
    let weight_of = |i: usize| if i <= 7 { WGK[i] } else { WGK[14 - i] };
    let (mut kronrod, mut gauss, mut moments) = (0.0, 0.0, [0.0; K]);
    let mut values = [0.0; 15];
    for (i, (ln_f, g)) in nodes.iter().enumerate() {
        let v = if *ln_f == f64::NEG_INFINITY {
            0.0
        } else {
            (ln_f - *scale).exp()
        };
        values[i] = v;
        let w = weight_of(i);
        kronrod += w * v;
        for (m, gk) in moments.iter_mut().zip(g) {
            *m += w * v * gk;
        }
        // The Gauss points are the Kronrod points 1, 3, 5, 7 from either end.
        let k = if i <= 7 { i } else { 14 - i };
        if k % 2 == 1 {
            gauss += WG[k / 2] * v;
        }
    }
    // QUADPACK's error estimate: |K15 - G7| scaled down for smooth integrands by comparing with
    // the integral's absolute deviation from its mean.
    let mean = 0.5 * kronrod;
    let resasc: f64 = values
        .iter()
        .enumerate()
        .map(|(i, v)| weight_of(i) * (v - mean).abs())
        .sum::<f64>()
        * half;
    let raw = ((kronrod - gauss) * half).abs();
    let error = if resasc > 0.0 && raw > 0.0 {
        resasc * (200.0 * raw / resasc).powf(1.5).min(1.0)
    } else {
        raw
    };
    let error = error.max(50.0 * f64::EPSILON * (kronrod * half).abs());
    Segment {
        a,
        b,
        value: kronrod * half,
        moments: moments.map(|m| m * half),
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polynomials_and_exponentials_are_exact() {
        // ∫_0^2 u^3 du = 4, mean of u under u^3 on [0, 2] = (2^5/5) / 4 = 1.6.
        let r = integrate_log(0.0, 2.0, |u: f64| (3.0 * u.ln(), [u]));
        assert!((r.ln_value.exp() - 4.0).abs() < 1e-13, "{r:?}");
        assert!((r.means[0] - 1.6).abs() < 1e-13, "{r:?}");
        // ∫_0^1 e^{-1000u} du = (1 - e^-1000)/1000: a boundary layer a thousandth wide.
        let r = integrate_log(0.0, 1.0, |u| (-1000.0 * u, []));
        assert!((r.ln_value + 1000f64.ln()).abs() < 1e-12, "{r:?}");
    }

    #[test]
    fn tiny_and_huge_integrands_stay_finite() {
        // ∫_0^1 e^{-800 + u} du = e^-800 (e - 1): below f64's range as a value, exact in logs.
        let r = integrate_log(0.0, 1.0, |u| (-800.0 + u, []));
        let expect = -800.0 + (1f64.exp() - 1.0).ln();
        assert!((r.ln_value - expect).abs() < 1e-12, "{r:?}");
        let r = integrate_log(0.0, 1.0, |u| (900.0 - 2.0 * u, []));
        let expect = 900.0 + ((1.0 - (-2f64).exp()) / 2.0).ln();
        assert!((r.ln_value - expect).abs() < 1e-12, "{r:?}");
        assert_eq!(
            integrate_log(1.0, 1.0, |u| (u, [])).ln_value,
            f64::NEG_INFINITY
        );
    }
}
