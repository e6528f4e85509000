//! The two-sample Kolmogorov-Smirnov test, two-sided, as scipy's `ks_2samp(method="auto")`
//! computes it (the test Evidently runs on a numeric feature with at most 1,000 reference rows):
//!
//! - D = max |F₁(x) − F₂(x)| over the pooled values, F the empirical distribution functions.
//! - Exact p-value when both samples have at most 10,000 values: with g = gcd(n₁, n₂) and
//!   D = h·g/(n₁n₂) on the lattice, p is the share of the (n₁+n₂ choose n₁) orderings of the
//!   pooled sample whose path (i, j) leaves the band |i·n₂ − j·n₁| < h·g. Equal sizes use the
//!   alternating binomial series; unequal sizes walk the lattice with each step's probability
//!   (the next value comes from sample 1 with probability (n₁ − i)/(n₁ + n₂ − i − j)).
//! - Otherwise Smirnov's asymptotic: the one-sample Kolmogorov distribution at n = round(n₁n₂ /
//!   (n₁ + n₂)), computed exactly by Marsaglia, Tsang and Wang (2003), "Evaluating Kolmogorov's
//!   distribution", J. Stat. Software 8(18) (scipy's `kstwo.sf`).

/// Sizes up to which the p-value is exact (scipy's `MAX_AUTO_N`).
const MAX_EXACT_N: usize = 10_000;

/// D and the two-sided p-value. Both samples non-empty, without NaN.
pub(crate) fn ks_2samp(x: &[f64], y: &[f64]) -> (f64, f64) {
    let mut a = x.to_vec();
    let mut b = y.to_vec();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (n1, n2) = (a.len(), b.len());
    // The largest |i·n₂ − j·n₁| after all values ≤ v are counted, over the pooled values v.
    let (mut i, mut j, mut widest) = (0usize, 0usize, 0u128);
    while i < n1 || j < n2 {
        let v = match (a.get(i), b.get(j)) {
            (Some(&p), Some(&q)) => p.min(q),
            (Some(&p), None) => p,
            (None, Some(&q)) => q,
            (None, None) => unreachable!(),
        };
        while i < n1 && a[i] <= v {
            i += 1;
        }
        while j < n2 && b[j] <= v {
            j += 1;
        }
        let gap = (i as i128 * n2 as i128 - j as i128 * n1 as i128).unsigned_abs();
        widest = widest.max(gap);
    }
    let d = widest as f64 / (n1 as f64 * n2 as f64);
    if n1.max(n2) <= MAX_EXACT_N {
        let g = gcd(n1, n2);
        let h = widest / g as u128;
        if h == 0 {
            return (d, 1.0);
        }
        let p = if n1 == n2 {
            outside_square(n1, h as usize)
        } else {
            1.0 - inside_band(n1, n2, widest)
        };
        if (0.0..=1.0).contains(&p) {
            return (d, p);
        }
    }
    let (m, n) = (n1.max(n2) as f64, n1.min(n2) as f64);
    let en = (m * n / (m + n)).round() as usize;
    (d, kolmogorov_sf(en, d))
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// P(D ≥ h/n) for two samples of n: 2 Σ_k (−1)^(k+1) C(2n, n − kh)/C(2n, n), summed by
/// Horner's rule from the last term, as scipy's `_compute_prob_outside_square`.
fn outside_square(n: usize, h: usize) -> f64 {
    let mut p = 0.0;
    for k in (0..=n / h).rev() {
        let mut term = 1.0;
        for j in 0..h {
            term = (n as f64 - (k * h) as f64 - j as f64) * term
                / (n as f64 + (k * h) as f64 + j as f64 + 1.0);
        }
        p = term * (1.0 - p);
    }
    2.0 * p
}

/// P(every point (i, j) of a random ordering's path has |i·n₂ − j·n₁| < `reach`).
fn inside_band(n1: usize, n2: usize, reach: u128) -> f64 {
    let inside = |i: usize, j: usize| {
        (i as i128 * n2 as i128 - j as i128 * n1 as i128).unsigned_abs() < reach
    };
    // row[j] = P(the path reaches (i, j) staying inside) for the current i.
    let mut row = vec![0.0f64; n2 + 1];
    row[0] = 1.0;
    for j in 1..=n2 {
        row[j] = if inside(0, j) {
            row[j - 1] * step_from_second(n1, n2, 0, j - 1)
        } else {
            0.0
        };
    }
    for i in 1..=n1 {
        let mut next = vec![0.0f64; n2 + 1];
        for j in 0..=n2 {
            if !inside(i, j) {
                continue;
            }
            let from_first = row[j] * (n1 - (i - 1)) as f64 / (n1 + n2 - (i - 1) - j) as f64;
            let from_second = if j > 0 {
                next[j - 1] * step_from_second(n1, n2, i, j - 1)
            } else {
                0.0
            };
            next[j] = from_first + from_second;
        }
        row = next;
    }
    row[n2]
}

/// The probability that the value after (i, j) comes from the second sample.
fn step_from_second(n1: usize, n2: usize, i: usize, j: usize) -> f64 {
    (n2 - j) as f64 / (n1 + n2 - i - j) as f64
}

/// P(D_n ≥ d) of the one-sample Kolmogorov statistic (Marsaglia, Tsang and Wang 2003). Where
/// n·d² > 7.24 (p below 2·10⁻⁶) their closed-form tail is used, as in their paper.
pub fn kolmogorov_sf(n: usize, d: f64) -> f64 {
    if n == 0 || d <= 0.0 {
        return 1.0;
    }
    if d >= 1.0 {
        return 0.0;
    }
    let nf = n as f64;
    let s = d * d * nf;
    if s > 7.24 {
        return 2.0 * (-(2.000071 + 0.331 / nf.sqrt() + 1.409 / nf) * s).exp();
    }
    let k = (nf * d) as usize + 1;
    let m = 2 * k - 1;
    let h = k as f64 - nf * d;
    let mut hm = vec![0.0f64; m * m];
    for i in 0..m {
        for j in 0..m {
            if i + 1 >= j {
                hm[i * m + j] = 1.0;
            }
        }
    }
    for i in 0..m {
        hm[i * m] -= h.powi(i as i32 + 1);
        hm[(m - 1) * m + i] -= h.powi((m - i) as i32);
    }
    if 2.0 * h - 1.0 > 0.0 {
        hm[(m - 1) * m] += (2.0 * h - 1.0).powi(m as i32);
    }
    for i in 0..m {
        for j in 0..m {
            if i + 1 > j {
                for g in 1..=(i + 1 - j) {
                    hm[i * m + j] /= g as f64;
                }
            }
        }
    }
    let (q, mut exponent) = matrix_power(&hm, 0, m, n);
    let mut s = q[(k - 1) * m + k - 1];
    for i in 1..=n {
        s = s * i as f64 / nf;
        if s < 1e-140 {
            s *= 1e140;
            exponent -= 140;
        }
    }
    let cdf = s * 10f64.powi(exponent);
    (1.0 - cdf).clamp(0.0, 1.0)
}

fn matrix_multiply(a: &[f64], b: &[f64], m: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * m];
    for i in 0..m {
        for k in 0..m {
            let aik = a[i * m + k];
            if aik == 0.0 {
                continue;
            }
            for j in 0..m {
                c[i * m + j] += aik * b[k * m + j];
            }
        }
    }
    c
}

/// A^n with a decimal exponent kept aside, so that the entries neither overflow nor underflow.
fn matrix_power(a: &[f64], exponent: i32, m: usize, n: usize) -> (Vec<f64>, i32) {
    if n == 1 {
        return (a.to_vec(), exponent);
    }
    let (half, e) = matrix_power(a, exponent, m, n / 2);
    let mut b = matrix_multiply(&half, &half, m);
    let mut eb = 2 * e;
    if n % 2 == 1 {
        b = matrix_multiply(a, &b, m);
        eb += exponent;
    }
    if b[(m / 2) * m + m / 2] > 1e140 {
        for v in &mut b {
            *v *= 1e-140;
        }
        eb += 140;
    }
    (b, eb)
}
