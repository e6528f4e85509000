//! Parameter recovery: customers simulated from known parameters (seeded), fitted, and every
//! parameter within 3 standard errors of the truth. With 50,000 customers a biased likelihood,
//! gradient or standard error shows up here.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Beta, Distribution, Exp, Gamma};
use retain_models::btyd::gamma_gamma::SpendData;
use retain_models::btyd::{BgNbd, FitOptions, GammaGamma, Named, RfmData};

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
/// purchase at 0; after each repeat purchase, dropout with probability p ~ Beta(a, b).
fn simulate_bgnbd(truth: BgNbd, seed: u64) -> RfmData {
    let mut rng = StdRng::seed_from_u64(seed);
    let rate = Gamma::new(truth.r, 1.0 / truth.alpha).unwrap();
    let dropout = Beta::new(truth.a, truth.b).unwrap();
    let (mut f, mut r, mut t) = (vec![], vec![], vec![]);
    for _ in 0..CUSTOMERS {
        let lambda: f64 = rate.sample(&mut rng).max(1e-12);
        let p: f64 = dropout.sample(&mut rng);
        // Observation windows of 26 to 52 weeks, as with a quarter of staggered acquisition.
        let big_t = rng.random_range(26.0..52.0);
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
        let data = simulate_bgnbd(truth, seed);
        let fit = BgNbd::fit(&data, &FitOptions::default()).unwrap();
        assert_recovered(&truth, &fit.params, &fit.std_errors.unwrap());
    }
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
