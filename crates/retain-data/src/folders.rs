//! Folders of Parquet files as logs, hive-partitioned or not: a folder given as an input stands
//! for every `*.parquet` file beneath it, in path order, and a `key=value` folder on a file's
//! path is a column of its rows (`country=UK/part-0.parquet` has a `country` column "UK"), as
//! Hive, Spark, DuckDB and polars lay out and read tables.

use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};

/// The inputs with each folder replaced by the Parquet files beneath it (an error when a folder
/// holds none, so that a typo is not an empty log).
pub fn expand_folders(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::with_capacity(inputs.len());
    for input in inputs {
        if !input.is_dir() {
            files.push(input.clone());
            continue;
        }
        let before = files.len();
        walk(input, &mut files)?;
        if files.len() == before {
            return Err(DataError::Empty {
                file: input.clone(),
                what: "the folder holds no .parquet file".into(),
            });
        }
    }
    Ok(files)
}

fn walk(folder: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let io = |source| DataError::Io {
        path: folder.into(),
        source,
    };
    let mut entries = std::fs::read_dir(folder)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(io)?;
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        // Spark's and Hadoop's markers and temporary files: `_SUCCESS`, `.part-0.crc`.
        if name.starts_with('_') || name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            walk(&path, files)?;
        } else if name.ends_with(".parquet") {
            files.push(path);
        }
    }
    Ok(())
}

/// The `key=value` folders on a file's path, nearest last; values decoded as Hive writes them
/// (`%XX` escapes; `__HIVE_DEFAULT_PARTITION__` is a missing value).
pub(crate) fn partition_values(file: &Path) -> Vec<(String, Option<String>)> {
    let mut values: Vec<(String, Option<String>)> = Vec::new();
    let Some(parent) = file.parent() else {
        return values;
    };
    for component in parent.components() {
        let Some(text) = component.as_os_str().to_str() else {
            continue;
        };
        let Some((key, value)) = text.split_once('=') else {
            continue;
        };
        if key.is_empty() {
            continue;
        }
        let value = (value != "__HIVE_DEFAULT_PARTITION__").then(|| unescape(value));
        // A key repeated deeper down wins, as the nearer folder describes the file.
        values.retain(|(k, _)| k != key);
        values.push((unescape(key), value));
    }
    values
}

fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap() * 16 + hex(l).unwrap()) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_folders_are_columns_and_their_values_are_decoded() {
        let values = partition_values(Path::new(
            "/data/sales/country=United%20Kingdom/year=2011/store=__HIVE_DEFAULT_PARTITION__/part-0.parquet",
        ));
        assert_eq!(
            values,
            [
                ("country".to_string(), Some("United Kingdom".to_string())),
                ("year".to_string(), Some("2011".to_string())),
                ("store".to_string(), None),
            ]
        );
        assert!(partition_values(Path::new("plain/file.parquet")).is_empty());
    }

    #[test]
    fn a_folder_stands_for_its_parquet_files_in_path_order() {
        let dir = tempfile::tempdir().unwrap();
        for p in [
            "b=2/x.parquet",
            "b=1/y.parquet",
            "b=1/_SUCCESS",
            "b=1/.y.parquet.crc",
        ] {
            let path = dir.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"").unwrap();
        }
        let files = expand_folders(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|f| f.strip_prefix(dir.path()).unwrap().to_path_buf())
            .collect();
        assert_eq!(
            names,
            [
                PathBuf::from("b=1/y.parquet"),
                PathBuf::from("b=2/x.parquet")
            ]
        );
        let empty = tempfile::tempdir().unwrap();
        assert!(expand_folders(&[empty.path().to_path_buf()]).is_err());
    }
}
