//! Errors of ingestion and summaries, each naming the file, the line and the column at fault and
//! saying what was expected and what was found, so the user can fix the input without a debugger.

use std::fmt;
use std::path::PathBuf;

/// Where in an input a problem sits: a file and, when known, a line (CSV) or a row (Parquet).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Location {
    pub file: PathBuf,
    /// 1-based line number in the file (CSV), or 1-based data row (Parquet).
    pub line: Option<u64>,
    /// The column's header name or, for header-less files, its 1-based number.
    pub column: Option<String>,
    /// True when `line` counts data rows (Parquet) rather than text lines.
    pub is_row: bool,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            if self.is_row {
                write!(f, ", row {line}")?;
            } else {
                write!(f, ":{line}")?;
            }
        }
        if let Some(column) = &self.column {
            write!(f, ", column {column}")?;
        }
        Ok(())
    }
}

/// Why one data row could not be used. Rows with such a problem are either fatal or, with
/// `--bad-rows`, written to the bad-rows file with this reason.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum RowProblem {
    /// A field did not parse: `expected` says what would have, `found` is the field as read.
    BadValue { expected: String, found: String },
    /// The row has a different number of fields than the header (or the first row).
    Ragged { expected: usize, found: usize },
    /// A field is not valid UTF-8.
    NotUtf8 { byte_offset: usize, bytes: Vec<u8> },
    /// The row repeats the header line, as happens when files are concatenated.
    RepeatedHeader,
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowProblem::BadValue { expected, found } => {
                write!(f, "expected {expected}, found {:?}", found)
            }
            RowProblem::Ragged { expected, found } => write!(
                f,
                "expected {expected} fields (as in the header), found {found}; \
                 check the delimiter and quoting of this line"
            ),
            RowProblem::NotUtf8 { byte_offset, bytes } => {
                let shown: Vec<String> =
                    bytes.iter().take(4).map(|b| format!("0x{b:02X}")).collect();
                write!(
                    f,
                    "expected UTF-8 text, found byte {} at offset {byte_offset} of the field; \
                     convert the file to UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
                    shown.join(" ")
                )
            }
            RowProblem::RepeatedHeader => write!(
                f,
                "expected a data row, found the header line again (were files concatenated?)"
            ),
        }
    }
}

/// A rejected row: where it is, what is wrong, and the row's fields as read.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RowError {
    pub location: Location,
    pub problem: RowProblem,
    /// The fields of the row (lossy UTF-8), for the bad-rows file.
    pub record: Vec<String>,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.problem)
    }
}

/// Everything that stops ingestion or a summary.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}\n  (to skip such rows and keep going, pass --bad-rows FILE: each rejected row is written there with its reason)")]
    BadRow(Box<RowError>),
    #[error("{}: no column {wanted:?} in the header; the columns are: {available}{hint}", file.display())]
    MissingColumn {
        file: PathBuf,
        wanted: String,
        available: String,
        hint: String,
    },
    #[error("{}: column number {number} asked for, but the first row has only {fields} fields", file.display())]
    ColumnOutOfRange {
        file: PathBuf,
        number: usize,
        fields: usize,
    },
    #[error("{}: the header names column {name:?} twice (fields {first} and {second}); rename one{hint}", file.display())]
    DuplicateHeader {
        file: PathBuf,
        name: String,
        first: usize,
        second: usize,
        /// What the rename is for, e.g. " so that --date-col is unambiguous".
        hint: String,
    },
    /// A value of a table that cannot serve what it was asked for (a churn flag that is not
    /// yes/no, a duration that is missing); unlike `BadRow`, skipping the row is no remedy.
    #[error("{location}: expected {expected}, found {found:?}")]
    BadField {
        location: Location,
        expected: String,
        found: String,
    },
    #[error("{}: {what}", file.display())]
    Empty { file: PathBuf, what: String },
    #[error("{}: {message}", file.display())]
    Format { file: PathBuf, message: String },
    #[error("invalid option: {0}")]
    Option(String),
    #[error("query engine: {0}")]
    Engine(String),
    /// A cluster run failed: the scheduler is unreachable, or an executor reported an error
    /// (its own message, such as a rejected row's file, line and reason, is kept whole).
    #[error("cluster: {0}")]
    Cluster(String),
    /// An output could not be written (a full disk, an I/O error): the environment failed, not
    /// the input. `source` holds the cause, an `std::io::Error` when there is one.
    #[error("writing {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("writing {}: the folder {} does not exist", path.display(), folder.display())]
    NoFolder { path: PathBuf, folder: PathBuf },
}

impl From<datafusion::error::DataFusionError> for DataError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        match e.find_root() {
            datafusion::error::DataFusionError::ResourcesExhausted(detail) => DataError::Option(format!(
                "--memory-limit is too small for the query engine to work in, even spilling to disk \
                 ({detail}); raise it (a few MiB per core is the least it needs)"
            )),
            _ => DataError::Engine(e.to_string()),
        }
    }
}

impl DataError {
    /// The message without any value read from the input (a field, a header, the bytes of a
    /// line): for telling someone who may not see the file what is wrong and where.
    pub fn without_values(&self) -> String {
        match self {
            DataError::BadRow(row) => {
                let expected = match &row.problem {
                    RowProblem::BadValue { expected, .. } => format!("expected {expected}"),
                    RowProblem::NotUtf8 { .. } => "expected UTF-8 text".to_string(),
                    other => other.to_string(),
                };
                format!("{}: {expected}", row.location)
            }
            DataError::MissingColumn { file, wanted, .. } => {
                format!("{}: no column {wanted:?} in the header", file.display())
            }
            DataError::DuplicateHeader {
                file,
                first,
                second,
                ..
            } => format!(
                "{}: the header names one column twice (fields {first} and {second})",
                file.display()
            ),
            DataError::BadField {
                location, expected, ..
            } => format!("{location}: expected {expected}"),
            DataError::Format { file, .. } => {
                format!("{}: not a readable CSV or Parquet table", file.display())
            }
            other => other.to_string(),
        }
    }
}

pub type Result<T, E = DataError> = std::result::Result<T, E>;
