//! Writing result tables as CSV, Parquet or JSON lines. Files are written to a temporary file
//! beside the target and renamed into place, so a failed write never leaves a half file where a
//! good one was.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::parquet::arrow::ArrowWriter;

use crate::error::{DataError, Result};

/// A table file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    Csv,
    Parquet,
    JsonLines,
}

impl TableFormat {
    /// The format a path's extension names: `.parquet`/`.pq`, `.jsonl`/`.ndjson`/`.json`, else CSV.
    pub fn from_path(path: &Path) -> TableFormat {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref()
        {
            Some("parquet" | "pq") => TableFormat::Parquet,
            Some("jsonl" | "ndjson" | "json") => TableFormat::JsonLines,
            _ => TableFormat::Csv,
        }
    }
}

/// Writes `batch` to `path` in the format its extension names, atomically.
pub fn write_table(batch: &RecordBatch, path: &Path) -> Result<()> {
    let format = TableFormat::from_path(path);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile_in(dir, path)?;
    let result = (|| -> Result<()> {
        let file = File::create(&tmp).map_err(|source| DataError::Io {
            path: tmp.clone(),
            source,
        })?;
        match format {
            TableFormat::Parquet => {
                let mut writer = ArrowWriter::try_new(file, batch.schema(), None)
                    .map_err(|e| write_err(path, e))?;
                writer.write(batch).map_err(|e| write_err(path, e))?;
                writer.close().map_err(|e| write_err(path, e))?;
            }
            TableFormat::Csv => {
                let mut w = BufWriter::with_capacity(1 << 20, file);
                write_csv(batch, &mut w).map_err(|e| write_err(path, e))?;
                w.into_inner()
                    .map_err(|e| write_err(path, e))?
                    .sync_all()
                    .map_err(|e| write_err(path, e))?;
            }
            TableFormat::JsonLines => {
                let mut w = BufWriter::with_capacity(1 << 20, file);
                write_json_lines(batch, &mut w).map_err(|e| write_err(path, e))?;
                w.into_inner()
                    .map_err(|e| write_err(path, e))?
                    .sync_all()
                    .map_err(|e| write_err(path, e))?;
            }
        }
        std::fs::rename(&tmp, path).map_err(|source| DataError::Io {
            path: path.into(),
            source,
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn tempfile_in(dir: &Path, target: &Path) -> Result<PathBuf> {
    if !dir.is_dir() {
        return Err(DataError::Write {
            path: target.into(),
            message: format!("folder {} does not exist", dir.display()),
        });
    }
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(dir.join(format!(".{name}.{}.tmp", std::process::id())))
}

fn write_err(path: &Path, e: impl std::fmt::Display) -> DataError {
    DataError::Write {
        path: path.into(),
        message: e.to_string(),
    }
}

/// One cell as text: integers plainly, floats in their shortest round-trip form, text as is.
fn cell(column: &dyn Array, row: usize, out: &mut String) {
    use std::fmt::Write as _;
    if column.is_null(row) {
        return;
    }
    match column.data_type() {
        DataType::Utf8 => out.push_str(column.as_string::<i32>().value(row)),
        DataType::Int64 => {
            let _ = write!(out, "{}", column.as_primitive::<Int64Type>().value(row));
        }
        DataType::Float64 => {
            let _ = write!(out, "{}", column.as_primitive::<Float64Type>().value(row));
        }
        _ => out.push_str(
            &datafusion::arrow::util::display::array_value_to_string(column, row)
                .unwrap_or_default(),
        ),
    }
}

/// CSV with a header; text cells quoted when they need it.
pub fn write_csv(batch: &RecordBatch, w: &mut impl Write) -> std::io::Result<()> {
    let schema = batch.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    writeln!(w, "{}", names.join(","))?;
    let mut line = String::with_capacity(256);
    let mut value = String::with_capacity(64);
    for row in 0..batch.num_rows() {
        line.clear();
        for (c, column) in batch.columns().iter().enumerate() {
            if c > 0 {
                line.push(',');
            }
            value.clear();
            cell(column.as_ref(), row, &mut value);
            if value.contains([',', '"', '\n', '\r']) {
                line.push('"');
                line.push_str(&value.replace('"', "\"\""));
                line.push('"');
            } else {
                line.push_str(&value);
            }
        }
        line.push('\n');
        w.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// One JSON object per row.
pub fn write_json_lines(batch: &RecordBatch, w: &mut impl Write) -> std::io::Result<()> {
    let schema = batch.schema();
    let keys: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| serde_json::to_string(f.name()).unwrap())
        .collect();
    let mut value = String::with_capacity(64);
    for row in 0..batch.num_rows() {
        w.write_all(b"{")?;
        for (c, column) in batch.columns().iter().enumerate() {
            if c > 0 {
                w.write_all(b",")?;
            }
            write!(w, "{}:", keys[c])?;
            value.clear();
            cell(column.as_ref(), row, &mut value);
            match column.data_type() {
                _ if column.is_null(row) => w.write_all(b"null")?,
                DataType::Float64 | DataType::Int64 => w.write_all(value.as_bytes())?,
                _ => w.write_all(serde_json::to_string(&value).unwrap().as_bytes())?,
            }
        }
        w.write_all(b"}\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    fn sample() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Utf8, false),
            Field::new("frequency", DataType::Int64, false),
            Field::new("T", DataType::Float64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["a", "b,\"c\""])),
                Arc::new(Int64Array::from(vec![2, 0])),
                Arc::new(Float64Array::from(vec![38.857142857142854, 0.0])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn csv_and_json_lines() {
        let mut out = Vec::new();
        write_csv(&sample(), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "customer_id,frequency,T\na,2,38.857142857142854\n\"b,\"\"c\"\"\",0,0\n"
        );
        let mut out = Vec::new();
        write_json_lines(&sample(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["T"], 38.857142857142854);
        assert_eq!(first["frequency"], 2);
    }

    #[test]
    fn failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        write_table(&sample(), &path).unwrap();
        let before = std::fs::read(&path).unwrap();
        // A target in a missing folder fails before touching anything.
        assert!(write_table(&sample(), &dir.path().join("missing/out.csv")).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), before);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary files left behind");
        // Parquet round-trips.
        let pq = dir.path().join("out.parquet");
        write_table(&sample(), &pq).unwrap();
        let reader =
            datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                File::open(&pq).unwrap(),
            )
            .unwrap()
            .build()
            .unwrap();
        let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
        assert_eq!(batches[0], sample());
    }
}
