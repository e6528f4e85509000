//! Text and file-format plumbing shared by the transaction and customer-table readers: format
//! detection from the bytes, delimiter sniffing, records with their line numbers, header names,
//! column lookup with helpful errors, and the bad-rows file.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::{DataError, Result, RowError};
use crate::output::{write_error, AtomicFile};

/// What a file holds, from its first bytes (not its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    Text { gzip: bool },
    Parquet,
}

pub(crate) fn detect(path: &Path) -> Result<FileKind> {
    let mut file = File::open(path).map_err(|source| DataError::Io {
        path: path.into(),
        source,
    })?;
    let mut magic = [0u8; 4];
    let n = read_up_to(&mut file, &mut magic).map_err(|source| DataError::Io {
        path: path.into(),
        source,
    })?;
    Ok(if n == 4 && &magic == b"PAR1" {
        FileKind::Parquet
    } else {
        FileKind::Text {
            gzip: n >= 2 && magic[..2] == [0x1f, 0x8b],
        }
    })
}

/// A text file opened for records, with its first record already read.
pub(crate) struct TextFile {
    pub records: Records,
    pub first: csv::ByteRecord,
    pub first_line: u64,
    /// The delimiter, sniffed if it was `Auto`.
    pub delimiter: Delimiter,
}

impl TextFile {
    pub(crate) fn open(path: &Path, delimiter: Delimiter, gzip: bool) -> Result<TextFile> {
        // Peek at the first line to choose the delimiter.
        let mut first_line = Vec::new();
        BufReader::new(open_text(path, gzip)?)
            .take(1 << 20)
            .read_until(b'\n', &mut first_line)
            .map_err(|source| DataError::Io {
                path: path.into(),
                source,
            })?;
        if first_line.trim_ascii().is_empty() {
            return Err(DataError::Empty {
                file: path.into(),
                what: "the file is empty (or its first line is blank): expected a header or a first row".into(),
            });
        }
        let delimiter = match delimiter {
            Delimiter::Auto => sniff_delimiter(&first_line),
            d => d,
        };
        let mut records = Records::new(open_text(path, gzip)?, delimiter);
        let mut first = csv::ByteRecord::new();
        let first_line = records.next(&mut first, path)?.unwrap_or(1);
        Ok(TextFile {
            records,
            first,
            first_line,
            delimiter,
        })
    }

    /// The first record as header names (trimmed, a UTF-8 byte-order mark dropped).
    pub(crate) fn header_names(&self, path: &Path) -> Result<Vec<String>> {
        let mut names = Vec::with_capacity(self.first.len());
        for (i, f) in self.first.iter().enumerate() {
            let name = std::str::from_utf8(f).map_err(|_| DataError::Format {
                file: path.into(),
                message: format!(
                    "line {}: header field {} is not valid UTF-8; convert the file to UTF-8",
                    self.first_line,
                    i + 1
                ),
            })?;
            names.push(name.trim_start_matches('\u{feff}').trim().to_string());
        }
        Ok(names)
    }
}

/// The fields of a record as text, for messages and the bad-rows file.
pub(crate) fn fields_of(record: &csv::ByteRecord) -> Vec<String> {
    record
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

/// Field separator of a text file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Delimiter {
    /// Guessed from the first line: the most frequent of `,` `;` tab `|`, else whitespace.
    #[default]
    Auto,
    Byte(u8),
    /// Runs of spaces or tabs, leading and trailing ones ignored (fixed-width exports such as
    /// CDNOW_sample.txt). No quoting.
    Whitespace,
}

/// Whether the first line of a text file is a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum HeaderMode {
    /// A header, unless every column is given by number and the first line's date field parses
    /// as a date.
    #[default]
    Auto,
    Present,
    Absent,
}

/// Writes rejected rows, one per line, with where they were and why. The file appears whole
/// when reading ends ([`BadRowSink::finish`]); a run that fails on the way leaves none.
pub(crate) struct BadRowSink {
    writer: csv::Writer<AtomicFile>,
}

impl BadRowSink {
    pub(crate) fn create(path: &Path) -> Result<Self> {
        let mut writer = csv::Writer::from_writer(AtomicFile::create(path)?);
        writer
            .write_record(["file", "line", "column", "reason", "record"])
            .map_err(|e| csv_write_error(path, e))?;
        Ok(BadRowSink { writer })
    }

    fn path(&self) -> &Path {
        self.writer.get_ref().target()
    }

    pub(crate) fn write(&mut self, error: &RowError) -> Result<()> {
        let loc = &error.location;
        let line = loc.line.map(|l| l.to_string()).unwrap_or_default();
        let result = self.writer.write_record([
            loc.file.display().to_string(),
            line,
            loc.column.clone().unwrap_or_default(),
            error.problem.to_string(),
            error.record.join("|"),
        ]);
        result.map_err(|e| csv_write_error(self.path(), e))
    }

    pub(crate) fn finish(self) -> Result<PathBuf> {
        let path = self.path().to_path_buf();
        let file = self
            .writer
            .into_inner()
            .map_err(|e| write_error(&path, e.into_error()))?;
        file.commit()?;
        Ok(path)
    }
}

/// A failed write of the CSV writer, its I/O error kept as the source.
fn csv_write_error(path: &Path, e: csv::Error) -> DataError {
    match e.into_kind() {
        csv::ErrorKind::Io(source) => write_error(path, source),
        other => write_error(path, format!("{other:?}")),
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

pub(crate) fn find_column(
    file: &Path,
    header: Option<&[String]>,
    names: &[String],
    wanted: &str,
    flag: &str,
) -> Result<usize> {
    if let Some(header) = header {
        let mut hits = header
            .iter()
            .enumerate()
            .filter(|(_, n)| n.as_str() == wanted)
            .map(|(i, _)| i);
        if let Some(first) = hits.next() {
            if let Some(second) = hits.next() {
                return Err(DataError::DuplicateHeader {
                    file: file.into(),
                    name: wanted.into(),
                    first: first + 1,
                    second: second + 1,
                    hint: format!(" so that --{flag} is unambiguous"),
                });
            }
            return Ok(first);
        }
    }
    if let Ok(number) = wanted.parse::<usize>() {
        if number >= 1 && number <= names.len() {
            return Ok(number - 1);
        }
        return Err(DataError::ColumnOutOfRange {
            file: file.into(),
            number,
            fields: names.len(),
        });
    }
    let Some(header) = header else {
        return Err(DataError::Option(format!(
            "--{flag} {wanted:?}: {} has no header, so columns are chosen by number (1 = first)",
            file.display()
        )));
    };
    // Near: equal once case, spaces and punctuation are ignored (customer_id ~ CustomerID).
    let key = |s: &str| {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect::<String>()
    };
    let near = header.iter().find(|n| key(n) == key(wanted));
    let hint = match near {
        Some(n) => format!("; did you mean {n:?}? (pass --{flag} {n:?})"),
        None => format!("; choose one with --{flag}"),
    };
    Err(DataError::MissingColumn {
        file: file.into(),
        wanted: wanted.into(),
        available: header
            .iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", "),
        hint,
    })
}

/// Records of a delimited or whitespace-aligned text file, with their line numbers.
pub(crate) enum Records {
    Csv(csv::Reader<Box<dyn Read + Send>>),
    Whitespace {
        reader: BufReader<Box<dyn Read + Send>>,
        line: u64,
        buf: Vec<u8>,
    },
}

impl Records {
    /// Records of `input` split by a resolved delimiter (`Byte` or `Whitespace`).
    pub(crate) fn new(input: Box<dyn Read + Send>, delimiter: Delimiter) -> Records {
        match delimiter {
            Delimiter::Byte(d) => Records::Csv(
                csv::ReaderBuilder::new()
                    .delimiter(d)
                    .has_headers(false)
                    .flexible(true)
                    .buffer_capacity(1 << 20)
                    .from_reader(input),
            ),
            _ => Records::Whitespace {
                reader: BufReader::with_capacity(1 << 20, input),
                line: 0,
                buf: Vec::new(),
            },
        }
    }

    /// Reads the next record into `record`; returns its line number, `None` at the end.
    pub(crate) fn next(
        &mut self,
        record: &mut csv::ByteRecord,
        file: &Path,
    ) -> Result<Option<u64>> {
        match self {
            Records::Csv(reader) => match reader.read_byte_record(record) {
                Ok(true) => Ok(Some(record.position().map_or(0, |p| p.line()))),
                Ok(false) => Ok(None),
                Err(e) => Err(csv_error(file, e)),
            },
            Records::Whitespace { reader, line, buf } => loop {
                buf.clear();
                let n = reader
                    .read_until(b'\n', buf)
                    .map_err(|source| DataError::Io {
                        path: file.into(),
                        source,
                    })?;
                if n == 0 {
                    return Ok(None);
                }
                *line += 1;
                record.clear();
                for field in buf
                    .split(|b| b.is_ascii_whitespace())
                    .filter(|f| !f.is_empty())
                {
                    record.push_field(field);
                }
                if !record.is_empty() {
                    return Ok(Some(*line));
                }
            },
        }
    }
}

fn csv_error(file: &Path, e: csv::Error) -> DataError {
    let line = e.position().map(|p| p.line());
    match e.into_kind() {
        csv::ErrorKind::Io(source) => DataError::Io {
            path: file.into(),
            source,
        },
        other => DataError::Format {
            file: file.into(),
            message: format!(
                "{}{other:?}",
                line.map(|l| format!("line {l}: ")).unwrap_or_default()
            ),
        },
    }
}

pub(crate) fn open_text(path: &Path, gzip: bool) -> Result<Box<dyn Read + Send>> {
    let file = File::open(path).map_err(|source| DataError::Io {
        path: path.into(),
        source,
    })?;
    let reader: Box<dyn Read + Send> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            1 << 16,
            file,
        )))
    } else {
        Box::new(file)
    };
    Ok(reader)
}

fn sniff_delimiter(first_line: &[u8]) -> Delimiter {
    let candidates = [b',', b';', b'\t', b'|'];
    let best = candidates
        .iter()
        .map(|&c| (first_line.iter().filter(|&&b| b == c).count(), c))
        .max_by_key(|(n, _)| *n)
        .filter(|(n, _)| *n > 0);
    match best {
        Some((_, c)) => Delimiter::Byte(c),
        None => Delimiter::Whitespace,
    }
}
