//! Churn drivers: what separates customers who churned from those who stayed. For each
//! attribute of a customer table (chosen as `train` chooses them, see [`crate::attributes`]),
//! the churn rate of each value (numbers binned at quantiles) with its confidence interval and
//! weight of evidence, and the attributes ranked by information value
//! (`retain_models::drivers`).

use std::path::Path;

use retain_data::{read_customer_table, CustomerTable, CustomerTableOptions};
use retain_models::drivers::{churn_drivers, Driver, Values};
use serde::Serialize;

use crate::attributes::{AttributeSelection, AttributeValues, SkippedColumn};
use crate::columns::named_by;
use crate::Result;

/// What to rank and how.
#[derive(Debug, Clone, PartialEq)]
pub struct DriverOptions {
    /// The churn flag column: 1/0, true/false or yes/no.
    pub churn_col: String,
    /// Which columns are attributes (the id and the churn flag never are).
    pub attributes: AttributeSelection,
    /// Quantile bins per numeric attribute.
    pub bins: usize,
    /// Level of the churn rates' confidence intervals.
    pub confidence: f64,
}

impl Default for DriverOptions {
    fn default() -> Self {
        DriverOptions {
            churn_col: "churned".into(),
            attributes: AttributeSelection::default(),
            bins: 5,
            confidence: 0.95,
        }
    }
}

/// The attributes ranked, strongest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChurnDrivers {
    pub customers: u64,
    pub churned: u64,
    pub drivers: Vec<Driver>,
    /// Text columns left out for having too many distinct values.
    #[serde(serialize_with = "skipped_columns")]
    pub skipped: Vec<SkippedColumn>,
}

/// Each left-out column as `{"name", "distinct"}`.
fn skipped_columns<S: serde::Serializer>(
    skipped: &[SkippedColumn],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Column<'a> {
        name: &'a str,
        distinct: u64,
    }
    serializer.collect_seq(skipped.iter().map(|c| Column {
        name: &c.name,
        distinct: c.distinct,
    }))
}

/// Ranks the attributes of a customer table (text attributes are passed to the ranking before
/// numeric ones, which decides the order of attributes of equal information value).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use retain_data::{read_customer_table, CustomerTableOptions};
/// use retain_pipeline::drivers::{drivers, DriverOptions};
///
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("customers.csv");
/// # std::fs::write(&path, "customer_id,plan,churned\na,basic,1\nb,basic,0\nc,pro,0\nd,pro,0\n")?;
/// let table = read_customer_table(&path, &CustomerTableOptions::default())?;
/// let ranked = drivers(&table, &DriverOptions::default())?;
/// assert_eq!(ranked.drivers[0].attribute, "plan");
/// assert_eq!(ranked.drivers[0].bins[0].churn_rate, 0.5);
/// # Ok(())
/// # }
/// ```
pub fn drivers(table: &CustomerTable, options: &DriverOptions) -> Result<ChurnDrivers> {
    let churned = named_by("churn_col", table.flags(&options.churn_col, "churn_col"))?;
    let chosen = options
        .attributes
        .select(table, &[options.churn_col.as_str()])?;
    let (text, numeric): (Vec<_>, Vec<_>) = chosen
        .columns
        .iter()
        .partition(|a| matches!(a.values, AttributeValues::Categories(_)));
    let attributes: Vec<(String, Values)> = text
        .into_iter()
        .chain(numeric)
        .map(|a| {
            let values = match &a.values {
                AttributeValues::Categories(v) => Values::Categorical(v),
                AttributeValues::Numbers(v) => Values::Numeric(v),
            };
            (a.name.clone(), values)
        })
        .collect();
    let drivers = churn_drivers(&attributes, &churned, options.bins, options.confidence)?;
    Ok(ChurnDrivers {
        customers: churned.len() as u64,
        churned: churned.iter().filter(|&&c| c).count() as u64,
        drivers,
        skipped: chosen.skipped,
    })
}

/// [`drivers`] of a customer file.
///
/// ```no_run
/// use retain_data::CustomerTableOptions;
/// use retain_pipeline::drivers::{drivers_of_file, DriverOptions};
///
/// let read = CustomerTableOptions { id_col: Some("customerID".into()), ..Default::default() };
/// let options = DriverOptions { churn_col: "Churn".into(), ..Default::default() };
/// let ranked = drivers_of_file("telco.csv".as_ref(), &read, &options)?;
/// println!("strongest: {}", ranked.drivers[0].attribute);
/// # Ok::<(), retain_pipeline::PipelineError>(())
/// ```
pub fn drivers_of_file(
    path: &Path,
    read: &CustomerTableOptions,
    options: &DriverOptions,
) -> Result<ChurnDrivers> {
    drivers(&read_customer_table(path, read)?, options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_text_and_numbers_and_skips_free_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("customers.csv");
        // plan separates perfectly-ish (basic: 3 of 4 churned, pro: 0 of 4); age little.
        let mut text = String::from("id,age,plan,note,left\n");
        for (i, (age, plan, left)) in [
            (20, "basic", 1),
            (30, "basic", 1),
            (40, "basic", 1),
            (50, "basic", 0),
            (20, "pro", 0),
            (30, "pro", 0),
            (40, "pro", 0),
            (50, "pro", 0),
        ]
        .iter()
        .enumerate()
        {
            text.push_str(&format!("c{i},{age},{plan},note {i},{left}\n"));
        }
        std::fs::write(&path, text).unwrap();
        let read = CustomerTableOptions {
            id_col: Some("id".into()),
            ..Default::default()
        };
        let options = DriverOptions {
            churn_col: "left".into(),
            attributes: AttributeSelection {
                max_categories: 5,
                ..Default::default()
            },
            bins: 2,
            ..Default::default()
        };
        let ranked = drivers_of_file(&path, &read, &options).unwrap();
        assert_eq!((ranked.customers, ranked.churned), (8, 3));
        let names: Vec<&str> = ranked
            .drivers
            .iter()
            .map(|d| d.attribute.as_str())
            .collect();
        assert_eq!(names, ["plan", "age"]);
        let plan = &ranked.drivers[0];
        assert_eq!(plan.bins[0].label, "basic");
        assert_eq!(plan.bins[0].churn_rate, 0.75);
        // WoE of basic: retained 1/5 against churned 3/3 → ln(0.2); pro has no churned: 0.5
        // added to both, ln((4.5/5) / (0.5/3)).
        assert!((plan.bins[0].woe - 0.2f64.ln()).abs() < 1e-12);
        assert!((plan.bins[1].woe - (0.9f64 / (0.5 / 3.0)).ln()).abs() < 1e-12);
        assert_eq!(ranked.skipped.len(), 1);
        assert_eq!(ranked.skipped[0].name, "note");
        let json = serde_json::to_value(&ranked).unwrap();
        assert_eq!(
            json["skipped"],
            serde_json::json!([{"name": "note", "distinct": 8}])
        );

        let error = drivers_of_file(&path, &read, &DriverOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("no column \"churned\"") && error.contains("set churn_col"),
            "{error}"
        );
    }
}
