//! Customer lifetime value as lifetimes defines it (`customer_lifetime_value`): month by month,
//! the purchases BG/NBD expects in that month times the spend Gamma-Gamma expects per purchase,
//! discounted at a monthly rate, summed over the horizon.

use super::{BgNbd, GammaGamma, ModelError};

/// How far ahead and how to discount.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClvOptions {
    pub months: u32,
    /// Monthly discount rate (0.01 = 1% a month).
    pub monthly_discount: f64,
    /// Model time units in a month: 4.345 for weeks, 30 for days, 1 for months (lifetimes'
    /// factors).
    pub units_per_month: f64,
}

/// The CLV of a customer with x repeat purchases (the last at t_x, observed for T) of mean
/// value m.
pub fn lifetime_value(
    purchases: &BgNbd,
    spend: &GammaGamma,
    (x, t_x, big_t, m): (f64, f64, f64, f64),
    options: &ClvOptions,
) -> Result<f64, ModelError> {
    let value = spend.expected_spend(x, m);
    let (mut clv, mut before) = (0.0, 0.0);
    for month in 1..=options.months {
        let cumulative = purchases.expected_purchases(
            f64::from(month) * options.units_per_month,
            x,
            t_x,
            big_t,
        )?;
        clv += value * (cumulative - before) / (1.0 + options.monthly_discount).powi(month as i32);
        before = cumulative;
    }
    Ok(clv)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            units_per_month: 4.345,
        };
        let quarter = ClvOptions {
            months: 3,
            monthly_discount: 0.0,
            units_per_month: 4.345,
        };
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
        let mut n = 0;
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
            n += 1;
        }
        assert_eq!(n, 7);
    }
}
