//! A pipeline file: what one run reads, the cutoff it takes, the models it trains and scores,
//! the analysis it stores, and when it runs. TOML, every key checked (an unknown key is an
//! error naming its line and column), paths relative to the file.
//!
//! ```toml
//! name = "cdnow"                    # default: the file's name without .toml
//! schedule = "0 6 * * MON"          # cron, UTC, for `retain serve --schedule DIR`
//!
//! [source]
//! transactions = ["cdnow/*.txt"]    # files or glob patterns
//! customer_col = "2"                # header names, or 1-based column numbers
//! date_col = "3"
//! amount_col = "5"
//! header = "no"                     # auto (default), yes, no
//! date_format = "%Y%m%d"            # default: ISO dates and the common forms
//!
//! [cutoff]
//! rule = "last-complete-week"       # last-day (default), last-complete-week, last-complete-month
//! # date = "1998-06-30"             # or a fixed day
//!
//! [[models]]
//! name = "cdnow-churn"
//! kind = "churn"                    # churn (gradient boosting from the log), bgnbd, mbgnbd, pareto-nbd
//! horizon_days = 90
//!
//! [analysis]
//! name = "cdnow"                    # stored for the dashboard each run
//! ```

use std::path::{Path, PathBuf};
use std::str::FromStr;

use retain_data::dates::{days_from_civil, DateFormat};
use retain_data::{AmountSpec, Delimiter, HeaderMode, ReadOptions, TransactionColumns};
use serde::{Deserialize, Serialize};

use crate::error::invalid;
use crate::{PipelineError, Result};

/// A pipeline file as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    #[serde(default)]
    pub name: Option<String>,
    /// A cron expression (minute hour day-of-month month day-of-week, UTC).
    #[serde(default)]
    pub schedule: Option<String>,
    pub source: SourceSpec,
    #[serde(default)]
    pub cutoff: CutoffSpec,
    #[serde(default)]
    pub models: Vec<ModelSpec>,
    #[serde(default)]
    pub analysis: Option<AnalysisSpec>,
    /// The drift tests' thresholds (Evidently's defaults when not given).
    #[serde(default)]
    pub drift: DriftSpec,
}

/// `[drift]`: any of Evidently's thresholds, changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftSpec {
    /// The data set drifts when at least this share of its features drift (0.5).
    #[serde(default)]
    pub drift_share: Option<f64>,
    /// A test's p-value below this is drift (0.05).
    #[serde(default)]
    pub p_value: Option<f64>,
    /// A distance at or above this is drift (0.1).
    #[serde(default)]
    pub distance: Option<f64>,
    /// Up to this many training rows a feature is tested, above it measured by a distance
    /// (1,000).
    #[serde(default)]
    pub max_test_reference_rows: Option<usize>,
}

impl DriftSpec {
    pub fn options(&self) -> retain_models::drift::DriftOptions {
        let d = retain_models::drift::DriftOptions::default();
        retain_models::drift::DriftOptions {
            drift_share: self.drift_share.unwrap_or(d.drift_share),
            p_value: self.p_value.unwrap_or(d.p_value),
            distance: self.distance.unwrap_or(d.distance),
            max_test_reference_rows: self
                .max_test_reference_rows
                .unwrap_or(d.max_test_reference_rows),
        }
    }
}

/// Where the transactions come from and how they read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// Files or glob patterns (`logs/*.csv.gz`), relative to the pipeline file.
    pub transactions: Vec<String>,
    #[serde(default = "default_customer_col")]
    pub customer_col: String,
    #[serde(default = "default_date_col")]
    pub date_col: String,
    #[serde(default)]
    pub amount_col: Option<String>,
    #[serde(default)]
    pub quantity_col: Option<String>,
    #[serde(default)]
    pub price_col: Option<String>,
    /// `auto` (default), `yes`, `no`.
    #[serde(default)]
    pub header: Option<String>,
    /// One character, or `auto` (default).
    #[serde(default)]
    pub delimiter: Option<String>,
    #[serde(default)]
    pub date_format: Option<String>,
    #[serde(default)]
    pub keep_negative: bool,
    /// Where rejected rows go (with the reason); without it the first bad row fails the run.
    #[serde(default)]
    pub bad_rows: Option<String>,
    /// Where the log is read and merged: `local` (default) or `ballista://HOST:PORT`.
    #[serde(default)]
    pub engine: retain_data::Engine,
}

fn default_customer_col() -> String {
    "customer_id".into()
}

fn default_date_col() -> String {
    "date".into()
}

/// The last day of data a run uses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CutoffSpec {
    #[serde(default)]
    pub rule: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
}

/// The cutoff rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutoffRule {
    /// The log's last day.
    LastDay,
    /// The last Sunday on or before the log's last day (weeks end on Sunday, ISO 8601).
    LastCompleteWeek,
    /// The last day of the last month that ended on or before the log's last day.
    LastCompleteMonth,
    Date(i32),
}

impl CutoffRule {
    /// The cutoff for a log whose last day is `last`.
    pub fn day(self, last: i32) -> i32 {
        match self {
            CutoffRule::LastDay => last,
            CutoffRule::LastCompleteWeek => {
                // 1970-01-04 (day 3) was a Sunday.
                last - (last - 3).rem_euclid(7)
            }
            CutoffRule::LastCompleteMonth => {
                use chrono::Datelike;
                let date = retain_data::dates::civil_from_days(last);
                let (y, m) = (date.year(), date.month());
                let next_month = if m == 12 {
                    days_from_civil(y + 1, 1, 1)
                } else {
                    days_from_civil(y, m + 1, 1)
                };
                if next_month - 1 == last {
                    last
                } else {
                    days_from_civil(y, m, 1) - 1
                }
            }
            CutoffRule::Date(day) => day,
        }
    }
}

/// A model the pipeline keeps: trained (the first run), retrained and scored (every run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// The registry name.
    pub name: String,
    /// `churn`, `bgnbd`, `mbgnbd` or `pareto-nbd`.
    pub kind: String,
    /// Days after the cutoff a churn label looks at; a purchase model's horizon of expected
    /// purchases.
    #[serde(default = "default_horizon")]
    pub horizon_days: i32,
    /// Churn: days in each of the two windows the spend-trend features compare.
    #[serde(default = "default_horizon")]
    pub trend_days: i32,
    /// Churn: BG/NBD's P(alive) and expected purchases as features.
    #[serde(default)]
    pub btyd_features: bool,
    /// Churn: train on and score only the customers who bought in the last this many days
    /// (the active base; default: every customer ever).
    #[serde(default)]
    pub active_days: Option<i32>,
    /// Churn: boosting rounds, shrinkage, depth, cross-validation folds.
    #[serde(default)]
    pub rounds: Option<usize>,
    #[serde(default)]
    pub learning_rate: Option<f64>,
    #[serde(default)]
    pub max_depth: Option<usize>,
    #[serde(default)]
    pub folds: Option<usize>,
    /// Purchase models: fit Gamma-Gamma on the repeat customers' spend as the spend model
    /// (default: when the log has amounts).
    #[serde(default)]
    pub spend_model: Option<bool>,
    /// Score every customer at the cutoff into the store each run (default: yes).
    #[serde(default = "yes")]
    pub score: bool,
    /// Train a challenger each run once a window out of time for the champion exists, and
    /// promote it when it wins (default: yes).
    #[serde(default = "yes")]
    pub retrain: bool,
    /// The metric and margins a challenger must win by.
    #[serde(default)]
    pub promotion: super::retrain::Promotion,
}

fn default_horizon() -> i32 {
    90
}

fn yes() -> bool {
    true
}

/// The kinds of model a pipeline trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    Churn,
    Purchase(crate::fit::PurchaseModelKind),
}

impl ModelSpec {
    pub fn kind(&self) -> Result<ModelKind> {
        use crate::fit::PurchaseModelKind as P;
        Ok(match self.kind.as_str() {
            "churn" => ModelKind::Churn,
            "bgnbd" => ModelKind::Purchase(P::BgNbd),
            "mbgnbd" => ModelKind::Purchase(P::MbgNbd),
            "pareto-nbd" => ModelKind::Purchase(P::ParetoNbd),
            other => {
                return Err(invalid!(
                    "model {}: kind {other:?} is not one a pipeline trains; expected churn, bgnbd, \
                     mbgnbd or pareto-nbd",
                    self.name
                ))
            }
        })
    }
}

/// The analysis a run stores for the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisSpec {
    pub name: String,
}

/// A pipeline ready to run: its file read and checked, paths resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub name: String,
    /// Where the file is (paths in it are relative to its folder).
    pub path: PathBuf,
    pub spec: PipelineSpec,
    pub schedule: Option<croner::Cron>,
    pub cutoff: CutoffRule,
    /// The file's text, part of a run's identity.
    pub text: String,
}

impl Pipeline {
    /// Reads and checks a pipeline file.
    pub fn read(path: &Path) -> Result<Pipeline> {
        let text = std::fs::read_to_string(path).map_err(|source| PipelineError::Io {
            context: format!("reading the pipeline file {}", path.display()),
            source,
        })?;
        Pipeline::parse(path, &text)
    }

    /// Checks a pipeline file's text (`path` names it in errors and anchors its paths).
    pub fn parse(path: &Path, text: &str) -> Result<Pipeline> {
        let spec: PipelineSpec = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|span| {
                    let line = text[..span.start].matches('\n').count() + 1;
                    let column =
                        span.start - text[..span.start].rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!(":{line}:{column}")
                })
                .unwrap_or_default();
            invalid!("{}{at}: {}", path.display(), e.message())
        })?;
        let name = match &spec.name {
            Some(name) => name.clone(),
            None => path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "pipeline".into()),
        };
        if name.is_empty() || name.len() > 100 {
            return Err(invalid!(
                "{}: the pipeline's name must have 1 to 100 characters",
                path.display()
            ));
        }
        let schedule = spec
            .schedule
            .as_deref()
            .map(|s| {
                croner::Cron::from_str(s).map_err(|e| {
                    invalid!(
                        "{}: schedule {s:?} is not a cron expression (minute hour day month \
                         weekday, e.g. \"0 6 * * MON\"): {e}",
                        path.display()
                    )
                })
            })
            .transpose()?;
        let cutoff = match (&spec.cutoff.rule, &spec.cutoff.date) {
            (Some(_), Some(_)) => {
                return Err(invalid!(
                    "{}: [cutoff] takes a rule or a date, not both",
                    path.display()
                ))
            }
            (None, None) => CutoffRule::LastDay,
            (None, Some(date)) => CutoffRule::Date(
                retain_data::dates::parse_date(date.as_bytes(), &DateFormat::Auto).ok_or_else(
                    || {
                        invalid!(
                            "{}: cutoff date {date:?} is not a date (YYYY-MM-DD)",
                            path.display()
                        )
                    },
                )?,
            ),
            (Some(rule), None) => match rule.as_str() {
                "last-day" => CutoffRule::LastDay,
                "last-complete-week" => CutoffRule::LastCompleteWeek,
                "last-complete-month" => CutoffRule::LastCompleteMonth,
                other => {
                    return Err(invalid!(
                        "{}: cutoff rule {other:?}: expected last-day, last-complete-week or \
                         last-complete-month",
                        path.display()
                    ))
                }
            },
        };
        if spec.source.transactions.is_empty() {
            return Err(invalid!(
                "{}: [source] transactions names no file",
                path.display()
            ));
        }
        let drift = spec.drift.options();
        if !(0.0..=1.0).contains(&drift.drift_share)
            || !(0.0..=1.0).contains(&drift.p_value)
            || drift.distance.is_nan()
            || drift.distance <= 0.0
        {
            return Err(invalid!(
                "{}: [drift] drift_share and p_value must be 0 to 1, distance above 0",
                path.display()
            ));
        }
        let mut names = std::collections::HashSet::new();
        for model in &spec.models {
            model.kind()?;
            if !names.insert(&model.name) {
                return Err(invalid!(
                    "{}: model {} is named twice",
                    path.display(),
                    model.name
                ));
            }
            if !(1..=3650).contains(&model.horizon_days) {
                return Err(invalid!(
                    "{}: model {}: horizon_days must be 1 to 3650, found {}",
                    path.display(),
                    model.name,
                    model.horizon_days
                ));
            }
        }
        Ok(Pipeline {
            name,
            path: path.to_path_buf(),
            spec,
            schedule,
            cutoff,
            text: text.to_string(),
        })
    }

    fn folder(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// The transaction files: each pattern expanded (sorted), relative to the file's folder.
    /// A pattern that matches nothing is an error.
    pub fn transaction_files(&self) -> Result<Vec<PathBuf>> {
        let folder = self.folder();
        let mut files = Vec::new();
        for pattern in &self.spec.source.transactions {
            let full = folder.join(pattern);
            let text = full.to_string_lossy();
            let matched: Vec<PathBuf> = glob::glob(&text)
                .map_err(|e| invalid!("{}: transactions {pattern:?}: {e}", self.path.display()))?
                .filter_map(std::result::Result::ok)
                .filter(|p| p.is_file())
                .collect();
            if matched.is_empty() {
                return Err(invalid!(
                    "{}: transactions {pattern:?} matches no file (looked for {})",
                    self.path.display(),
                    full.display()
                ));
            }
            files.extend(matched);
        }
        files.sort();
        files.dedup();
        Ok(files)
    }

    /// How the transactions read.
    pub fn read_options(&self) -> Result<ReadOptions> {
        let s = &self.spec.source;
        let amount = match (&s.amount_col, &s.quantity_col, &s.price_col) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(invalid!(
                    "{}: [source] takes amount_col, or quantity_col with price_col, not both",
                    self.path.display()
                ))
            }
            (Some(c), None, None) => AmountSpec::Column(c.clone()),
            (None, Some(q), Some(p)) => AmountSpec::Product {
                quantity: q.clone(),
                price: p.clone(),
            },
            (None, None, None) => AmountSpec::Auto,
            _ => {
                return Err(invalid!(
                    "{}: [source] quantity_col and price_col go together",
                    self.path.display()
                ))
            }
        };
        let header = match s.header.as_deref() {
            None | Some("auto") => HeaderMode::Auto,
            Some("yes") => HeaderMode::Present,
            Some("no") => HeaderMode::Absent,
            Some(other) => {
                return Err(invalid!(
                    "{}: [source] header {other:?}: expected auto, yes or no",
                    self.path.display()
                ))
            }
        };
        let delimiter = match s.delimiter.as_deref() {
            None | Some("auto") => Delimiter::Auto,
            Some(d) if d.len() == 1 => Delimiter::Byte(d.as_bytes()[0]),
            Some("\\t") | Some("tab") => Delimiter::Byte(b'\t'),
            Some(other) => {
                return Err(invalid!(
                    "{}: [source] delimiter {other:?}: expected one character or auto",
                    self.path.display()
                ))
            }
        };
        Ok(ReadOptions {
            columns: TransactionColumns {
                customer: s.customer_col.clone(),
                date: s.date_col.clone(),
                amount,
            },
            delimiter,
            header,
            date_format: s
                .date_format
                .clone()
                .map_or(DateFormat::Auto, DateFormat::Strftime),
            period: retain_data::Period::Day,
            keep_negative: s.keep_negative,
            last_day: None,
            bad_rows: s.bad_rows.as_ref().map(|p| self.folder().join(p)),
            // A run is identified by its inputs' bytes: pipelines read files.
            database: None,
        })
    }

    /// The next time the schedule fires after `after`.
    pub fn next_due(
        &self,
        after: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        self.schedule
            .as_ref()?
            .find_next_occurrence(&after, false)
            .ok()
    }
}
