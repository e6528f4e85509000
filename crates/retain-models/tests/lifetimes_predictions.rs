//! Every purchase model's predictions equal lifetimes' at fixed parameters: P(alive), expected
//! purchases given a history, expected purchases of a new customer and, where lifetimes has it,
//! P(n purchases). Reference: fixtures/predictions_lifetimes.csv (how: its script).

use retain_models::btyd::{BgBb, BgNbd, MbgNbd, ParetoNbd, PurchaseModel};

#[test]
fn predictions_equal_lifetimes() {
    let bgnbd = BgNbd {
        r: 0.2425929,
        alpha: 4.4135316,
        a: 0.7928862,
        b: 2.4257535,
    };
    let pareto = ParetoNbd {
        r: 0.5532771,
        alpha: 10.5776853,
        s: 0.6062417,
        beta: 11.6687908,
    };
    let mbgnbd = MbgNbd {
        r: 0.5248377,
        alpha: 6.1829885,
        a: 0.8913563,
        b: 1.6140000,
    };
    let bgbb = BgBb {
        alpha: 1.2035224,
        beta: 0.7497164,
        gamma: 0.6567182,
        delta: 2.7834420,
    };
    // lifetimes evaluates in f64 with scipy's hyp2f1 and (Pareto/NBD) a difference of two of
    // them: 1e-8 relative covers its rounding; ours is tested tighter against mpmath.
    let close = |ours: f64, theirs: f64| (ours - theirs).abs() <= 1e-8 * theirs.abs().max(1e-6);
    let mut checked = [0; 4];
    for line in include_str!("../fixtures/predictions_lifetimes.csv")
        .lines()
        .skip(1)
    {
        let f: Vec<&str> = line.split(',').collect();
        let v: Vec<f64> = f[1..].iter().map(|s| s.parse().unwrap()).collect();
        let (model, slot): (&dyn PurchaseModel, usize) = match f[0] {
            "bgnbd" => (&bgnbd, 0),
            "pareto-nbd" => (&pareto, 1),
            "mbgnbd" => (&mbgnbd, 2),
            "bgbb" => (&bgbb, 3),
            other => panic!("unknown model {other}"),
        };
        let (t, x, tx, big_t) = (v[0], v[1], v[2], v[3]);
        let at = format!("{} t {t} x {x} t_x {tx} T {big_t}", f[0]);
        let e = model.expected_purchases(t, x, tx, big_t).unwrap();
        assert!(close(e, v[4]), "{at}: expected {e}, lifetimes {}", v[4]);
        let p = model.p_alive(x, tx, big_t);
        assert!(close(p, v[5]), "{at}: P(alive) {p}, lifetimes {}", v[5]);
        let new = model.expected_purchases_new(t).unwrap();
        assert!(close(new, v[6]), "{at}: new {new}, lifetimes {}", v[6]);
        if !v[7].is_nan() {
            let pn = model.probability_of_purchases(x as u32, t);
            assert!(close(pn, v[7]), "{at}: P(n) {pn}, lifetimes {}", v[7]);
        }
        checked[slot] += 1;
    }
    assert_eq!(checked, [32, 32, 32, 24]);
}
