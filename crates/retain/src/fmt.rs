//! Terminal output: thousands separators, fixed decimals, aligned tables, the ingest report.

use std::path::Path;

use retain_data::datafusion::arrow::array::RecordBatch;
use retain_data::dates::format_day;
use retain_data::output::{write_csv, write_table};
use retain_data::{IngestReport, SummaryReport};

pub use retain_data::thousands;

/// A money amount with thousands separators and two decimals.
pub fn money(v: f64) -> String {
    let cents = (v.abs() * 100.0).round() as u64;
    let sign = if v < 0.0 { "-" } else { "" };
    format!("{sign}{}.{:02}", thousands(cents / 100), cents % 100)
}

pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".into();
    }
    format!("{:.1}%", 100.0 * part as f64 / whole as f64)
}

/// Renders rows under a header, numbers right-aligned, text left-aligned.
/// A model parameter for people: 4 decimals, or scientific notation when huge or tiny.
pub fn param(v: f64) -> String {
    if v != 0.0 && !(1e-3..1e6).contains(&v.abs()) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

/// A p-value for people, as the end of "p …": "= 0.049", "= 7.70e-5", or "< 1e-300" when it
/// is below the smallest double.
pub fn p_clause(p: f64) -> String {
    if p == 0.0 {
        "< 1e-300".into()
    } else if p < 1e-3 {
        format!("= {p:.2e}")
    } else {
        format!("= {p:.3}")
    }
}

pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let numeric: Vec<bool> = (0..header.len())
        .map(|c| {
            rows.iter().all(|r| {
                r.get(c).is_some_and(|v| {
                    v.replace([',', '.', '-', '%', '$'], "")
                        .chars()
                        .all(|ch| ch.is_ascii_digit())
                })
            })
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(c, v)| {
                if numeric[c] {
                    format!("{v:>w$}", w = widths[c])
                } else {
                    format!("{v:<w$}", w = widths[c])
                }
            })
            .collect();
        format!("  {}\n", parts.join("  ").trim_end())
    };
    let mut out = line(header.to_vec());
    out.push_str(&line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(|s| s.as_str())
            .collect(),
    ));
    for row in rows {
        out.push_str(&line(row.iter().map(|s| s.as_str()).collect()));
    }
    out
}

/// What happened to every input row, for stderr.
pub fn ingest_lines(r: &IngestReport) -> String {
    r.to_string()
}

/// The summary's window and population, for stderr.
pub fn summary_lines(r: &SummaryReport) -> String {
    let mut out = format!(
        "customers {}; calibration to {}, observation to {}, unit {:?}, merged per {:?}",
        thousands(r.customers),
        format_day(r.calibration_end),
        format_day(r.observation_end),
        r.unit,
        r.period
    )
    .to_lowercase();
    if r.customers_after_calibration > 0 {
        out.push_str(&format!(
            "\n  {} customers first bought after the calibration end: not in the summary",
            thousands(r.customers_after_calibration)
        ));
    }
    if r.spilled_bytes > 0 {
        out.push_str(&format!(
            "\n  {} MiB of transactions spilled to disk (past the memory limit)",
            thousands(r.spilled_bytes >> 20)
        ));
    }
    out
}

/// A result table to `-o FILE` (CSV, Parquet or JSON lines by extension, said on stderr), or
/// as CSV on stdout when there is no file or it is `-`.
pub fn write_result(batch: &RecordBatch, output: Option<&Path>) -> anyhow::Result<()> {
    match output {
        Some(path) if path.as_os_str() != "-" => {
            write_table(batch, path)?;
            eprintln!(
                "wrote {} rows to {}",
                thousands(batch.num_rows() as u64),
                path.display()
            );
        }
        _ => crate::out::write_buffered(|mut out| write_csv(batch, &mut out))?,
    }
    Ok(())
}

/// "plan (60 distinct values; raise --max-categories to keep it)" for each text column left
/// out of the attributes.
pub fn skipped_lines(skipped: &[retain_pipeline::attributes::SkippedColumn]) -> Vec<String> {
    skipped
        .iter()
        .map(|s| {
            format!(
                "{} ({} distinct values; raise --max-categories to keep it)",
                s.name,
                thousands(s.distinct)
            )
        })
        .collect()
}

/// A batch as a table for people, every value as Arrow displays it (floats at full
/// precision).
pub fn batch_table(batch: &RecordBatch) -> String {
    use retain_data::datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
    let options = FormatOptions::default();
    let formatters: Vec<ArrayFormatter> = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("displayable columns"))
        .collect();
    let schema = batch.schema();
    let header: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let rows: Vec<Vec<String>> = (0..batch.num_rows())
        .map(|r| formatters.iter().map(|f| f.value(r).to_string()).collect())
        .collect();
    table(&header, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(money(244091.94), "244,091.94");
        assert_eq!(money(-5.5), "-5.50");
        assert_eq!(percent(1, 3), "33.3%");
    }

    #[test]
    fn tables_align() {
        let t = table(
            &["id", "n"],
            &[vec!["a".into(), "1".into()], vec!["bb".into(), "10".into()]],
        );
        assert_eq!(t, "  id   n\n  --  --\n  a    1\n  bb  10\n");
    }
}
