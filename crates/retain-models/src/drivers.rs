//! What separates customers who churned from those who stayed: for each attribute, the churn
//! rate of each of its values (numbers binned at quantiles) with a Wilson confidence interval,
//! the weight of evidence of each value, and the attribute's information value, by which the
//! attributes are ranked.
//!
//! Conventions (credit scoring's, with "good" = retained and "bad" = churned):
//! WoE = ln(share of the retained in the bin / share of the churned in the bin);
//! IV = Σ (share retained − share churned) · WoE. A bin without retained or without churned
//! customers gets 0.5 added to both counts, so that its WoE stays finite. Missing values form
//! their own bin. Rules of thumb: IV < 0.02 useless, 0.02–0.1 weak, 0.1–0.3 medium, > 0.3
//! strong.

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal};

use crate::ModelError;

/// An attribute's values, one per customer.
#[derive(Debug, Clone, Copy)]
pub enum Values<'a> {
    Categorical(&'a [Option<String>]),
    Numeric(&'a [Option<f64>]),
}

/// One value (or range of values) of an attribute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bin {
    pub label: String,
    pub customers: u64,
    pub churned: u64,
    pub churn_rate: f64,
    /// Wilson interval of the churn rate.
    pub lower: f64,
    pub upper: f64,
    pub woe: f64,
    /// The bin's share of the information value.
    pub iv: f64,
}

/// An attribute's bins and information value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Driver {
    pub attribute: String,
    pub numeric: bool,
    pub information_value: f64,
    pub bins: Vec<Bin>,
}

/// The drivers of churn, strongest (highest information value) first. `bins` is the number of
/// quantile bins of a numeric attribute (one per value when it has no more distinct values).
pub fn churn_drivers(
    attributes: &[(String, Values)],
    churned: &[bool],
    bins: usize,
    confidence: f64,
) -> Result<Vec<Driver>, ModelError> {
    if churned.is_empty() {
        return Err(ModelError::InvalidData("no customers".into()));
    }
    if bins < 2 {
        return Err(ModelError::InvalidData(format!(
            "numeric attributes need at least 2 bins, found {bins}"
        )));
    }
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(ModelError::InvalidData(format!(
            "the confidence level must be between 0 and 1, found {confidence}"
        )));
    }
    let z = Normal::standard().inverse_cdf(0.5 + confidence / 2.0);
    let total_bad = churned.iter().filter(|&&c| c).count() as f64;
    let total_good = churned.len() as f64 - total_bad;
    if total_bad == 0.0 || total_good == 0.0 {
        return Err(ModelError::InvalidData(
            "every customer has the same churn flag: nothing separates churned from retained"
                .into(),
        ));
    }
    let mut drivers = Vec::with_capacity(attributes.len());
    for (name, values) in attributes {
        let (labels, bin_of) = match values {
            Values::Categorical(v) => categorical_bins(v),
            Values::Numeric(v) => numeric_bins(v, bins),
        };
        if bin_of.len() != churned.len() {
            return Err(ModelError::InvalidData(format!(
                "attribute {name} has {} values for {} customers",
                bin_of.len(),
                churned.len()
            )));
        }
        let mut counts = vec![(0u64, 0u64); labels.len()];
        for (&b, &c) in bin_of.iter().zip(churned) {
            counts[b].0 += 1;
            counts[b].1 += u64::from(c);
        }
        let mut out = Vec::with_capacity(labels.len());
        for (label, (n, bad)) in labels.into_iter().zip(counts) {
            if n == 0 {
                continue;
            }
            let good = (n - bad) as f64;
            let (g, b) = if good == 0.0 || bad == 0 {
                (good + 0.5, bad as f64 + 0.5)
            } else {
                (good, bad as f64)
            };
            let (share_good, share_bad) = (g / total_good, b / total_bad);
            let woe = (share_good / share_bad).ln();
            let rate = bad as f64 / n as f64;
            let (lower, upper) = wilson(rate, n as f64, z);
            out.push(Bin {
                label,
                customers: n,
                churned: bad,
                churn_rate: rate,
                lower,
                upper,
                woe,
                iv: (share_good - share_bad) * woe,
            });
        }
        drivers.push(Driver {
            attribute: name.clone(),
            numeric: matches!(values, Values::Numeric(_)),
            information_value: out.iter().map(|b| b.iv).sum(),
            bins: out,
        });
    }
    drivers.sort_by(|a, b| b.information_value.total_cmp(&a.information_value));
    Ok(drivers)
}

/// The Wilson score interval of a proportion `p` of `n`.
fn wilson(p: f64, n: f64, z: f64) -> (f64, f64) {
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

const MISSING: &str = "(missing)";

/// One bin per distinct value, in sorted order, missing last.
fn categorical_bins(values: &[Option<String>]) -> (Vec<String>, Vec<usize>) {
    let mut labels: Vec<String> = values.iter().flatten().cloned().collect();
    labels.sort();
    labels.dedup();
    let missing = labels.len();
    let bin_of = values
        .iter()
        .map(|v| match v {
            Some(v) => labels.binary_search(v).expect("listed"),
            None => missing,
        })
        .collect();
    labels.push(MISSING.into());
    (labels, bin_of)
}

/// Up to `bins` bins at quantiles of the present values (one per value when there are no
/// more distinct values than bins), missing last.
fn numeric_bins(values: &[Option<f64>], bins: usize) -> (Vec<String>, Vec<usize>) {
    let mut present: Vec<f64> = values.iter().flatten().copied().collect();
    present.sort_by(f64::total_cmp);
    let mut distinct = present.clone();
    distinct.dedup();
    let show = |v: f64| {
        if v.fract() == 0.0 {
            format!("{v}")
        } else {
            format!("{v:.2}")
        }
    };
    // Upper edges: bin i holds (edges[i-1], edges[i]].
    let (edges, mut labels): (Vec<f64>, Vec<String>) = if distinct.len() <= bins {
        (
            distinct.clone(),
            distinct.iter().map(|&v| show(v)).collect(),
        )
    } else {
        let mut edges: Vec<f64> = (1..bins)
            .map(|k| present[(k * present.len()).div_ceil(bins) - 1])
            .collect();
        edges.push(*present.last().expect("more values than bins"));
        edges.dedup();
        let labels = edges
            .iter()
            .enumerate()
            .map(|(i, &e)| match i {
                0 => format!("<= {}", show(e)),
                _ if i + 1 == edges.len() => format!("> {}", show(edges[i - 1])),
                _ => format!("{} - {}", show(edges[i - 1]), show(e)),
            })
            .collect();
        (edges, labels)
    };
    let missing = edges.len();
    let bin_of = values
        .iter()
        .map(|v| match v {
            Some(v) => edges.partition_point(|&e| e < *v).min(missing - 1),
            None => missing,
        })
        .collect();
    labels.push(MISSING.into());
    (labels, bin_of)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn information_value_by_hand() {
        // Plan A: 4 customers, 3 churned; plan B: 6 customers, 1 churned. 4 churned, 6 kept.
        let plan: Vec<Option<String>> = ["A", "A", "A", "A", "B", "B", "B", "B", "B", "B"]
            .iter()
            .map(|s| Some(s.to_string()))
            .collect();
        let churned = [
            true, true, true, false, true, false, false, false, false, false,
        ];
        let d = churn_drivers(
            &[("plan".into(), Values::Categorical(&plan))],
            &churned,
            5,
            0.95,
        )
        .unwrap();
        let a = &d[0].bins[0];
        assert_eq!((a.label.as_str(), a.customers, a.churned), ("A", 4, 3));
        let woe_a = ((1.0f64 / 6.0) / (3.0 / 4.0)).ln();
        let woe_b = ((5.0f64 / 6.0) / (1.0 / 4.0)).ln();
        assert!((a.woe - woe_a).abs() < 1e-12);
        let iv = (1.0 / 6.0 - 0.75) * woe_a + (5.0 / 6.0 - 0.25) * woe_b;
        assert!((d[0].information_value - iv).abs() < 1e-12);
        // Wilson interval of 3/4 at 95%: 0.301 .. 0.954 (textbook value).
        assert!((a.lower - 0.3006).abs() < 1e-3 && (a.upper - 0.9544).abs() < 1e-3);
    }

    #[test]
    fn numeric_attributes_are_binned_at_quantiles_with_missing_apart() {
        let values: Vec<Option<f64>> = (1..=10)
            .map(|v| Some(f64::from(v)))
            .chain([None, None])
            .collect();
        let (labels, bin_of) = numeric_bins(&values, 5);
        assert_eq!(labels, ["<= 2", "2 - 4", "4 - 6", "6 - 8", "> 8", MISSING]);
        assert_eq!(bin_of, [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
        // Few distinct values: one bin each.
        let flags = [Some(0.0), Some(1.0), Some(1.0)];
        assert_eq!(numeric_bins(&flags, 5).0, ["0", "1", MISSING]);
    }

    #[test]
    fn ranks_by_information_value_and_rejects_one_class() {
        let useful: Vec<Option<f64>> = (0..100).map(|i| Some(f64::from(i))).collect();
        let noise: Vec<Option<f64>> = (0..100).map(|i| Some(f64::from(i % 2))).collect();
        let churned: Vec<bool> = (0..100).map(|i| i < 30).collect();
        let d = churn_drivers(
            &[
                ("noise".into(), Values::Numeric(&noise)),
                ("useful".into(), Values::Numeric(&useful)),
            ],
            &churned,
            5,
            0.95,
        )
        .unwrap();
        assert_eq!(d[0].attribute, "useful");
        assert!(d[0].information_value > 1.0 && d[1].information_value < 0.02);
        assert!(churn_drivers(&[], &[true, true], 5, 0.95).is_err());
    }
}
