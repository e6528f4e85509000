//! What a dashboard page is made of: panels, each a chart and the table of numbers behind it.
//! The pages are computed once, when an analysis is stored; the browser only draws them (the
//! contract with `crates/retain-ui/assets/app.js`). Every chart says how many marks it draws
//! ([`Chart::marks`]), which the browser test compares with what Chromium drew.

use serde::Serialize;

/// One page of the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page {
    pub page: String,
    pub title: String,
    pub subtitle: String,
    /// Definitions and cautions shown under the title.
    pub notes: Vec<String>,
    /// The choices of the at-risk page's filters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
    pub panels: Vec<Panel>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Filters {
    pub segments: Vec<String>,
    pub stages: Vec<String>,
}

/// A chart with its title, text alternative and table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Panel {
    pub id: String,
    pub title: String,
    /// The chart in words, with its key numbers (for screen readers).
    pub alt: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    pub width: Width,
    pub chart: Option<Chart>,
    pub table: Table,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Width {
    Full,
    Half,
}

/// How a column's numbers are shown to people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Text,
    Int,
    Number,
    Money,
    /// 0.123 shown as 12.3%.
    Share,
    Date,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    pub key: String,
    pub label: String,
    pub format: Format,
}

/// The numbers behind a chart, as the CSV download gives them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<serde_json::Value>>,
}

impl Table {
    /// A table of `(key, label, format)` columns.
    pub fn new(columns: &[(&str, &str, Format)]) -> Table {
        Table {
            columns: columns
                .iter()
                .map(|&(key, label, format)| Column {
                    key: key.into(),
                    label: label.into(),
                    format,
                })
                .collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; its cells in the columns' order.
    pub fn push(&mut self, row: Vec<serde_json::Value>) {
        debug_assert_eq!(row.len(), self.columns.len());
        self.rows.push(row);
    }
}

/// A number as a table cell: null when it is not finite.
pub fn num(v: f64) -> serde_json::Value {
    if v.is_finite() {
        serde_json::json!(v)
    } else {
        serde_json::Value::Null
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Chart {
    Kpis {
        items: Vec<Kpi>,
    },
    Bar {
        categories: Vec<String>,
        series: Vec<Series>,
        stacked: bool,
        horizontal: bool,
        x_label: String,
        y_label: String,
        format: Format,
    },
    Line {
        x_type: XType,
        x: Vec<serde_json::Value>,
        series: Vec<Series>,
        x_label: String,
        y_label: String,
        format: Format,
        y_min: Option<f64>,
        y_max: Option<f64>,
        markers: Vec<Marker>,
    },
    Heatmap {
        x: Vec<String>,
        y: Vec<String>,
        /// `[x index, y index, value]`.
        cells: Vec<(usize, usize, f64)>,
        x_label: String,
        y_label: String,
        format: Format,
        min: f64,
        max: f64,
    },
    Scatter {
        series: Vec<PointSeries>,
        x_label: String,
        y_label: String,
        x_log: bool,
        y_log: bool,
        format_x: Format,
        format_y: Format,
    },
}

impl Chart {
    /// The marks the browser draws: bars, points of lines, cells, dots (KPI tiles are not
    /// chart marks).
    pub fn marks(&self) -> usize {
        let values = |series: &[Series]| {
            series
                .iter()
                .map(|s| s.values.iter().filter(|v| v.is_some()).count())
                .sum()
        };
        match self {
            Chart::Kpis { .. } => 0,
            Chart::Bar { series, .. } | Chart::Line { series, .. } => values(series),
            Chart::Heatmap { cells, .. } => cells.len(),
            Chart::Scatter { series, .. } => series.iter().map(|s| s.points.len()).sum(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum XType {
    Value,
    Time,
    Category,
}

/// A headline number and its value in the previous analysis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kpi {
    pub label: String,
    pub value: Option<f64>,
    pub previous: Option<f64>,
    pub format: Format,
    /// Which way is good news.
    pub better: Better,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    Up,
    Down,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
    pub step: bool,
    pub dashed: bool,
    /// A band around the line (a confidence interval).
    pub lower: Option<Vec<Option<f64>>>,
    pub upper: Option<Vec<Option<f64>>>,
}

impl Series {
    /// A plain series; non-finite values are gaps.
    pub fn new(name: impl Into<String>, values: impl IntoIterator<Item = f64>) -> Series {
        Series {
            name: name.into(),
            values: values
                .into_iter()
                .map(|v| v.is_finite().then_some(v))
                .collect(),
            step: false,
            dashed: false,
            lower: None,
            upper: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PointSeries {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// A vertical line across a line chart (the end of the calibration window).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Marker {
    pub x: serde_json::Value,
    pub label: String,
}

/// A number for people in a text alternative: 12,345 / 1,234.56 / 12.3%.
pub fn people(v: f64, format: Format) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    match format {
        Format::Share => format!("{:.1}%", 100.0 * v),
        Format::Int => thousands(v.round() as i64),
        Format::Money if v.abs() >= 1000.0 => thousands(v.round() as i64),
        Format::Money | Format::Number => {
            let whole = thousands(v.trunc() as i64);
            let sign = if v < 0.0 && v.trunc() == 0.0 { "-" } else { "" };
            format!(
                "{sign}{whole}.{:02}",
                ((v.abs().fract() * 100.0).round() as i64).min(99)
            )
        }
        Format::Text | Format::Date => v.to_string(),
    }
}

/// A whole number with thousands separators, its sign kept.
fn thousands(n: i64) -> String {
    let digits = retain_data::thousands(n.unsigned_abs());
    if n < 0 {
        format!("-{digits}")
    } else {
        digits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_for_people() {
        assert_eq!(people(1234567.0, Format::Int), "1,234,567");
        assert_eq!(people(0.1234, Format::Share), "12.3%");
        assert_eq!(people(12.345, Format::Money), "12.35");
        assert_eq!(people(-0.5, Format::Number), "-0.50");
        assert_eq!(people(98765.4, Format::Money), "98,765");
        assert_eq!(people(f64::NAN, Format::Money), "–");
    }

    #[test]
    fn marks_count_what_is_drawn() {
        let line = Chart::Line {
            x_type: XType::Value,
            x: vec![1.into(), 2.into(), 3.into()],
            series: vec![
                Series::new("a", [1.0, f64::NAN, 3.0]),
                Series::new("b", [1.0; 3]),
            ],
            x_label: String::new(),
            y_label: String::new(),
            format: Format::Number,
            y_min: None,
            y_max: None,
            markers: vec![],
        };
        assert_eq!(line.marks(), 5);
        let json = serde_json::to_value(&line).unwrap();
        assert_eq!(json["kind"], "line");
        assert_eq!(json["series"][0]["values"][1], serde_json::Value::Null);
    }
}
