//! Cohorts: customers grouped by the period they were acquired in, and how many of each cohort
//! are active period by period since, from a purchase log or from contracts with start and end
//! dates; and the retention and churn rate of each calendar period. Definitions in
//! `retain_data::cohorts`.

use std::path::PathBuf;
use std::sync::Arc;

use retain_data::cohorts::Cohort;
use retain_data::datafusion::arrow::array::{
    ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array,
};
use retain_data::{
    contract_cohorts, purchase_cohorts, read_customer_table, CohortTable, CustomerTable,
    CustomerTableOptions, DataError, Period, PurchaseHistory,
};

use crate::columns::named_by;
use crate::error::invalid;
use crate::source::Log;
use crate::Result;

/// The periods of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CohortOptions {
    /// Length of a period.
    pub period: Period,
    /// End of observation; `None`: the last date in the data.
    pub observation_end: Option<i32>,
}

impl Default for CohortOptions {
    fn default() -> Self {
        CohortOptions {
            period: Period::Month,
            observation_end: None,
        }
    }
}

/// The columns of a contract table: one row per customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractDates {
    /// When the contract started (every contract has a start).
    pub start_col: String,
    /// When it ended; blank while it runs.
    pub end_col: String,
}

impl Default for ContractDates {
    fn default() -> Self {
        ContractDates {
            start_col: "start_date".into(),
            end_col: "end_date".into(),
        }
    }
}

/// Where the customers come from.
#[derive(Debug, Clone)]
pub enum CohortSource {
    /// Purchases: a customer is active in a period with a purchase in it.
    Log(Log),
    /// Contracts: a customer is active in a period their contract covers.
    Contracts {
        path: PathBuf,
        read: CustomerTableOptions,
        columns: ContractDates,
    },
}

/// The cohort table of a purchase history.
///
/// ```
/// use retain_data::{dates::days_from_civil, PurchaseHistory};
/// use retain_pipeline::cohorts::{cohorts_of_purchases, CohortOptions};
///
/// let day = |m, d| days_from_civil(2024, m, d);
/// let history = PurchaseHistory::from_customers(vec![
///     ("a".into(), vec![(day(1, 5), 10.0), (day(2, 7), 20.0)]),
///     ("b".into(), vec![(day(2, 1), 5.0)]),
/// ]);
/// let table = cohorts_of_purchases(&history, &CohortOptions::default())?;
/// assert_eq!(table.cohorts[0].cohort, "2024-01");
/// assert_eq!(table.cohorts[0].share, [1.0, 1.0]);
/// # Ok::<(), retain_pipeline::PipelineError>(())
/// ```
pub fn cohorts_of_purchases(
    history: &PurchaseHistory,
    options: &CohortOptions,
) -> Result<CohortTable> {
    purchase_cohorts(history, options.period, options.observation_end)
        .ok_or_else(|| invalid!("the log has no usable transactions"))
}

/// The cohort table of contracts: every row needs a start date, and an end date (if any) not
/// before it.
///
/// ```no_run
/// use retain_data::{read_customer_table, CustomerTableOptions};
/// use retain_pipeline::cohorts::{cohorts_of_contracts, CohortOptions, ContractDates};
///
/// let table = read_customer_table("contracts.csv".as_ref(), &CustomerTableOptions::default())?;
/// let cohorts = cohorts_of_contracts(&table, &ContractDates::default(), &CohortOptions::default())?;
/// for rate in &cohorts.rates {
///     println!("{}: churn {:?}", rate.period, rate.churn_rate);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn cohorts_of_contracts(
    table: &CustomerTable,
    columns: &ContractDates,
    options: &CohortOptions,
) -> Result<CohortTable> {
    let starts = named_by("start_col", table.days(&columns.start_col, "start_col"))?;
    let ends = named_by("end_col", table.days(&columns.end_col, "end_col"))?;
    let mut start_days = Vec::with_capacity(starts.len());
    for (row, (start, end)) in starts.iter().zip(&ends).enumerate() {
        let Some(start) = *start else {
            return Err(invalid!(
                "{}: every contract needs a start date",
                table.location(row, &columns.start_col)
            ));
        };
        if end.is_some_and(|end| end < start) {
            return Err(invalid!(
                "{}: the contract ends before it starts",
                table.location(row, &columns.end_col)
            ));
        }
        start_days.push(start);
    }
    contract_cohorts(&start_days, &ends, options.period, options.observation_end)
        .ok_or_else(|| invalid!("no contracts"))
}

/// The cohort table of a log or a contract file.
///
/// ```no_run
/// use retain_pipeline::cohorts::{cohorts, CohortOptions, CohortSource};
/// use retain_pipeline::source::Log;
///
/// let log = Log { files: vec!["transactions.csv".into()], ..Default::default() };
/// let table = cohorts(&CohortSource::Log(log), &CohortOptions::default())?;
/// println!("{} cohorts", table.cohorts.len());
/// # Ok::<(), retain_pipeline::PipelineError>(())
/// ```
pub fn cohorts(source: &CohortSource, options: &CohortOptions) -> Result<CohortTable> {
    match source {
        CohortSource::Log(log) => cohorts_of_purchases(&log.history()?.0, options),
        CohortSource::Contracts {
            path,
            read,
            columns,
        } => cohorts_of_contracts(&read_customer_table(path, read)?, columns, options),
    }
}

/// The cohort table in long form, one row per cohort and period since acquisition: cohort,
/// cohort_size, periods_since, active, share, revenue.
///
/// ```
/// use retain_data::PurchaseHistory;
/// use retain_pipeline::cohorts::{cohorts_of_purchases, long_table, CohortOptions};
///
/// let history = PurchaseHistory::from_customers(vec![("a".into(), vec![(0, 1.0), (40, 1.0)])]);
/// let table = cohorts_of_purchases(&history, &CohortOptions::default())?;
/// assert_eq!(long_table(&table)?.num_rows(), 2);
/// # Ok::<(), retain_pipeline::PipelineError>(())
/// ```
pub fn long_table(cohorts: &CohortTable) -> Result<RecordBatch> {
    let rows: Vec<(&Cohort, usize)> = cohorts
        .cohorts
        .iter()
        .flat_map(|c| (0..c.active.len()).map(move |k| (c, k)))
        .collect();
    let column = |f: &dyn Fn(&Cohort, usize) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|&(c, k)| f(c, k)),
        ))
    };
    let count = |f: &dyn Fn(&Cohort, usize) -> u64| -> ArrayRef {
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|&(c, k)| f(c, k)),
        ))
    };
    Ok(RecordBatch::try_from_iter([
        (
            "cohort",
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|(c, _)| &c.cohort),
            )) as ArrayRef,
        ),
        ("cohort_size", count(&|c, _| c.size)),
        ("periods_since", count(&|_, k| k as u64)),
        ("active", count(&|c, k| c.active[k])),
        ("share", column(&|c, k| c.share[k])),
        ("revenue", column(&|c, k| c.revenue[k])),
    ])
    .map_err(DataError::from)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use retain_data::datafusion::arrow::array::AsArray;
    use retain_data::datafusion::arrow::datatypes::UInt64Type;
    use retain_data::dates::days_from_civil;

    #[test]
    fn purchase_cohorts_by_month() {
        let day = |m, d| days_from_civil(2024, m, d);
        // January: a (buys again in March) and b (never again); February: c (again in March).
        let history = PurchaseHistory::from_customers(vec![
            ("a".into(), vec![(day(1, 5), 10.0), (day(3, 7), 20.0)]),
            ("b".into(), vec![(day(1, 9), 5.0)]),
            ("c".into(), vec![(day(2, 1), 8.0), (day(3, 1), 2.0)]),
        ]);
        let table = cohorts_of_purchases(&history, &CohortOptions::default()).unwrap();
        assert_eq!(table.basis, "purchases");
        let january = &table.cohorts[0];
        assert_eq!((january.cohort.as_str(), january.size), ("2024-01", 2));
        assert_eq!(january.active, [2, 0, 1]);
        assert_eq!(january.share, [1.0, 0.0, 0.5]);
        assert_eq!(january.revenue, [15.0, 0.0, 20.0]);
        assert_eq!(table.cohorts[1].active, [1, 1]);
        // March: a and c active; of February's one active customer (c), c is retained.
        let march = &table.rates[2];
        assert_eq!((march.active, march.base, march.retained), (2, 1, 1));
        assert_eq!(march.retention_rate, Some(1.0));

        let long = long_table(&table).unwrap();
        assert_eq!(long.num_rows(), 3 + 2);
        let active = long.column(3).as_primitive::<UInt64Type>();
        assert_eq!(active.values(), &[2, 0, 1, 1, 1]);

        let quarterly = CohortOptions {
            period: Period::Quarter,
            ..Default::default()
        };
        let table = cohorts_of_purchases(&history, &quarterly).unwrap();
        assert_eq!(table.cohorts.len(), 1);
        assert_eq!(table.cohorts[0].size, 3);
        assert!(cohorts_of_purchases(&PurchaseHistory::default(), &quarterly).is_err());
    }

    #[test]
    fn contract_cohorts_and_their_checks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("contracts.csv");
        std::fs::write(
            &path,
            "id,start_date,end_date\nx,2020-01-10,2020-02-20\ny,2020-01-05,\nz,2020-02-01,2020-02-02\n",
        )
        .unwrap();
        let source = CohortSource::Contracts {
            path: path.clone(),
            read: CustomerTableOptions {
                id_col: Some("id".into()),
                ..Default::default()
            },
            columns: ContractDates::default(),
        };
        let options = CohortOptions {
            observation_end: Some(days_from_civil(2020, 3, 31)),
            ..Default::default()
        };
        let table = cohorts(&source, &options).unwrap();
        assert_eq!(table.basis, "contracts");
        // February: of the 2 contracts active at its start (x, y), x ends in it: churn 1/2 (z
        // starts in February: not at its start).
        assert_eq!(table.rates[1].churn_rate, Some(0.5));
        assert_eq!(table.cohorts[0].active, [2, 2, 1]);

        std::fs::write(&path, "id,start_date,end_date\nx,2020-01-10,2020-01-02\n").unwrap();
        let error = cohorts(&source, &options).unwrap_err().to_string();
        assert!(
            error.ends_with("contracts.csv:2, column end_date: the contract ends before it starts"),
            "{error}"
        );
        // A missing column is named with the option that chooses it.
        let table = read_customer_table(
            &path,
            &CustomerTableOptions {
                id_col: None,
                ..Default::default()
            },
        )
        .unwrap();
        let began = ContractDates {
            start_col: "began".into(),
            ..Default::default()
        };
        let error = cohorts_of_contracts(&table, &began, &options)
            .unwrap_err()
            .to_string();
        assert!(error.contains("(set start_col to one of them)"), "{error}");
    }
}
