//! Transaction logs with known parameters, as `bench/gen_transactions.py` makes them, with
//! customers arriving all along (a business that keeps acquiring) and an optional change of
//! regime: from a given week, every customer drops out more easily (Beta(a, b) → Beta(a, b ×
//! `dropout_b_factor`)) and spends more (Gamma-Gamma's v × `spend_v_factor`).
//!
//! BG/NBD: purchase rate λ ~ Gamma(r, rate α) per week; after each repeat purchase the customer
//! drops out with probability p ~ Beta(a, b). Spend per purchase ~ Gamma(p_gg, rate ν), ν ~
//! Gamma(q, rate v). Defaults are the CDNOW estimates.

use rand::{Rng, SeedableRng};
use rand_distr::{Beta, Distribution, Exp, Gamma};

pub struct Process {
    pub customers: usize,
    /// Weeks over which customers arrive (uniformly), and the log's length in weeks.
    pub arrival_weeks: f64,
    pub weeks: f64,
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
    pub p: f64,
    pub q: f64,
    pub v: f64,
    /// The week the regime changes, and how.
    pub shift_week: Option<f64>,
    pub dropout_b_factor: f64,
    pub spend_v_factor: f64,
    pub seed: u64,
}

impl Default for Process {
    fn default() -> Process {
        Process {
            customers: 4_000,
            arrival_weeks: 156.0,
            weeks: 156.0,
            r: 0.243,
            alpha: 4.414,
            a: 0.793,
            b: 2.426,
            p: 6.25,
            q: 3.74,
            v: 15.44,
            shift_week: None,
            dropout_b_factor: 1.0,
            spend_v_factor: 1.0,
            seed: 7,
        }
    }
}

/// One transaction: customer, day (days since the log's first day), amount.
pub type Transaction = (usize, i32, f64);

impl Process {
    /// Every transaction, by customer then time.
    pub fn simulate(&self) -> Vec<Transaction> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(self.seed);
        let rate = Gamma::new(self.r, 1.0 / self.alpha).unwrap();
        let dropout = Beta::new(self.a, self.b).unwrap();
        let dropout_after = Beta::new(self.a, self.b * self.dropout_b_factor).unwrap();
        let nu = Gamma::new(self.q, 1.0 / self.v).unwrap();
        let nu_after = Gamma::new(self.q, 1.0 / (self.v * self.spend_v_factor)).unwrap();
        let shift = self.shift_week.unwrap_or(f64::INFINITY);
        let mut out = Vec::new();
        for customer in 0..self.customers {
            let lambda: f64 = rate.sample(&mut rng).max(1e-9);
            let (p_before, p_after) = (dropout.sample(&mut rng), dropout_after.sample(&mut rng));
            let (nu_before, nu_shifted) = (nu.sample(&mut rng), nu_after.sample(&mut rng));
            let spend = |rng: &mut rand::rngs::StdRng, t: f64| -> f64 {
                let nu = if t >= shift { nu_shifted } else { nu_before };
                let z: f64 = Gamma::new(self.p, 1.0 / nu).unwrap().sample(rng);
                (z * 100.0).round() / 100.0
            };
            let wait = Exp::new(lambda).unwrap();
            let mut t = rng.random::<f64>() * self.arrival_weeks;
            let first = spend(&mut rng, t);
            out.push((customer, (t * 7.0).floor() as i32, first));
            loop {
                let next = t + wait.sample(&mut rng);
                if next >= self.weeks {
                    break;
                }
                let amount = spend(&mut rng, next);
                out.push((customer, (next * 7.0).floor() as i32, amount));
                // Dropout after each repeat purchase, by the regime of its time.
                let p = if next >= shift { p_after } else { p_before };
                if rng.random::<f64>() < p {
                    break;
                }
                t = next;
            }
        }
        out
    }
}

/// The log as CSV (`customer_id,date,amount`, days from 2020-01-01) up to `last_day` (days
/// from the log's start).
pub fn write_csv(path: &std::path::Path, log: &[Transaction], last_day: i32) {
    use std::io::Write;
    let start = retain_data::dates::days_from_civil(2020, 1, 1);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "customer_id,date,amount").unwrap();
    for &(c, day, amount) in log.iter().filter(|t| t.1 <= last_day) {
        let date = retain_data::dates::format_day(start + day);
        writeln!(out, "C{c:06},{date},{amount:.2}").unwrap();
    }
    out.flush().unwrap();
}

/// The date of a day of the simulated log (days from 2020-01-01), YYYY-MM-DD.
pub fn date_of(day: i32) -> String {
    retain_data::dates::format_day(retain_data::dates::days_from_civil(2020, 1, 1) + day)
}
