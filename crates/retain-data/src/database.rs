//! PostgreSQL tables and queries as transaction logs: rows streamed in batches (never loaded
//! whole), put through the same row rules as a Parquet file's, each row numbered in the order the
//! server sent it.
//!
//! The source's columns are found from its description (names and types), so `--customer-col`,
//! `--date-col` and the amount columns name them as they name a file's. Only the columns used are
//! fetched, typed on the server where PostgreSQL knows the type: dates and timestamps as days
//! (`timestamptz` on its UTC day), numbers as `float8` (the CSV reader's f64), anything else as
//! text parsed by retain (so a text date follows `--date-format`). A connection's password never
//! appears in a message: the source is named `postgresql://USER@HOST:PORT/DB, table T` (or
//! `query`).
//!
//! The server is read on a thread of its own (with its own runtime), which hands batches over a
//! channel of two: memory stays bounded by the batch size however large the table.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use datafusion::arrow::array::{
    new_null_array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch,
    StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use futures::TryStreamExt;
use sqlx::postgres::{PgConnectOptions, PgRow};
use sqlx::{Column, ConnectOptions, Executor, Row, Statement, TypeInfo};

use crate::customers::CustomerIndex;
use crate::error::{DataError, Result, RowError};
use crate::ingest::batch::BATCH_ROWS;
use crate::ingest::options::{IngestReport, ReadOptions};
use crate::ingest::rows::{AmountFields, RowRules};
use crate::parquet_in::ArrowRows;

/// A PostgreSQL table or query to read transactions (or customers) from.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseSource {
    /// `postgresql://…` or `postgres://…`, password included.
    pub url: String,
    pub relation: Relation,
}

/// What to read of the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relation {
    /// A table or view, `name` or `schema.name` (each part quoted as an identifier).
    Table(String),
    /// A `SELECT` (or any statement returning rows), read as a subquery.
    Query(String),
}

impl std::fmt::Debug for DatabaseSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl DatabaseSource {
    /// Whether `text` is a PostgreSQL connection URL (rather than a file path).
    pub fn is_url(text: &str) -> bool {
        text.starts_with("postgresql://") || text.starts_with("postgres://")
    }

    /// The source an input names: `input` when it is a PostgreSQL URL, or whenever a table or
    /// query is named (then a file input fails on opening, saying it is not a URL); `None` for a
    /// file. Without a table or query, opening fails asking for one.
    pub fn for_input(input: &str, table: Option<&str>, query: Option<&str>) -> Option<Self> {
        if !Self::is_url(input) && table.is_none() && query.is_none() {
            return None;
        }
        let relation = match (table, query) {
            (Some(table), _) => Relation::Table(table.into()),
            (None, Some(query)) => Relation::Query(query.into()),
            (None, None) => Relation::Table(String::new()),
        };
        Some(DatabaseSource {
            url: input.into(),
            relation,
        })
    }

    /// The source as messages name it: the URL without its password, and the relation.
    pub fn name(&self) -> String {
        let server = match PgConnectOptions::from_str(&self.url) {
            Ok(o) => format!(
                "postgresql://{}@{}:{}/{}",
                o.get_username(),
                o.get_host(),
                o.get_port(),
                o.get_database().unwrap_or("")
            ),
            // Not a URL at all: the text of a file name, which holds no password.
            Err(_) if !Self::is_url(&self.url) => {
                format!("{} (not a postgresql:// URL)", self.url)
            }
            Err(_) => "postgresql://(an unreadable URL)".into(),
        };
        match &self.relation {
            Relation::Table(t) if t.is_empty() => server,
            Relation::Table(t) => format!("{server}, table {t}"),
            Relation::Query(_) => format!("{server}, query"),
        }
    }

    fn path(&self) -> PathBuf {
        PathBuf::from(self.name())
    }

    fn error(&self, what: &str, e: impl std::fmt::Display) -> DataError {
        DataError::Format {
            file: self.path(),
            message: format!("{what}: {e}"),
        }
    }

    /// The rows to read, as SQL.
    fn select_all(&self) -> String {
        match &self.relation {
            Relation::Table(t) => format!("SELECT * FROM {}", quote_relation(t)),
            Relation::Query(q) => format!(
                "SELECT * FROM ({}) AS retain_source",
                q.trim().trim_end_matches(';')
            ),
        }
    }
}

/// A file input that is a PostgreSQL URL where no database source was set up (a command or
/// setting that reads files only): an error that names it without its password, rather than a
/// "no such file" that would print the URL whole.
pub(crate) fn refuse_url(path: &std::path::Path) -> Result<()> {
    let text = path.to_string_lossy();
    if !DatabaseSource::is_url(&text) {
        return Ok(());
    }
    let source = DatabaseSource {
        url: text.into_owned(),
        relation: Relation::Table(String::new()),
    };
    Err(DataError::Option(format!(
        "{}: a PostgreSQL source is not read here: this input takes files (CSV or Parquet)",
        source.name()
    )))
}

/// `schema.table` with each part quoted, so that any name (mixed case, spaces) reads as given and
/// nothing else can be smuggled into the statement.
fn quote_relation(name: &str) -> String {
    name.split('.')
        .map(|part| format!("\"{}\"", part.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(".")
}

fn quote_column(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// How a used column is fetched.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fetch {
    Text,
    Days,
    Number,
    Integer,
    Boolean,
}

impl Fetch {
    fn data_type(self) -> DataType {
        match self {
            Fetch::Text => DataType::Utf8,
            Fetch::Days => DataType::Date32,
            Fetch::Number => DataType::Float64,
            Fetch::Integer => DataType::Int64,
            Fetch::Boolean => DataType::Boolean,
        }
    }
}

/// The select expression for a column of PostgreSQL type `pg_type` wanted as `fetch`: typed on
/// the server where the type allows, else as text for retain to parse.
fn select_expr(column: &str, pg_type: &str, fetch: Fetch) -> (String, Fetch) {
    let c = quote_column(column);
    match (fetch, pg_type) {
        (Fetch::Days, "DATE") => (format!("({c} - DATE '1970-01-01')"), Fetch::Days),
        (Fetch::Days, "TIMESTAMP") => (format!("({c}::date - DATE '1970-01-01')"), Fetch::Days),
        (Fetch::Days, "TIMESTAMPTZ") => (
            format!("(({c} AT TIME ZONE 'UTC')::date - DATE '1970-01-01')"),
            Fetch::Days,
        ),
        (Fetch::Number, "INT2" | "INT4" | "INT8" | "FLOAT4" | "FLOAT8" | "NUMERIC") => {
            (format!("{c}::float8"), Fetch::Number)
        }
        (Fetch::Integer, "INT2" | "INT4" | "INT8") => (format!("{c}::int8"), Fetch::Integer),
        (Fetch::Boolean, "BOOL") => (c, Fetch::Boolean),
        _ => (format!("{c}::text"), Fetch::Text),
    }
}

/// How a customer table's column is kept: as PostgreSQL types it (the Parquet reader keeps a
/// file's types the same way).
fn table_fetch(pg_type: &str) -> Fetch {
    match pg_type {
        "INT2" | "INT4" | "INT8" => Fetch::Integer,
        "FLOAT4" | "FLOAT8" | "NUMERIC" => Fetch::Number,
        "BOOL" => Fetch::Boolean,
        "DATE" | "TIMESTAMP" | "TIMESTAMPTZ" => Fetch::Days,
        _ => Fetch::Text,
    }
}

/// What the reading thread sends: first the source's columns, then batches.
enum Message {
    Columns(Vec<(String, String)>),
    Batch(RecordBatch),
}

/// A column to fetch: its position in the source, its select expression, how it arrives.
type Planned = (usize, String, Fetch);

/// A source's rows as batches of its columns, fetched by a thread of its own: the columns that
/// were not asked for are all null.
struct DatabaseStream {
    received: Receiver<Result<Message>>,
    done: bool,
}

impl DatabaseStream {
    /// Describes the source, lets `plan` choose the columns (from names and PostgreSQL types),
    /// and starts the rows.
    fn open<T>(
        source: &DatabaseSource,
        plan: impl FnOnce(&[(String, String)]) -> Result<(Vec<Planned>, T)>,
    ) -> Result<(Self, T)> {
        if matches!(&source.relation, Relation::Table(t) if t.trim().is_empty()) {
            return Err(DataError::Option(format!(
                "{}: name a table or a query to read",
                source.name()
            )));
        }
        let (send, received) = sync_channel::<Result<Message>>(2);
        let (plan_send, plan_received) = sync_channel::<Vec<Planned>>(1);
        let thread_source = source.clone();
        std::thread::Builder::new()
            .name("retain-postgres".into())
            .spawn(move || read_on_thread(thread_source, send, plan_received))
            .map_err(|e| source.error("starting the reader", e))?;
        let columns = match received.recv() {
            Ok(Ok(Message::Columns(c))) => c,
            Ok(Err(e)) => return Err(e),
            _ => return Err(source.error("reading", "the reader stopped")),
        };
        let (planned, chosen) = plan(&columns)?;
        plan_send
            .send(planned)
            .map_err(|_| source.error("reading", "the reader stopped"))?;
        Ok((
            DatabaseStream {
                received,
                done: false,
            },
            chosen,
        ))
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if self.done {
            return Ok(None);
        }
        match self.received.recv() {
            Ok(Ok(Message::Batch(batch))) => Ok(Some(batch)),
            Ok(Ok(Message::Columns(_))) => unreachable!("columns are sent once, first"),
            Ok(Err(e)) => {
                self.done = true;
                Err(e)
            }
            // The thread hung up: every row was sent.
            Err(_) => {
                self.done = true;
                Ok(None)
            }
        }
    }
}

/// Reads a PostgreSQL source as the Parquet reader reads a file.
pub(crate) struct DatabaseReader {
    rows: ArrowRows,
    stream: DatabaseStream,
}

impl DatabaseReader {
    pub(crate) fn open(source: &DatabaseSource, options: &ReadOptions) -> Result<Self> {
        let (stream, rules) = DatabaseStream::open(source, |columns| {
            let names: Vec<String> = columns.iter().map(|(n, _)| n.clone()).collect();
            let mut rules = RowRules::resolve(&source.path(), Some(&names), names.len(), options)?;
            rules.rows_are_lines = false;
            let mut used = vec![(rules.customer, Fetch::Text), (rules.date, Fetch::Days)];
            match rules.amount {
                Some(AmountFields::Column(i)) => used.push((i, Fetch::Number)),
                Some(AmountFields::Product(q, p)) => {
                    used.extend([(q, Fetch::Number), (p, Fetch::Number)])
                }
                None => {}
            }
            let planned = used
                .into_iter()
                .map(|(i, fetch)| {
                    let (expr, fetch) = select_expr(&columns[i].0, &columns[i].1, fetch);
                    (i, expr, fetch)
                })
                .collect();
            Ok((planned, rules))
        })?;
        Ok(DatabaseReader {
            rows: ArrowRows::new(rules, options.period),
            stream,
        })
    }

    pub(crate) fn has_amount(&self) -> bool {
        self.rows.has_amount()
    }

    pub(crate) fn read_batch(
        &mut self,
        rejected: &mut Vec<RowError>,
        report: &mut IngestReport,
        customers: &mut CustomerIndex,
    ) -> Result<Option<RecordBatch>> {
        match self.stream.next_batch()? {
            Some(batch) => self
                .rows
                .process(&batch, rejected, report, customers)
                .map(Some),
            None => Ok(None),
        }
    }
}

/// A whole table or query with every column typed as PostgreSQL types it (whole numbers as
/// Int64, other numbers as Float64, booleans, dates and timestamps as days, the rest as text),
/// fetched in batches: for customer tables, which are held whole once read.
pub(crate) fn read_typed(source: &DatabaseSource) -> Result<(Arc<Schema>, Vec<RecordBatch>)> {
    let (mut stream, schema) = DatabaseStream::open(source, |columns| {
        let planned: Vec<Planned> = columns
            .iter()
            .enumerate()
            .map(|(i, (name, pg_type))| {
                let (expr, fetch) = select_expr(name, pg_type, table_fetch(pg_type));
                (i, expr, fetch)
            })
            .collect();
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .zip(&planned)
                .map(|((name, _), (_, _, fetch))| Field::new(name, fetch.data_type(), true))
                .collect::<Vec<_>>(),
        ));
        Ok((planned, schema))
    })?;
    let mut batches = Vec::new();
    while let Some(batch) = stream.next_batch()? {
        batches.push(batch);
    }
    Ok((schema, batches))
}

/// The reading thread: describes the source, waits for the columns to fetch, then streams.
fn read_on_thread(
    source: DatabaseSource,
    send: SyncSender<Result<Message>>,
    plan: Receiver<Vec<Planned>>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let _ = send.send(Err(source.error("starting the reader", e)));
            return;
        }
    };
    let outcome = runtime.block_on(stream(&source, &send, plan));
    if let Err(e) = outcome {
        let _ = send.send(Err(e));
    }
}

async fn stream(
    source: &DatabaseSource,
    send: &SyncSender<Result<Message>>,
    plan: Receiver<Vec<Planned>>,
) -> Result<()> {
    let options = PgConnectOptions::from_str(&source.url)
        .map_err(|e| source.error("not a PostgreSQL URL", redact(&e.to_string(), source)))?;
    let mut conn = options
        .connect()
        .await
        .map_err(|e| source.error("cannot connect", redact(&e.to_string(), source)))?;
    let all = source.select_all();
    let statement = conn
        .prepare(all.as_str())
        .await
        .map_err(|e| source.error("cannot read", e))?;
    let columns: Vec<(String, String)> = statement
        .columns()
        .iter()
        .map(|c| (c.name().to_string(), c.type_info().name().to_string()))
        .collect();
    let n_columns = columns.len();
    if send.send(Ok(Message::Columns(columns.clone()))).is_err() {
        return Ok(());
    }
    // The caller resolves the columns (or fails, hanging up).
    let Ok(plan) = plan.recv() else {
        return Ok(());
    };
    let select = format!(
        "SELECT {} FROM ({all}) AS retain_rows",
        plan.iter()
            .map(|(_, expr, _)| expr.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                let fetch = plan.iter().find(|(c, _, _)| *c == i).map(|p| p.2);
                Field::new(name, fetch.map_or(DataType::Null, Fetch::data_type), true)
            })
            .collect::<Vec<_>>(),
    ));
    let mut rows = sqlx::query(&select).fetch(&mut conn);
    let mut chunk: Vec<PgRow> = Vec::with_capacity(BATCH_ROWS);
    let mut any = false;
    loop {
        let row = rows
            .try_next()
            .await
            .map_err(|e| source.error("reading", e))?;
        let end = row.is_none();
        if let Some(row) = row {
            chunk.push(row);
        }
        if chunk.len() == BATCH_ROWS || (end && !chunk.is_empty()) {
            any = true;
            let batch = to_batch(&chunk, &plan, n_columns, &schema)
                .map_err(|e| source.error("reading", e))?;
            chunk.clear();
            if send.send(Ok(Message::Batch(batch))).is_err() {
                return Ok(());
            }
        }
        if end {
            break;
        }
    }
    if !any {
        return Err(DataError::Empty {
            file: source.path(),
            what: "the table or query has no rows".into(),
        });
    }
    Ok(())
}

/// Rows as a batch of the source's columns: the fetched ones typed, the others all null.
fn to_batch(
    rows: &[PgRow],
    plan: &[Planned],
    n_columns: usize,
    schema: &Arc<Schema>,
) -> std::result::Result<RecordBatch, String> {
    let n = rows.len();
    let mut arrays: Vec<ArrayRef> = (0..n_columns)
        .map(|_| new_null_array(&DataType::Null, n))
        .collect();
    for (at, (column, _, fetch)) in plan.iter().enumerate() {
        arrays[*column] = match fetch {
            Fetch::Text => column_of::<String, StringArray>(rows, at)?,
            Fetch::Days => column_of::<i32, Date32Array>(rows, at)?,
            Fetch::Number => column_of::<f64, Float64Array>(rows, at)?,
            Fetch::Integer => column_of::<i64, Int64Array>(rows, at)?,
            Fetch::Boolean => column_of::<bool, BooleanArray>(rows, at)?,
        };
    }
    RecordBatch::try_new(Arc::clone(schema), arrays).map_err(|e| e.to_string())
}

/// The `at`-th fetched field of every row as an Arrow array of `A`.
fn column_of<'r, T, A>(rows: &'r [PgRow], at: usize) -> std::result::Result<ArrayRef, String>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
    A: FromIterator<Option<T>> + datafusion::arrow::array::Array + 'static,
{
    let array: A = rows
        .iter()
        .map(|row| row.try_get::<Option<T>, _>(at))
        .collect::<std::result::Result<A, _>>()
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(array))
}

/// A connection error's text without the password, should the driver have echoed the URL.
fn redact(text: &str, source: &DatabaseSource) -> String {
    let password = source
        .url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password);
    match password {
        Some(password) if !password.is_empty() => text.replace(password, "***"),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_named_without_its_password() {
        let source = DatabaseSource {
            url: "postgresql://ana:s3cret@db.example:6543/shop".into(),
            relation: Relation::Table("sales.orders".into()),
        };
        assert_eq!(
            source.name(),
            "postgresql://ana@db.example:6543/shop, table sales.orders"
        );
        assert_eq!(format!("{source:?}"), source.name());
        assert_eq!(
            redact("failed for postgresql://ana:s3cret@db", &source),
            "failed for postgresql://ana:***@db"
        );
    }

    #[test]
    fn names_are_quoted_so_that_nothing_else_reaches_the_statement() {
        assert_eq!(quote_relation("Sales.Orders"), "\"Sales\".\"Orders\"");
        assert_eq!(
            quote_relation("x\"; DROP TABLE t; --"),
            "\"x\"\"; DROP TABLE t; --\""
        );
        let query = DatabaseSource {
            url: "postgres://u@h/d".into(),
            relation: Relation::Query("SELECT 1;".into()),
        };
        assert_eq!(
            query.select_all(),
            "SELECT * FROM (SELECT 1) AS retain_source"
        );
    }

    #[test]
    fn columns_are_typed_on_the_server_where_it_knows_the_type() {
        assert_eq!(select_expr("d", "DATE", Fetch::Days).1, Fetch::Days);
        assert_eq!(
            select_expr("d", "TIMESTAMPTZ", Fetch::Days).0,
            "((\"d\" AT TIME ZONE 'UTC')::date - DATE '1970-01-01')"
        );
        assert_eq!(select_expr("d", "TEXT", Fetch::Days).1, Fetch::Text);
        assert_eq!(select_expr("a", "NUMERIC", Fetch::Number).1, Fetch::Number);
        assert_eq!(select_expr("a", "VARCHAR", Fetch::Number).1, Fetch::Text);
    }
}
