//! retain-data: everything between a company's files and the models. It reads transaction logs
//! and customer tables (CSV in its common dialects, gzip, Parquet) into typed Arrow batches with
//! every row accounted for, and turns transactions into per-customer summaries (frequency, recency, T, monetary value,
//! calibration/holdout split) with Apache DataFusion plans, exactly as lifetimes computes them;
//! and into each customer's purchase days, from which come cohort tables and retention rates.

pub use datafusion;

pub mod activity;
pub mod arg_min;
mod arrow_days;
pub mod cluster;
pub mod cohorts;
pub mod customer_table;
pub mod customers;
pub mod database;
pub mod dates;
pub mod error;
pub mod features;
pub mod folders;
pub mod history;
pub mod ingest;
pub mod output;
mod parquet_in;
mod partitioned;
pub mod seasonality;
pub mod summary;
mod text;

pub use activity::{activity, Activity};
pub use cluster::Engine;
pub use cohorts::{contract_cohorts, purchase_cohorts, CohortTable};
pub use customer_table::{
    read_customer_table, ColumnDescription, ColumnKind, ColumnProfile, CustomerTable,
    CustomerTableOptions,
};
pub use dates::{DateFormat, Period, TimeUnit};
pub use error::{DataError, Result};
pub use history::PurchaseHistory;
pub use ingest::{
    thousands, AmountSpec, Delimiter, HeaderMode, IngestReport, ReadOptions, TransactionColumns,
};
pub use summary::{summarize, summarize_each, Summary, SummaryOptions, SummaryReport};
