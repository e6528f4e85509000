//! Customer lifetime value as lifetimes defines it (`customer_lifetime_value`): month by month,
//! the purchases a purchase model (BG/NBD, Pareto/NBD, MBG/NBD) expects in that month times the spend Gamma-Gamma expects per purchase,
//! discounted at a monthly rate, summed over the horizon. The spend per purchase does not
//! change over the months, so CLV = expected spend × discounted expected purchases, and the
//! second factor depends on the purchase history alone.

use super::{FastMap, GammaGamma, PurchaseModel};
use crate::ModelError;

/// Weeks in a month: lifetimes' value for a CLV on weekly data (`_customer_lifetime_value` in
/// `lifetimes/utils.py`, behind `GammaGammaFitter.customer_lifetime_value(..., freq="W")`:
/// `factor = {"W": 4.345, "M": 1.0, "D": 30, "H": 30 * 24}[freq]`). That is 365/12/7 = 4.3452
/// to three decimals, a month of a 365-day year; not 365.25/12/7 = 4.3482, the average
/// Gregorian month of `retain_data::TimeUnit::Months`. Kept as lifetimes has it, so that CLVs
/// compare one to one.
pub const WEEKS_PER_MONTH: f64 = 4.345;

/// How far ahead and how to discount.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClvOptions {
    pub months: u32,
    /// Monthly discount rate (0.01 = 1% a month).
    pub monthly_discount: f64,
    /// Model time units in a month: [`WEEKS_PER_MONTH`] for weeks, 30 for days, 1 for months
    /// (lifetimes' factors).
    pub units_per_month: f64,
}

/// Σ over months of the purchases expected in the month, discounted to today.
pub fn discounted_purchases(
    purchases: &dyn PurchaseModel,
    (x, t_x, big_t): (f64, f64, f64),
    options: &ClvOptions,
) -> Result<f64, ModelError> {
    let ends = month_ends(options);
    let cumulative = purchases.expected_purchases_at(&ends, x, t_x, big_t)?;
    Ok(discount(&cumulative, options))
}

/// The ends of the months, in model time units.
fn month_ends(options: &ClvOptions) -> Vec<f64> {
    (1..=options.months)
        .map(|month| f64::from(month) * options.units_per_month)
        .collect()
}

/// Σ over months of the month's purchases (differences of the cumulative expectations at the
/// month ends) discounted to today.
fn discount(cumulative: &[f64], options: &ClvOptions) -> f64 {
    let (mut total, mut before, mut factor) = (0.0, 0.0, 1.0);
    for c in cumulative {
        factor /= 1.0 + options.monthly_discount;
        total += (c - before) * factor;
        before = *c;
    }
    total
}

/// The CLV of a customer with x repeat purchases (the last at t_x, observed for T) of mean
/// value m.
pub fn lifetime_value(
    purchases: &dyn PurchaseModel,
    spend: &GammaGamma,
    (x, t_x, big_t, m): (f64, f64, f64, f64),
    options: &ClvOptions,
) -> Result<f64, ModelError> {
    Ok(spend.expected_spend(x, m) * discounted_purchases(purchases, (x, t_x, big_t), options)?)
}

/// Per-customer scores of a fitted purchase model (and, for CLV, Gamma-Gamma).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scores {
    pub p_alive: Vec<f64>,
    /// Expected purchases over the horizon.
    pub expected_purchases: Vec<f64>,
    /// Expected spend per purchase and CLV, when a spend model and monetary values are given.
    pub expected_spend: Option<Vec<f64>>,
    pub clv: Option<Vec<f64>>,
}

/// Scores every customer. Customers with the same (frequency, recency, T) share their purchase
/// scores, which are computed once per distinct history (a 1M-customer summary has ~100k).
pub fn score_customers(
    purchases: &dyn PurchaseModel,
    (frequency, recency, t): (&[f64], &[f64], &[f64]),
    horizon: f64,
    value: Option<(&GammaGamma, &[f64], &ClvOptions)>,
) -> Result<Scores, ModelError> {
    let n = frequency.len();
    let mut slot_of: FastMap<(u64, u64, u64), usize> = FastMap::default();
    let mut distinct: Vec<(f64, f64, f64)> = Vec::new();
    let slots: Vec<usize> = (0..n)
        .map(|i| {
            let key = (frequency[i].to_bits(), recency[i].to_bits(), t[i].to_bits());
            *slot_of.entry(key).or_insert_with(|| {
                distinct.push((frequency[i], recency[i], t[i]));
                distinct.len() - 1
            })
        })
        .collect();
    // Each distinct history's (P(alive), expected purchases, discounted purchases), split
    // across cores. The horizon, then the month ends: one batch of expectations per history
    // (BG/NBD and MBG/NBD share their series between histories with the same x and T).
    let mut times = vec![horizon];
    if let Some((_, _, options)) = value {
        times.extend(month_ends(options));
    }
    let score = |part: &[(f64, f64, f64)]| -> Result<Vec<(f64, f64, f64)>, ModelError> {
        let expected = purchases.expected_purchases_many(&times, part)?;
        Ok(part
            .iter()
            .zip(expected.chunks(times.len()))
            .map(|(&(x, tx, big_t), expected)| {
                let discounted = match value {
                    Some((_, _, options)) => discount(&expected[1..], options),
                    None => 0.0,
                };
                (purchases.p_alive(x, tx, big_t), expected[0], discounted)
            })
            .collect())
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(distinct.len() / 2_000)
        .max(1);
    let chunk = distinct.len().div_ceil(threads).max(1);
    let per_history: Vec<(f64, f64, f64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = distinct
            .chunks(chunk)
            .map(|part| scope.spawn(move || score(part)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("scoring thread"))
            .collect::<Result<Vec<_>, _>>()
    })?
    .into_iter()
    .flatten()
    .collect();
    let alive: Vec<f64> = per_history.iter().map(|s| s.0).collect();
    let expected: Vec<f64> = per_history.iter().map(|s| s.1).collect();
    let discounted: Vec<f64> = per_history.iter().map(|s| s.2).collect();
    let mut scores = Scores {
        p_alive: slots.iter().map(|&s| alive[s]).collect(),
        expected_purchases: slots.iter().map(|&s| expected[s]).collect(),
        ..Default::default()
    };
    if let Some((spend, monetary, _)) = value {
        let per_purchase: Vec<f64> = (0..n)
            .map(|i| spend.expected_spend(frequency[i], monetary[i]))
            .collect();
        scores.clv = Some(
            slots
                .iter()
                .zip(&per_purchase)
                .map(|(&s, v)| v * discounted[s])
                .collect(),
        );
        scores.expected_spend = Some(per_purchase);
    }
    Ok(scores)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btyd::BgNbd;

    #[test]
    fn many_histories_equal_one_at_a_time() {
        // The shared-series path (BG/NBD, MBG/NBD) against the per-history one, with
        // repeated (x, T) pairs and distinct t_x; a = 1 takes the per-history fallback.
        let histories = [
            (0.0, 0.0, 38.0),
            (2.0, 10.0, 38.0),
            (2.0, 30.0, 38.0),
            (2.0, 30.0, 20.0),
            (7.0, 37.5, 38.0),
            (0.0, 0.0, 38.0),
        ];
        let ts = [39.0, WEEKS_PER_MONTH, 2.0 * WEEKS_PER_MONTH, 0.0];
        let models: Vec<Box<dyn PurchaseModel>> = vec![
            Box::new(BgNbd {
                r: 0.24,
                alpha: 4.4,
                a: 0.79,
                b: 2.4,
            }),
            Box::new(BgNbd {
                r: 0.24,
                alpha: 4.4,
                a: 1.0,
                b: 2.4,
            }),
            Box::new(crate::btyd::MbgNbd {
                r: 0.5,
                alpha: 6.0,
                a: 1.4,
                b: 3.0,
            }),
            Box::new(crate::btyd::ParetoNbd {
                r: 0.55,
                alpha: 10.6,
                s: 0.61,
                beta: 11.7,
            }),
        ];
        for model in &models {
            let many = model.expected_purchases_many(&ts, &histories).unwrap();
            assert_eq!(many.len(), ts.len() * histories.len());
            for (k, &(x, t_x, big_t)) in histories.iter().enumerate() {
                let one = model.expected_purchases_at(&ts, x, t_x, big_t).unwrap();
                for (a, b) in many[k * ts.len()..].iter().zip(&one) {
                    assert!(
                        (a - b).abs() <= 1e-14 * b.abs().max(1.0),
                        "{a} vs {b} at {k}"
                    );
                }
            }
        }
    }

    #[test]
    fn equals_lifetimes() {
        // fixtures/clv_lifetimes.csv: lifetimes 0.11.3 at the CDNOW estimates (how: its script).
        let bg = BgNbd {
            r: 0.2425929,
            alpha: 4.4135316,
            a: 0.7928862,
            b: 2.4257535,
        };
        let gg = GammaGamma {
            p: 6.2495720,
            q: 3.7442247,
            v: 15.4435219,
        };
        let year = ClvOptions {
            months: 12,
            monthly_discount: 0.01,
            units_per_month: WEEKS_PER_MONTH,
        };
        let quarter = ClvOptions {
            months: 3,
            monthly_discount: 0.0,
            units_per_month: WEEKS_PER_MONTH,
        };
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
        let (mut f, mut r, mut t, mut m, mut want) = (vec![], vec![], vec![], vec![], vec![]);
        for line in include_str!("../../fixtures/clv_lifetimes.csv")
            .lines()
            .skip(1)
        {
            let v: Vec<f64> = line.split(',').map(|s| s.parse().unwrap()).collect();
            let row = (v[0], v[1], v[2], v[3]);
            assert!(close(gg.expected_spend(v[0], v[3]), v[4]), "spend {line}");
            assert!(
                close(lifetime_value(&bg, &gg, row, &year).unwrap(), v[5]),
                "12 months {line}"
            );
            assert!(
                close(lifetime_value(&bg, &gg, row, &quarter).unwrap(), v[6]),
                "3 months {line}"
            );
            // Twice each, so that scoring shares the distinct histories.
            for _ in 0..2 {
                f.push(v[0]);
                r.push(v[1]);
                t.push(v[2]);
                m.push(v[3]);
                want.push(v[5]);
            }
        }
        assert_eq!(want.len(), 14);
        let scores = score_customers(&bg, (&f, &r, &t), 39.0, Some((&gg, &m, &year))).unwrap();
        for (i, w) in want.iter().enumerate() {
            assert!(
                close(scores.clv.as_ref().unwrap()[i], *w),
                "scored CLV of row {i}"
            );
            let e = bg.expected_purchases(39.0, f[i], r[i], t[i]).unwrap();
            // Scoring sums the series for every time at once: equal up to rounding.
            assert!((scores.expected_purchases[i] - e).abs() <= 1e-14 * e);
            assert_eq!(scores.p_alive[i], bg.p_alive(f[i], r[i], t[i]));
        }
    }
}
