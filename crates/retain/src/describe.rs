//! `retain describe`: what a customer table holds, as retain reads it: each column's inferred
//! type, missing values and distinct values, so that surprises show before a model is trained.

use std::path::PathBuf;

use clap::Args;
use retain_data::{read_customer_table, CustomerTableOptions};

use crate::args::{CustomerSourceArgs, DelimiterArg, Format};
use crate::fmt::{percent, table, thousands};

/// Arguments of `retain describe`.
#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// Customer table: CSV (any common delimiter, with a header, plain or .gz) or Parquet.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub customers: PathBuf,
    #[command(flatten)]
    pub customer_source: CustomerSourceArgs,
    /// Column with the customer id (unique per row).
    #[arg(long, value_name = "COL", default_value = "customer_id")]
    pub id_col: String,
    /// Values read as missing besides a blank field, comma-separated (e.g. NA,NULL).
    #[arg(long, value_name = "VALUES", value_delimiter = ',')]
    pub na: Vec<String>,
    /// Field delimiter.
    #[arg(long, value_enum, default_value_t = DelimiterArg::Auto)]
    pub delimiter: DelimiterArg,
    /// Write rejected rows here and go on, instead of stopping at the first one.
    #[arg(long, value_name = "FILE")]
    pub bad_rows: Option<PathBuf>,
    /// Output: a table for people or JSON for programs.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn run(args: DescribeArgs) -> anyhow::Result<()> {
    let options = CustomerTableOptions {
        id_col: Some(args.id_col.clone()),
        delimiter: args.delimiter.into(),
        na_values: args.na.clone(),
        bad_rows: args.bad_rows.clone(),
        database: args.customer_source.database(&args.customers),
    };
    let t = read_customer_table(&args.customers, &options)?;
    let name = args.customer_source.name(&args.customers);
    let rows = t.batch.num_rows() as u64;
    let described = t.describe();
    match args.format {
        Format::Json => outln!(
            "{}",
            serde_json::json!({
                "file": name.display().to_string(),
                "rows_read": t.rows_read,
                "rows_rejected": t.rows_rejected,
                "customers": rows,
                "columns": described,
            })
        )?,
        Format::Table => {
            outln!(
                "{}: {} customers, {} attributes ({} rows read, {} rejected)\n",
                name.display(),
                thousands(rows),
                t.columns.len() - 1,
                thousands(t.rows_read),
                thousands(t.rows_rejected)
            )?;
            let body: Vec<Vec<String>> = described
                .iter()
                .map(|c| {
                    vec![
                        c.profile.name.clone(),
                        format!("{:?}", c.profile.kind).to_lowercase(),
                        thousands(c.profile.missing),
                        percent(c.profile.missing, rows),
                        thousands(c.distinct),
                    ]
                })
                .collect();
            out!(
                "{}",
                table(
                    &["column", "type", "missing", "missing %", "distinct"],
                    &body
                )
            )?;
        }
    }
    if let Some(path) = &t.bad_rows_file {
        eprintln!("rejected rows written to {}", path.display());
    }
    Ok(())
}
