//! Where a step's customers come from: a transaction log (read into purchase days, or
//! summarised by the DataFusion plan), or a per-customer summary file as `retain summarize` and
//! lifetimes write it.

use std::path::{Path, PathBuf};

use std::sync::Arc;

use retain_data::datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, RecordBatch, StringArray,
};
use retain_data::datafusion::arrow::compute::cast;
use retain_data::datafusion::arrow::datatypes::DataType;
use retain_data::datafusion::arrow::datatypes::{Field, Schema};
use retain_data::{
    read_customer_table, CustomerTableOptions, Engine, Period, PurchaseHistory, ReadOptions,
    Summary,
};

use crate::error::invalid;
use crate::Result;

/// A transaction log: its files, how to read them, and where (here, or on a cluster).
#[derive(Debug, Clone, Default)]
pub struct Log {
    pub files: Vec<PathBuf>,
    pub read: ReadOptions,
    pub engine: Engine,
}

impl Log {
    /// Each customer's purchase days (merged per day) and the first and last of them; an error
    /// when the log has no usable transaction.
    pub fn history(&self) -> Result<(PurchaseHistory, (i32, i32))> {
        let read = ReadOptions {
            period: Period::Day,
            ..self.read.clone()
        };
        let history = PurchaseHistory::read_on(&self.files, read, &self.engine)?;
        match history.span() {
            Some(span) => Ok((history, span)),
            None => Err(invalid!("the log has no usable transactions")),
        }
    }
}

/// The per-customer columns the purchase and spend models read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SummaryColumns {
    /// Customer ids, when the input has them (a log always does; a summary file when it has a
    /// `customer_id` column).
    pub ids: Option<Vec<String>>,
    pub frequency: Vec<f64>,
    pub recency: Vec<f64>,
    pub t: Vec<f64>,
    pub monetary: Option<Vec<f64>>,
    /// How many customers each row stands for (collapsed rows).
    pub weights: Option<Vec<f64>>,
}

impl SummaryColumns {
    /// The summaries of `customers` (indices into the history, each with a purchase by `day`)
    /// at `day`, in units of `unit_days` days; monetary value when the log has amounts.
    pub fn of_history(
        history: &PurchaseHistory,
        customers: &[usize],
        day: i32,
        unit_days: f64,
    ) -> SummaryColumns {
        let s = retain_data::features::repeat_summary(history, customers, day, unit_days);
        SummaryColumns {
            ids: Some(
                customers
                    .iter()
                    .map(|&k| history.id(k).to_string())
                    .collect(),
            ),
            frequency: s.x,
            recency: s.t_x,
            t: s.t,
            monetary: history.has_amounts.then_some(s.monetary),
            weights: None,
        }
    }

    /// The columns of a summary computed from a log (`retain_data::summarize`).
    pub fn from_summary(summary: &Summary, need_monetary: bool) -> Result<SummaryColumns> {
        let monetary = summary.values("monetary_value");
        if need_monetary && monetary.is_none() {
            return Err(crate::PipelineError::missing(
                "amount",
                "the transactions have no amounts: name the amount column (or the quantity and \
                 price columns)",
            ));
        }
        let ids = summary.customer_ids();
        Ok(SummaryColumns {
            ids: Some((0..ids.len()).map(|i| ids.value(i).to_string()).collect()),
            frequency: summary.values("frequency").unwrap_or_default(),
            recency: summary.values("recency").unwrap_or_default(),
            t: summary.values("T").unwrap_or_default(),
            monetary,
            weights: None,
        })
    }

    pub fn len(&self) -> usize {
        self.frequency.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frequency.is_empty()
    }

    /// How row `i` is named in messages: its customer id, or (a summary without ids) its
    /// 1-based row.
    pub fn name_of(&self, i: usize) -> String {
        match &self.ids {
            Some(ids) => format!("customer {}", ids[i]),
            None => format!("customer row {}", i + 1),
        }
    }
}

/// One row per customer: the ids, then number columns by name (the per-customer outputs of
/// CLV and predictions).
pub fn customer_batch(ids: &[String], columns: &[(&str, &[f64])]) -> RecordBatch {
    let mut fields = vec![Field::new("customer_id", DataType::Utf8, false)];
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(StringArray::from_iter_values(ids))];
    for (name, values) in columns {
        fields.push(Field::new(*name, DataType::Float64, false));
        arrays.push(Arc::new(Float64Array::from(values.to_vec())));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .expect("columns of one length and the schema's types")
}

/// A per-customer summary file and the names of its columns.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryFile {
    pub path: PathBuf,
    pub frequency_col: String,
    pub recency_col: String,
    /// T's column; `None`: "T" ("periods" for BG/BB, see [`SummaryFile::load`]).
    pub t_col: Option<String>,
    pub monetary_col: String,
    pub weights_col: Option<String>,
}

impl SummaryFile {
    /// A file with lifetimes' column names.
    pub fn new(path: impl Into<PathBuf>) -> SummaryFile {
        SummaryFile {
            path: path.into(),
            frequency_col: "frequency".into(),
            recency_col: "recency".into(),
            t_col: None,
            monetary_col: "monetary_value".into(),
            weights_col: None,
        }
    }

    /// Reads the columns, with `default_t_col` as T's column unless [`Self::t_col`] names one.
    pub fn load(&self, need_monetary: bool, default_t_col: &str) -> Result<SummaryColumns> {
        load_file(self, &self.path, need_monetary, default_t_col)
    }
}

fn load_file(
    file: &SummaryFile,
    path: &Path,
    need_monetary: bool,
    default_t_col: &str,
) -> Result<SummaryColumns> {
    let table = read_customer_table(
        path,
        &CustomerTableOptions {
            id_col: None,
            ..CustomerTableOptions::default()
        },
    )?;
    let column = |name: &str, role: &str| table.required_numbers(name, role);
    let ids = table
        .columns
        .iter()
        .position(|c| c.name == "customer_id")
        .map(|i| {
            let text =
                cast(table.batch.column(i), &DataType::Utf8).expect("any column casts to text");
            let text = text.as_string::<i32>();
            (0..text.len()).map(|r| text.value(r).to_string()).collect()
        });
    Ok(SummaryColumns {
        ids,
        frequency: column(&file.frequency_col, "frequency-col")?,
        recency: column(&file.recency_col, "recency-col")?,
        t: column(file.t_col.as_deref().unwrap_or(default_t_col), "t-col")?,
        monetary: if need_monetary {
            Some(column(&file.monetary_col, "monetary-col")?)
        } else {
            None
        },
        weights: file
            .weights_col
            .as_deref()
            .map(|c| column(c, "weights-col"))
            .transpose()?,
    })
}
