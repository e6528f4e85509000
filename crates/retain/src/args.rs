//! Command-line arguments shared by several subcommands: how to read a transaction log, and the
//! parsers for dates and sizes.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use retain_data::database::DatabaseSource;
use retain_data::dates::{parse_date, DateFormat, Period, TimeUnit};
use retain_data::{AmountSpec, Delimiter, Engine, HeaderMode, ReadOptions, TransactionColumns};

/// How to read a transaction log.
#[derive(Debug, Clone, Args)]
pub struct TransactionArgs {
    /// Transaction files: CSV (any common delimiter, optional header, plain or .gz) or Parquet;
    /// or a PostgreSQL database, postgresql://USER[:PASSWORD]@HOST[:PORT]/DB, with --table or
    /// --query.
    #[arg(long = "transactions", short = 't', value_name = "FILE", num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// The table (or view, `schema.name`) of a PostgreSQL source to read.
    #[arg(long, value_name = "NAME", conflicts_with = "query")]
    pub table: Option<String>,
    /// The query of a PostgreSQL source to read (any statement returning rows).
    #[arg(long, value_name = "SQL")]
    pub query: Option<String>,
    /// Column with the customer id: a header name, or a 1-based number for header-less files.
    #[arg(long, value_name = "COL", default_value = "customer_id")]
    pub customer_col: String,
    /// Column with the transaction date.
    #[arg(long, value_name = "COL", default_value = "date")]
    pub date_col: String,
    /// Column with the transaction amount (default: `amount` if the header has it).
    #[arg(long, value_name = "COL", conflicts_with_all = ["quantity_col", "no_amount"])]
    pub amount_col: Option<String>,
    /// Amount = quantity × unit price (order-line logs); use with --price-col.
    #[arg(
        long,
        value_name = "COL",
        requires = "price_col",
        conflicts_with = "no_amount"
    )]
    pub quantity_col: Option<String>,
    /// Unit price column; use with --quantity-col.
    #[arg(long, value_name = "COL", requires = "quantity_col")]
    pub price_col: Option<String>,
    /// Ignore amounts: no monetary values.
    #[arg(long)]
    pub no_amount: bool,
    /// Field delimiter.
    #[arg(long, value_enum, default_value_t = DelimiterArg::Auto)]
    pub delimiter: DelimiterArg,
    /// Whether the first line is a header (auto: yes unless every column is given by number
    /// and the first line's date parses).
    #[arg(long, value_enum, default_value_t = HeaderArg::Auto)]
    pub header: HeaderArg,
    /// Date layout in chrono/strftime syntax, e.g. "%d/%m/%Y %H:%M" (default: YYYYMMDD, ISO
    /// date or ISO date-time, detected per value).
    #[arg(long, value_name = "FORMAT")]
    pub date_format: Option<String>,
    /// Keep rows with a negative amount (returns, cancellations); by default they are excluded
    /// and counted.
    #[arg(long)]
    pub keep_negative: bool,
    /// Write rejected rows here (with line, column and reason) and go on, instead of stopping at
    /// the first one.
    #[arg(long, value_name = "FILE")]
    pub bad_rows: Option<PathBuf>,
    /// Where the summary plan runs: local, or ballista://HOST:PORT (a `retain cluster
    /// scheduler`, whose executors read the files at these paths).
    #[arg(long, value_name = "ENGINE", default_value = "local")]
    pub engine: Engine,
}

/// A customer table in PostgreSQL: `--customers postgresql://USER[:PASSWORD]@HOST[:PORT]/DB` with
/// one of these.
#[derive(Debug, Clone, Args)]
pub struct CustomerSourceArgs {
    /// The table (or view, `schema.name`) of a PostgreSQL customer table.
    #[arg(long, value_name = "NAME", conflicts_with = "customers_query")]
    pub customers_table: Option<String>,
    /// The query of a PostgreSQL customer table (any statement returning rows).
    #[arg(long, value_name = "SQL")]
    pub customers_query: Option<String>,
}

impl CustomerSourceArgs {
    /// The database the `--customers` value names, if it names one.
    pub fn database(&self, customers: &Path) -> Option<DatabaseSource> {
        DatabaseSource::for_input(
            &customers.to_string_lossy(),
            self.customers_table.as_deref(),
            self.customers_query.as_deref(),
        )
    }

    /// The customer table as messages and records name it (a database without its password).
    pub fn name(&self, customers: &Path) -> PathBuf {
        match self.database(customers) {
            Some(source) => PathBuf::from(source.name()),
            None => customers.to_path_buf(),
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DelimiterArg {
    Auto,
    Comma,
    Semicolon,
    Tab,
    Pipe,
    Whitespace,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum HeaderArg {
    Auto,
    Yes,
    No,
}

/// How a command prints its result: a table for people or JSON for programs.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum UnitArg {
    Days,
    Weeks,
    Months,
}

impl From<UnitArg> for TimeUnit {
    fn from(u: UnitArg) -> Self {
        match u {
            UnitArg::Days => TimeUnit::Days,
            UnitArg::Weeks => TimeUnit::Weeks,
            UnitArg::Months => TimeUnit::Months,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PeriodArg {
    Day,
    Week,
    Month,
    Quarter,
}

impl From<PeriodArg> for Period {
    fn from(p: PeriodArg) -> Self {
        match p {
            PeriodArg::Day => Period::Day,
            PeriodArg::Week => Period::Week,
            PeriodArg::Month => Period::Month,
            PeriodArg::Quarter => Period::Quarter,
        }
    }
}

impl From<DelimiterArg> for Delimiter {
    fn from(d: DelimiterArg) -> Self {
        match d {
            DelimiterArg::Auto => Delimiter::Auto,
            DelimiterArg::Comma => Delimiter::Byte(b','),
            DelimiterArg::Semicolon => Delimiter::Byte(b';'),
            DelimiterArg::Tab => Delimiter::Byte(b'\t'),
            DelimiterArg::Pipe => Delimiter::Byte(b'|'),
            DelimiterArg::Whitespace => Delimiter::Whitespace,
        }
    }
}

impl TransactionArgs {
    /// The log as the library takes it.
    pub fn source(&self) -> retain_pipeline::source::Log {
        retain_pipeline::source::Log {
            files: self.log_files(),
            read: self.read_options(Period::Day),
            engine: self.engine.clone(),
        }
    }

    /// A PostgreSQL source: when the input is a postgresql:// URL, or a table or query is named
    /// (then a file input fails, saying it is not a URL).
    pub fn database(&self) -> Option<DatabaseSource> {
        DatabaseSource::for_input(
            &self.files.first()?.to_string_lossy(),
            self.table.as_deref(),
            self.query.as_deref(),
        )
    }

    /// The transaction files (none when the log is a database).
    pub fn log_files(&self) -> Vec<PathBuf> {
        match self.database() {
            Some(_) => Vec::new(),
            None => self.files.clone(),
        }
    }

    /// What the log is, for records and messages: the files, or the database without its
    /// password.
    pub fn provenance(&self) -> Vec<PathBuf> {
        match self.database() {
            Some(source) => vec![PathBuf::from(source.name())],
            None => self.files.clone(),
        }
    }

    pub fn read_options(&self, period: Period) -> ReadOptions {
        let amount = if self.no_amount {
            AmountSpec::None
        } else if let (Some(quantity), Some(price)) = (&self.quantity_col, &self.price_col) {
            AmountSpec::Product {
                quantity: quantity.clone(),
                price: price.clone(),
            }
        } else if let Some(c) = &self.amount_col {
            AmountSpec::Column(c.clone())
        } else {
            AmountSpec::Auto
        };
        ReadOptions {
            columns: TransactionColumns {
                customer: self.customer_col.clone(),
                date: self.date_col.clone(),
                amount,
            },
            delimiter: self.delimiter.into(),
            header: match self.header {
                HeaderArg::Auto => HeaderMode::Auto,
                HeaderArg::Yes => HeaderMode::Present,
                HeaderArg::No => HeaderMode::Absent,
            },
            date_format: self
                .date_format
                .clone()
                .map_or(DateFormat::Auto, DateFormat::Strftime),
            period,
            keep_negative: self.keep_negative,
            last_day: None,
            bad_rows: self.bad_rows.clone(),
            database: self.database(),
        }
    }
}

/// A date on the command line: YYYY-MM-DD or YYYYMMDD.
pub fn parse_day(s: &str) -> Result<i32, String> {
    parse_date(s.as_bytes(), &DateFormat::Auto)
        .ok_or_else(|| format!("expected a date as YYYY-MM-DD (or YYYYMMDD), found {s:?}"))
}

/// A size such as 512M or 2G (bytes without a suffix).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (digits, mult) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1usize << 10),
        Some((i, 'm' | 'M')) => (&t[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    let n: f64 = digits
        .parse()
        .map_err(|_| format!("expected a size such as 512M or 2G, found {s:?}"))?;
    Ok((n * mult as f64) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use retain_data::dates::days_from_civil;

    #[test]
    fn sizes_and_days() {
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        assert_eq!(parse_size("512m").unwrap(), 512 << 20);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert!(parse_size("lots").is_err());
        assert_eq!(
            parse_day("1997-09-30").unwrap(),
            days_from_civil(1997, 9, 30)
        );
        assert!(parse_day("30/09/1997").unwrap_err().contains("YYYY-MM-DD"));
    }
}
