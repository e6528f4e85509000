//! Parameter recovery: customers simulated from known parameters (seeded), fitted, and every
//! parameter within 3 standard errors of the truth. With 50,000 customers a biased likelihood,
//! gradient or standard error shows up here.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Beta, Distribution, Exp, Gamma};
use retain_models::btyd::gamma_gamma::SpendData;
use retain_models::btyd::{BgBb, BgNbd, FitOptions, GammaGamma, MbgNbd, Named, ParetoNbd, RfmData};

const CUSTOMERS: usize = 50_000;

fn assert_recovered<P: Named>(truth: &P, fit: &P, se: &P) {
    // Shown with --nocapture: the fitted values next to the truth.
    eprintln!(
        "truth {:?}\nfit   {:?}\nse    {:?}",
        truth.named(),
        fit.named(),
        se.named()
    );
    for ((name, want), ((_, got), (_, err))) in truth
        .named()
        .into_iter()
        .zip(fit.named().into_iter().zip(se.named()))
    {
        assert!(
            (got - want).abs() <= 3.0 * err,
            "{name}: fitted {got:.4}, true {want}, standard error {err:.4} ({:.1} SE away)",
            (got - want).abs() / err
        );
    }
}

/// The BG/NBD process in continuous time: purchases at rate λ ~ Gamma(r, α) from a first
/// purchase at 0; after each repeat purchase, dropout with probability p ~ Beta(a, b); with
/// `at_start` (MBG/NBD) also right after the first purchase.
fn simulate_bgnbd(truth: BgNbd, at_start: bool, seed: u64) -> RfmData {
    let mut rng = StdRng::seed_from_u64(seed);
    let rate = Gamma::new(truth.r, 1.0 / truth.alpha).unwrap();
    let dropout = Beta::new(truth.a, truth.b).unwrap();
    let (mut f, mut r, mut t) = (vec![], vec![], vec![]);
    for _ in 0..CUSTOMERS {
        let lambda: f64 = rate.sample(&mut rng).max(1e-12);
        let p: f64 = dropout.sample(&mut rng);
        let big_t = rng.random_range(26.0..52.0);
        if at_start && rng.random::<f64>() < p {
            f.push(0.0);
            r.push(0.0);
            t.push(big_t);
            continue;
        }
        // Observation windows of 26 to 52 weeks, as with a quarter of staggered acquisition.
        let gap = Exp::new(lambda).unwrap();
        let (mut now, mut x, mut last) = (0.0, 0.0, 0.0);
        loop {
            now += gap.sample(&mut rng);
            if now > big_t {
                break;
            }
            x += 1.0;
            last = now;
            if rng.random::<f64>() < p {
                break;
            }
        }
        f.push(x);
        r.push(last);
        t.push(big_t);
    }
    RfmData::new(&f, &r, &t, None).unwrap()
}

#[test]
fn bgnbd_recovers_known_parameters() {
    for (truth, seed) in [
        (
            BgNbd {
                r: 0.243,
                alpha: 4.414,
                a: 0.793,
                b: 2.426,
            },
            7,
        ),
        (
            BgNbd {
                r: 1.5,
                alpha: 10.0,
                a: 2.0,
                b: 6.0,
            },
            11,
        ),
    ] {
        let data = simulate_bgnbd(truth, false, seed);
        let fit = BgNbd::fit(&data, &FitOptions::default()).unwrap();
        assert_recovered(&truth, &fit.params, &fit.std_errors.unwrap());
    }
}

#[test]
fn a_fit_started_on_a_sample_ends_where_a_plain_fit_does() {
    // 50,000 customers with continuous T: ~50,000 distinct rows, so the default fit takes its
    // first steps on a sample and polishes on the whole; a given start skips the sample.
    let truth = BgNbd {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    };
    let data = simulate_bgnbd(truth, false, 3);
    assert!(data.len() > 40_000, "{} distinct rows", data.len());
    let sampled = BgNbd::fit(&data, &FitOptions::default()).unwrap();
    let plain = BgNbd::fit(
        &data,
        &FitOptions {
            start: Some(vec![1.0; 4]),
            ..FitOptions::default()
        },
    )
    .unwrap();
    // Both stop within the gradient tolerance of the same maximum: parameters to well under a
    // thousandth of a standard error, log-likelihoods to 1e-6.
    let se = sampled.std_errors.unwrap();
    for ((name, a), ((_, b), (_, e))) in sampled
        .params
        .named()
        .into_iter()
        .zip(plain.params.named().into_iter().zip(se.named()))
    {
        assert!((a - b).abs() < 1e-3 * e, "{name}: {a} vs {b} (SE {e})");
    }
    assert!((sampled.log_likelihood - plain.log_likelihood).abs() < 1e-6);
}

#[test]
fn mbgnbd_recovers_known_parameters() {
    let truth = MbgNbd {
        r: 0.525,
        alpha: 6.18,
        a: 0.891,
        b: 1.614,
    };
    let as_bgnbd = BgNbd {
        r: truth.r,
        alpha: truth.alpha,
        a: truth.a,
        b: truth.b,
    };
    let data = simulate_bgnbd(as_bgnbd, true, 5);
    let fit = MbgNbd::fit(&data, &FitOptions::default()).unwrap();
    assert_recovered(&truth, &fit.params, &fit.std_errors.unwrap());
}

/// The Pareto/NBD process: purchases at rate λ ~ Gamma(r, α) while alive, lifetime
/// exponential at rate μ ~ Gamma(s, β), from a first purchase at 0.
fn simulate_pareto_nbd(truth: ParetoNbd, seed: u64) -> RfmData {
    let mut rng = StdRng::seed_from_u64(seed);
    let rate = Gamma::new(truth.r, 1.0 / truth.alpha).unwrap();
    let death = Gamma::new(truth.s, 1.0 / truth.beta).unwrap();
    let (mut f, mut r, mut t) = (vec![], vec![], vec![]);
    for _ in 0..CUSTOMERS {
        let lambda: f64 = rate.sample(&mut rng).max(1e-12);
        let mu: f64 = death.sample(&mut rng).max(1e-12);
        let big_t: f64 = rng.random_range(26.0..52.0);
        let lifetime: f64 = Exp::new(mu).unwrap().sample(&mut rng);
        let end = lifetime.min(big_t);
        let gap = Exp::new(lambda).unwrap();
        let (mut now, mut x, mut last) = (0.0, 0.0, 0.0);
        loop {
            now += gap.sample(&mut rng);
            if now > end {
                break;
            }
            x += 1.0;
            last = now;
        }
        f.push(x);
        r.push(last);
        t.push(big_t);
    }
    RfmData::new(&f, &r, &t, None).unwrap()
}

#[test]
fn pareto_nbd_recovers_known_parameters() {
    for (truth, seed) in [
        (
            ParetoNbd {
                r: 0.55,
                alpha: 10.58,
                s: 0.61,
                beta: 11.66,
            },
            13,
        ),
        (
            ParetoNbd {
                r: 2.0,
                alpha: 8.0,
                s: 1.5,
                beta: 60.0,
            },
            17,
        ),
    ] {
        let data = simulate_pareto_nbd(truth, seed);
        let fit = ParetoNbd::fit(&data, &FitOptions::default()).unwrap();
        assert_recovered(&truth, &fit.params, &fit.std_errors.unwrap());
    }
}

#[test]
fn bgbb_recovers_known_parameters() {
    let truth = BgBb {
        alpha: 1.204,
        beta: 0.750,
        gamma: 0.657,
        delta: 2.783,
    };
    let mut rng = StdRng::seed_from_u64(19);
    let buy = Beta::new(truth.alpha, truth.beta).unwrap();
    let drop = Beta::new(truth.gamma, truth.delta).unwrap();
    let (mut f, mut r, mut n) = (vec![], vec![], vec![]);
    for _ in 0..CUSTOMERS {
        let (p, theta): (f64, f64) = (buy.sample(&mut rng), drop.sample(&mut rng));
        // Cohorts observed for 6 or 10 opportunities.
        let periods = if rng.random::<bool>() { 6 } else { 10 };
        let (mut x, mut last) = (0.0, 0.0);
        for opportunity in 1..=periods {
            // Dropout happens before the opportunity.
            if rng.random::<f64>() < theta {
                break;
            }
            if rng.random::<f64>() < p {
                x += 1.0;
                last = f64::from(opportunity);
            }
        }
        f.push(x);
        r.push(last);
        n.push(f64::from(periods));
    }
    let data = RfmData::new(&f, &r, &n, None).unwrap();
    let fit = BgBb::fit(&data, &FitOptions::default()).unwrap();
    assert_recovered(&truth, &fit.params, &fit.std_errors.unwrap());
}

#[test]
fn gamma_gamma_recovers_known_parameters() {
    let truth = GammaGamma {
        p: 6.25,
        q: 3.74,
        v: 15.44,
    };
    let mut rng = StdRng::seed_from_u64(3);
    let nu_dist = Gamma::new(truth.q, 1.0 / truth.v).unwrap();
    let (mut x, mut m) = (vec![], vec![]);
    for _ in 0..CUSTOMERS {
        let nu: f64 = nu_dist.sample(&mut rng);
        let spend = Gamma::new(truth.p, 1.0 / nu).unwrap();
        let n = rng.random_range(1..=8);
        let total: f64 = (0..n).map(|_| spend.sample(&mut rng)).sum();
        x.push(n as f64);
        m.push(total / n as f64);
    }
    let data = SpendData::from_repeat_customers(&x, &m, None).unwrap();
    let fit = GammaGamma::fit(&data, &FitOptions::default()).unwrap();
    assert_recovered(&truth, &fit.params, &fit.std_errors.unwrap());
}
