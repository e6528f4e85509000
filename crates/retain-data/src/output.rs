//! Writing result tables as CSV, Parquet or JSON lines, and any other output file. Files are
//! written to a temporary file beside the target and renamed into place ([`AtomicFile`]), so a
//! failed write (a full disk) never leaves a half file where a good one was, or where none was.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, SchemaRef};
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
    let mut writer = TableWriter::create(path, batch.schema())?;
    writer.write(batch)?;
    writer.commit()
}

/// A table written batch by batch to `path` (format by extension), appearing whole at
/// [`TableWriter::commit`]: a result too big to hold streams through it.
pub struct TableWriter {
    path: PathBuf,
    sink: TableSink,
    rows: u64,
}

enum TableSink {
    Csv(AtomicFile),
    JsonLines(AtomicFile),
    Parquet(Box<ArrowWriter<AtomicFile>>),
}

impl TableWriter {
    pub fn create(path: &Path, schema: SchemaRef) -> Result<TableWriter> {
        let mut file = AtomicFile::create(path)?;
        let sink = match TableFormat::from_path(path) {
            TableFormat::Parquet => TableSink::Parquet(Box::new(
                ArrowWriter::try_new(file, schema, None).map_err(|e| write_error(path, e))?,
            )),
            TableFormat::Csv => {
                write_csv_header(&schema, &mut file).map_err(|e| write_error(path, e))?;
                TableSink::Csv(file)
            }
            TableFormat::JsonLines => TableSink::JsonLines(file),
        };
        Ok(TableWriter {
            path: path.into(),
            sink,
            rows: 0,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let path = &self.path;
        match &mut self.sink {
            TableSink::Csv(file) => {
                write_csv_rows(batch, file).map_err(|e| write_error(path, e))?
            }
            TableSink::JsonLines(file) => {
                write_json_lines(batch, file).map_err(|e| write_error(path, e))?
            }
            TableSink::Parquet(writer) => writer.write(batch).map_err(|e| write_error(path, e))?,
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Finishes the file and puts it in place.
    pub fn commit(self) -> Result<()> {
        let file = match self.sink {
            TableSink::Csv(file) | TableSink::JsonLines(file) => file,
            TableSink::Parquet(writer) => writer
                .into_inner()
                .map_err(|e| write_error(&self.path, e))?,
        };
        file.commit()
    }
}

/// Writes `bytes` to `path` atomically: a saved model, an exported artifact.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes).map_err(|e| write_error(path, e))?;
    file.commit()
}

/// A file written beside its target under a temporary name and renamed onto the target by
/// [`AtomicFile::commit`]: readers see the old file or the whole new one, never a part. Dropped
/// without a commit (an error on the way), it removes its temporary file and the target is
/// untouched.
pub struct AtomicFile {
    target: PathBuf,
    temporary: PathBuf,
    writer: Option<BufWriter<File>>,
    renamed: bool,
}

impl AtomicFile {
    /// Creates the temporary file in the target's folder (a rename stays on one file system).
    pub fn create(target: &Path) -> Result<AtomicFile> {
        let folder = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !folder.is_dir() {
            return Err(DataError::NoFolder {
                path: target.into(),
                folder: folder.into(),
            });
        }
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // The process id keeps two runs writing the same target from sharing a temporary file;
        // the counter, two writers of one process.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let temporary = folder.join(format!(
            ".{name}.{}-{}.tmp",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let file = File::create(&temporary).map_err(|e| write_error(target, e))?;
        Ok(AtomicFile {
            target: target.into(),
            temporary,
            writer: Some(BufWriter::with_capacity(1 << 20, file)),
            renamed: false,
        })
    }

    /// The file the writes are for.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes, syncs to disk (a crash after the rename must not leave an empty target) and
    /// renames the temporary file onto the target.
    pub fn commit(mut self) -> Result<()> {
        let writer = self
            .writer
            .take()
            .expect("an uncommitted file has its writer");
        let file = writer
            .into_inner()
            .map_err(|e| write_error(&self.target, e.into_error()))?;
        file.sync_all().map_err(|e| write_error(&self.target, e))?;
        drop(file);
        // On an error, drop removes the temporary file.
        std::fs::rename(&self.temporary, &self.target).map_err(|e| write_error(&self.target, e))?;
        self.renamed = true;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer
            .as_mut()
            .expect("an uncommitted file has its writer")
            .write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer
            .as_mut()
            .expect("an uncommitted file has its writer")
            .flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // Not committed (or the rename failed): the partial file goes, the target stays as it
        // was. The buffer is dropped unwritten.
        if let Some(writer) = self.writer.take() {
            let _ = writer.into_parts();
        }
        if !self.renamed {
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

/// The error of a failed write of `path`; `source` is kept (an `std::io::Error` below it says
/// whether the disk is full).
pub(crate) fn write_error(
    path: &Path,
    source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> DataError {
    DataError::Write {
        path: path.into(),
        source: source.into(),
    }
}

/// A column of a batch, typed once for writing its cells.
enum CellColumn<'a> {
    Text(&'a datafusion::arrow::array::StringArray),
    Integers(&'a datafusion::arrow::array::Int64Array),
    Floats(&'a datafusion::arrow::array::Float64Array),
    Other(&'a dyn Array),
}

impl<'a> CellColumn<'a> {
    fn new(column: &'a dyn Array) -> Self {
        match column.data_type() {
            DataType::Utf8 => CellColumn::Text(column.as_string::<i32>()),
            DataType::Int64 => CellColumn::Integers(column.as_primitive::<Int64Type>()),
            DataType::Float64 => CellColumn::Floats(column.as_primitive::<Float64Type>()),
            _ => CellColumn::Other(column),
        }
    }
}

/// Appends `v` exactly as `{}` prints it: the shortest digits that read back as `v`, never in
/// exponent form. ryu finds the digits; its exponent forms (below 1e-5, from 1e16) go to `{}`.
fn push_float(out: &mut String, v: f64, _digits: &mut ryu::Buffer) {
    // ryu and Display both give a shortest round-trip form but choose differently between two
    // equally short ones (1658206780088562.2 or .3): Display, so that output stays as before.
    use std::fmt::Write as _;
    let _ = write!(out, "{v}");
}

/// One cell as text: integers plainly, floats in their shortest round-trip form, text as is.
fn cell(column: &dyn Array, row: usize, out: &mut String) {
    push_cell(&CellColumn::new(column), row, out, &mut ryu::Buffer::new());
}

fn push_cell(column: &CellColumn, row: usize, out: &mut String, digits: &mut ryu::Buffer) {
    match column {
        CellColumn::Text(a) if !a.is_null(row) => out.push_str(a.value(row)),
        CellColumn::Integers(a) if !a.is_null(row) => {
            out.push_str(itoa::Buffer::new().format(a.value(row)))
        }
        CellColumn::Floats(a) if !a.is_null(row) => push_float(out, a.value(row), digits),
        CellColumn::Other(a) if !a.is_null(row) => out.push_str(
            &datafusion::arrow::util::display::array_value_to_string(*a, row).unwrap_or_default(),
        ),
        _ => {}
    }
}

/// CSV with a header; text cells quoted when they need it.
pub fn write_csv(batch: &RecordBatch, w: &mut impl Write) -> std::io::Result<()> {
    write_csv_header(&batch.schema(), w)?;
    write_csv_rows(batch, w)
}

/// The header line of [`write_csv`].
pub fn write_csv_header(schema: &SchemaRef, w: &mut impl Write) -> std::io::Result<()> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    writeln!(w, "{}", names.join(","))
}

/// The rows of [`write_csv`], without the header.
pub fn write_csv_rows(batch: &RecordBatch, w: &mut impl Write) -> std::io::Result<()> {
    let columns: Vec<CellColumn> = batch
        .columns()
        .iter()
        .map(|c| CellColumn::new(c.as_ref()))
        .collect();
    let mut digits = ryu::Buffer::new();
    let mut lines = String::with_capacity(1 << 16);
    let mut value = String::with_capacity(64);
    for row in 0..batch.num_rows() {
        for (c, column) in columns.iter().enumerate() {
            if c > 0 {
                lines.push(',');
            }
            // Numbers never need quotes.
            if let CellColumn::Integers(_) | CellColumn::Floats(_) = column {
                push_cell(column, row, &mut lines, &mut digits);
                continue;
            }
            value.clear();
            push_cell(column, row, &mut value, &mut digits);
            if value.contains([',', '"', '\n', '\r']) {
                lines.push('"');
                lines.push_str(&value.replace('"', "\"\""));
                lines.push('"');
            } else {
                lines.push_str(&value);
            }
        }
        lines.push('\n');
        if lines.len() >= 1 << 16 {
            w.write_all(lines.as_bytes())?;
            lines.clear();
        }
    }
    w.write_all(lines.as_bytes())
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

    #[test]
    fn floats_are_written_as_display_writes_them() {
        // Every kind of double: random bit patterns (all exponents, subnormals), decimals with
        // few digits, integers around 2^53 and the edges of ryu's plain form (1e-5, 1e16).
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut values = vec![
            0.0,
            -0.0,
            1.0,
            -1.5,
            0.1,
            1e-5,
            9.99e-6,
            1e16,
            9.999999999999998e15,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            9007199254740993.0,
        ];
        for _ in 0..200_000 {
            let bits = next();
            values.push(f64::from_bits(bits));
            values.push((bits % 10_000_000) as f64 / 100.0);
            values.push((bits % (1 << 54)) as f64);
        }
        let mut digits = ryu::Buffer::new();
        for v in values {
            let mut ours = String::new();
            push_float(&mut ours, v, &mut digits);
            assert_eq!(ours, format!("{v}"), "{:#x}", v.to_bits());
        }
    }

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
        let error = write_table(&sample(), &dir.path().join("missing/out.csv")).unwrap_err();
        assert!(matches!(error, DataError::NoFolder { .. }), "{error}");
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

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_write_given_up_half_way_leaves_neither_a_partial_target_nor_a_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.json");
        std::fs::write(&path, "the old model").unwrap();
        {
            let mut file = AtomicFile::create(&path).unwrap();
            file.write_all(&[b'x'; 3 << 20]).unwrap();
            // An error here returns early with `?`: the file is dropped uncommitted.
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "the old model");
        assert_eq!(names_in(dir.path()), ["model.json"]);

        // The rename fails (the target is a folder): the written temporary file goes too.
        let folder = dir.path().join("taken");
        std::fs::create_dir(&folder).unwrap();
        let error = write_table(&sample(), &folder).unwrap_err();
        assert!(
            matches!(&error, DataError::Write { source, .. } if source.is::<std::io::Error>()),
            "{error:?}"
        );
        assert_eq!(names_in(dir.path()), ["model.json", "taken"]);
        assert!(std::fs::read_dir(&folder).unwrap().next().is_none());

        write_file(&path, b"the new model").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "the new model");
        assert_eq!(names_in(dir.path()), ["model.json", "taken"]);
    }
}
