//! Survival: how long customers stay. Kaplan-Meier curves with confidence intervals and median
//! lifetimes, overall or by group, the log-rank test between groups, and on request the curve
//! projected beyond the observed periods by the shifted-beta-geometric model. Lifetimes come
//! from a contract table (a duration and a churn flag per customer) or from a purchase log
//! (churned after a stretch without purchases).

use std::path::PathBuf;

use retain_data::dates::TimeUnit;
use retain_data::{read_customer_table, CustomerTable, CustomerTableOptions, PurchaseHistory};
use retain_models::btyd::{FitOptions, Lifetimes, ShiftedBetaGeometric};
use retain_models::survival::{log_rank, KaplanMeier, LogRank};
use serde::Serialize;

use crate::columns::named_by;
use crate::error::invalid;
use crate::source::Log;
use crate::Result;

/// Durations and churn flags, with each customer's group (0 when not grouped).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lifespans {
    pub time: Vec<f64>,
    pub churned: Vec<bool>,
    /// Each customer's index into `names`; all 0 when not grouped.
    pub group: Vec<usize>,
    /// Group names, in order; empty when not grouped.
    pub names: Vec<String>,
    /// The column the groups are the values of.
    pub by: Option<String>,
    /// What the time is counted in, for people.
    pub unit: String,
    /// From a log: the end of observation.
    pub observation_end: Option<i32>,
}

/// The columns of a contract table: one row per customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationColumns {
    /// How long the customer stayed (whole periods for the sBG projection), e.g. Telco's
    /// `tenure`.
    pub duration_col: String,
    /// Whether the customer churned: 1/0, true/false or yes/no.
    pub event_col: String,
    /// A curve per value of this column, and the log-rank test between them.
    pub by: Option<String>,
}

impl Default for DurationColumns {
    fn default() -> Self {
        DurationColumns {
            duration_col: "tenure".into(),
            event_col: "churned".into(),
            by: None,
        }
    }
}

/// How lifetimes are read off a purchase log: a customer churns at their last purchase before
/// the first stretch of `inactive_days` without one (the stretch may run to the observation
/// end); the others are censored at the observation end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLifetimes {
    pub inactive_days: i32,
    /// The end of observation; `None`: the last purchase.
    pub observation_end: Option<i32>,
    /// The unit of the durations.
    pub unit: TimeUnit,
}

impl Default for LogLifetimes {
    fn default() -> Self {
        LogLifetimes {
            inactive_days: 180,
            observation_end: None,
            unit: TimeUnit::Days,
        }
    }
}

impl Lifespans {
    /// The durations and churn flags of a contract table, grouped by `columns.by`.
    ///
    /// ```no_run
    /// use retain_data::{read_customer_table, CustomerTableOptions};
    /// use retain_pipeline::survival::{DurationColumns, Lifespans};
    ///
    /// let table = read_customer_table("telco.csv".as_ref(), &CustomerTableOptions::default())?;
    /// let columns = DurationColumns {
    ///     event_col: "Churn".into(),
    ///     by: Some("Contract".into()),
    ///     ..Default::default()
    /// };
    /// let lifespans = Lifespans::from_table(&table, &columns)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_table(table: &CustomerTable, columns: &DurationColumns) -> Result<Lifespans> {
        let time = named_by(
            "duration_col",
            table.required_numbers(&columns.duration_col, "duration_col"),
        )?;
        let churned = named_by("event_col", table.flags(&columns.event_col, "event_col"))?;
        let (group, names) = match &columns.by {
            Some(by) => {
                let values = named_by("by", table.text(by, "by"))?;
                let mut names: Vec<String> = values
                    .iter()
                    .map(|v| v.clone().unwrap_or_else(|| "(missing)".into()))
                    .collect();
                names.sort();
                names.dedup();
                let group = values
                    .iter()
                    .map(|v| {
                        let name = v.as_deref().unwrap_or("(missing)");
                        names
                            .binary_search_by(|n| n.as_str().cmp(name))
                            .expect("listed")
                    })
                    .collect();
                (group, names)
            }
            None => (vec![0; time.len()], vec![]),
        };
        Ok(Lifespans {
            time,
            churned,
            group,
            names,
            by: columns.by.clone(),
            unit: format!("the unit of {}", columns.duration_col),
            observation_end: None,
        })
    }

    /// Each customer's lifetime in a purchase log (see [`LogLifetimes`]); customers whose first
    /// purchase is after the observation end are left out.
    ///
    /// ```
    /// use retain_data::PurchaseHistory;
    /// use retain_pipeline::survival::{Lifespans, LogLifetimes};
    ///
    /// let history = PurchaseHistory::from_customers(vec![
    ///     ("a".into(), vec![(0, 10.0), (10, 5.0)]),
    ///     ("b".into(), vec![(5, 20.0), (150, 5.0), (300, 5.0)]),
    /// ]);
    /// let lifespans = Lifespans::from_history(&history, &LogLifetimes::default())?;
    /// // a lapsed after day 10; b is still a customer on day 300.
    /// assert_eq!(lifespans.time, [10.0, 295.0]);
    /// assert_eq!(lifespans.churned, [true, false]);
    /// # Ok::<(), retain_pipeline::PipelineError>(())
    /// ```
    pub fn from_history(history: &PurchaseHistory, options: &LogLifetimes) -> Result<Lifespans> {
        if options.inactive_days < 1 {
            return Err(invalid!(
                "inactive_days must be at least 1, found {}",
                options.inactive_days
            ));
        }
        let Some((_, last)) = history.span() else {
            return Err(invalid!("the log has no usable transactions"));
        };
        let end = options.observation_end.unwrap_or(last);
        let lifetimes = history.lifetimes(options.inactive_days, end, options.unit.days());
        Ok(Lifespans {
            time: lifetimes.iter().map(|l| l.1).collect(),
            churned: lifetimes.iter().map(|l| l.2).collect(),
            group: vec![0; lifetimes.len()],
            names: vec![],
            by: None,
            unit: format!("{:?}", options.unit).to_lowercase(),
            observation_end: Some(end),
        })
    }

    /// Number of customers.
    pub fn len(&self) -> usize {
        self.time.len()
    }

    pub fn is_empty(&self) -> bool {
        self.time.is_empty()
    }
}

/// Where lifetimes come from.
#[derive(Debug, Clone)]
pub enum SurvivalSource {
    /// A contract table: one row per customer with a duration and a churn flag.
    Contracts {
        path: PathBuf,
        read: CustomerTableOptions,
        columns: DurationColumns,
    },
    /// A transaction log.
    Log { log: Log, lifetimes: LogLifetimes },
}

impl SurvivalSource {
    /// Reads the lifetimes.
    ///
    /// ```no_run
    /// use retain_pipeline::source::Log;
    /// use retain_pipeline::survival::{LogLifetimes, SurvivalSource};
    ///
    /// let source = SurvivalSource::Log {
    ///     log: Log { files: vec!["transactions.csv".into()], ..Default::default() },
    ///     lifetimes: LogLifetimes { inactive_days: 90, ..Default::default() },
    /// };
    /// let lifespans = source.load()?;
    /// # Ok::<(), retain_pipeline::PipelineError>(())
    /// ```
    pub fn load(&self) -> Result<Lifespans> {
        match self {
            SurvivalSource::Contracts {
                path,
                read,
                columns,
            } => Lifespans::from_table(&read_customer_table(path, read)?, columns),
            SurvivalSource::Log { log, lifetimes } => {
                let (history, _) = log.history()?;
                Lifespans::from_history(&history, lifetimes)
            }
        }
    }
}

/// What to estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SurvivalOptions {
    /// Level of the confidence intervals.
    pub confidence: f64,
    /// Fit the sBG model to each group's lifetimes (whole periods) and project its survival
    /// this many periods beyond the last observed one.
    pub project_sbg: Option<u32>,
}

impl Default for SurvivalOptions {
    fn default() -> Self {
        SurvivalOptions {
            confidence: 0.95,
            project_sbg: None,
        }
    }
}

/// One group's results.
#[derive(Debug, Clone, Serialize)]
pub struct GroupSurvival {
    pub group: String,
    #[serde(flatten)]
    pub curve: KaplanMeier,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sbg: Option<Projection>,
}

/// The sBG model fitted to a group's lifetimes and its survival curve projected forward.
#[derive(Debug, Clone, Serialize)]
pub struct Projection {
    pub params: ShiftedBetaGeometric,
    pub log_likelihood: f64,
    /// Parameters at the edge of the parameter space and the like.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Survival after each period from 0 to the last observed plus the projected ones.
    pub curve: Vec<ProjectedPoint>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProjectedPoint {
    pub time: f64,
    pub survival: f64,
}

/// Kaplan-Meier per group, the log-rank test when grouped, the sBG projections when asked.
#[derive(Debug, Clone, Serialize)]
pub struct SurvivalReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    pub unit: String,
    pub groups: Vec<GroupSurvival>,
    pub log_rank: Option<LogRank>,
}

/// Kaplan-Meier per group, the log-rank test when grouped, and an sBG projection when
/// [`SurvivalOptions::project_sbg`] asks for one.
///
/// ```
/// use retain_pipeline::survival::{survival, Lifespans, SurvivalOptions};
///
/// let lifespans = Lifespans {
///     time: vec![1.0, 2.0, 3.0, 4.0],
///     churned: vec![true, true, false, true],
///     group: vec![0; 4],
///     ..Default::default()
/// };
/// let report = survival(&lifespans, &SurvivalOptions::default())?;
/// assert_eq!(report.groups[0].curve.median, Some(2.0));
/// # Ok::<(), retain_pipeline::PipelineError>(())
/// ```
pub fn survival(data: &Lifespans, options: &SurvivalOptions) -> Result<SurvivalReport> {
    if data.churned.len() != data.time.len() || data.group.len() != data.time.len() {
        return Err(invalid!(
            "{} durations, {} churn flags and {} groups: one of each per customer",
            data.time.len(),
            data.churned.len(),
            data.group.len()
        ));
    }
    let n_groups = data.names.len().max(1);
    let mut groups = Vec::with_capacity(n_groups);
    for g in 0..n_groups {
        let rows: Vec<usize> = (0..data.time.len())
            .filter(|&i| data.group[i] == g)
            .collect();
        let time: Vec<f64> = rows.iter().map(|&i| data.time[i]).collect();
        let churned: Vec<bool> = rows.iter().map(|&i| data.churned[i]).collect();
        let curve = KaplanMeier::fit(&time, &churned, options.confidence)?;
        let sbg = options
            .project_sbg
            .map(|p| project_sbg(&time, &churned, p))
            .transpose()?;
        groups.push(GroupSurvival {
            group: data.names.get(g).cloned().unwrap_or_else(|| "all".into()),
            curve,
            sbg,
        });
    }
    let log_rank = if n_groups > 1 {
        Some(log_rank(&data.time, &data.churned, &data.group, n_groups)?)
    } else {
        None
    };
    Ok(SurvivalReport {
        by: data.by.clone(),
        unit: data.unit.clone(),
        groups,
        log_rank,
    })
}

/// [`SurvivalSource::load`] then [`survival`].
///
/// ```no_run
/// use retain_data::CustomerTableOptions;
/// use retain_pipeline::survival::{survival_of, DurationColumns, SurvivalOptions, SurvivalSource};
///
/// let source = SurvivalSource::Contracts {
///     path: "telco.csv".into(),
///     read: CustomerTableOptions { id_col: Some("customerID".into()), ..Default::default() },
///     columns: DurationColumns { event_col: "Churn".into(), ..Default::default() },
/// };
/// let options = SurvivalOptions { project_sbg: Some(24), ..Default::default() };
/// let report = survival_of(&source, &options)?;
/// println!("median lifetime: {:?}", report.groups[0].curve.median);
/// # Ok::<(), retain_pipeline::PipelineError>(())
/// ```
pub fn survival_of(source: &SurvivalSource, options: &SurvivalOptions) -> Result<SurvivalReport> {
    survival(&source.load()?, options)
}

fn project_sbg(time: &[f64], churned: &[bool], project: u32) -> Result<Projection> {
    if let Some(t) = time.iter().find(|t| t.fract() != 0.0) {
        return Err(invalid!(
            "the sBG projection needs whole periods (sBG models contracts renewed period by \
             period), found the duration {t}"
        ));
    }
    let lifetimes = Lifetimes::from_customers(time, churned)?;
    let fit = ShiftedBetaGeometric::fit(&lifetimes, &FitOptions::default())?;
    let last = time.iter().copied().fold(0.0, f64::max) as u32;
    let curve = (0..=last + project)
        .map(|t| ProjectedPoint {
            time: f64::from(t),
            survival: fit.params.survival(f64::from(t)),
        })
        .collect();
    Ok(Projection {
        params: fit.params,
        log_likelihood: fit.log_likelihood,
        warnings: fit.warnings,
        curve,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// Durations 1, 2, 2+, 3, 4+, 5 (+: censored). By hand: S(0) = 1, S(1) = 5/6, S(2) =
    /// 5/6 · 4/5 = 2/3 (5 at risk, 1 event, 1 censored), S(3) = 2/3 · 2/3 = 4/9 (the median),
    /// S(4) = 4/9 (censored only), S(5) = 0.
    #[test]
    fn kaplan_meier_by_hand_and_log_rank_by_group() {
        let data = Lifespans {
            time: vec![1.0, 2.0, 2.0, 3.0, 4.0, 5.0],
            churned: vec![true, true, false, true, false, true],
            group: vec![0; 6],
            unit: "months".into(),
            ..Default::default()
        };
        let report = survival(&data, &SurvivalOptions::default()).unwrap();
        assert_eq!(report.groups.len(), 1);
        let curve = &report.groups[0].curve;
        assert_eq!(report.groups[0].group, "all");
        assert_eq!((curve.n, curve.events), (6, 4));
        let s: Vec<f64> = curve.curve.iter().map(|p| p.survival).collect();
        let want = [1.0, 5.0 / 6.0, 2.0 / 3.0, 4.0 / 9.0, 4.0 / 9.0, 0.0];
        assert_eq!(s.len(), want.len());
        assert!(s.iter().zip(want).all(|(a, b)| close(*a, b)), "{s:?}");
        assert_eq!(curve.median, Some(3.0));
        assert!(report.log_rank.is_none());
        assert!(report.groups[0].sbg.is_none());

        // Two groups: the early churners apart from the late ones.
        let grouped = Lifespans {
            group: vec![0, 0, 0, 1, 1, 1],
            names: vec!["early".into(), "late".into()],
            by: Some("plan".into()),
            ..data
        };
        let report = survival(&grouped, &SurvivalOptions::default()).unwrap();
        assert_eq!(report.by.as_deref(), Some("plan"));
        assert_eq!(report.groups[1].group, "late");
        assert_eq!(report.groups[0].curve.n, 3);
        let test = report.log_rank.unwrap();
        assert_eq!(test.df, 1);
        assert!(test.p_value > 0.0 && test.p_value < 1.0);
    }

    #[test]
    fn sbg_projects_whole_periods() {
        let data = Lifespans {
            time: vec![1.0, 1.0, 2.0, 3.0, 3.0, 4.0, 5.0, 5.0],
            churned: vec![true, true, true, true, false, true, false, false],
            group: vec![0; 8],
            ..Default::default()
        };
        let options = SurvivalOptions {
            project_sbg: Some(3),
            ..Default::default()
        };
        let report = survival(&data, &options).unwrap();
        let projection = report.groups[0].sbg.as_ref().unwrap();
        // Periods 0 to 5 observed, 3 projected.
        assert_eq!(projection.curve.len(), 9);
        assert_eq!(projection.curve[0].survival, 1.0);
        assert!(projection
            .curve
            .windows(2)
            .all(|w| w[1].survival < w[0].survival));
        let fractional = Lifespans {
            time: vec![1.5, 2.0],
            churned: vec![true, false],
            group: vec![0; 2],
            ..Default::default()
        };
        let error = survival(&fractional, &options).unwrap_err();
        assert!(
            error.to_string().contains("found the duration 1.5"),
            "{error}"
        );
    }

    #[test]
    fn lifetimes_from_a_table_and_a_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("contracts.csv");
        std::fs::write(
            &path,
            "id,months,left,plan\na,3,yes,basic\nb,5,no,pro\nc,2,1,basic\nd,4,0,\n",
        )
        .unwrap();
        let source = SurvivalSource::Contracts {
            path: path.clone(),
            read: CustomerTableOptions {
                id_col: Some("id".into()),
                ..Default::default()
            },
            columns: DurationColumns {
                duration_col: "months".into(),
                event_col: "left".into(),
                by: Some("plan".into()),
            },
        };
        let data = source.load().unwrap();
        assert_eq!(data.time, [3.0, 5.0, 2.0, 4.0]);
        assert_eq!(data.churned, [true, false, true, false]);
        assert_eq!(data.names, ["(missing)", "basic", "pro"]);
        assert_eq!(data.group, [1, 2, 1, 0]);
        assert_eq!(data.unit, "the unit of months");
        let report = survival_of(&source, &SurvivalOptions::default()).unwrap();
        assert_eq!(report.groups.len(), 3);
        assert!(report.log_rank.is_some());

        // A missing column is named with the option that chooses it, not a flag.
        let SurvivalSource::Contracts { read, .. } = &source else {
            unreachable!()
        };
        let table = read_customer_table(&path, read).unwrap();
        let error = Lifespans::from_table(&table, &DurationColumns::default()).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("no column \"tenure\"")
                && text.contains("(set duration_col to one of them)"),
            "{text}"
        );

        // A log: customer 1 lapses after day 20 (no purchase for 180 days before the end),
        // customer 2 never goes 180 days without one and is censored at the end, day 380.
        let log = dir.path().join("log.csv");
        std::fs::write(
            &log,
            "customer_id,date\n1,2020-01-01\n1,2020-01-21\n2,2020-01-11\n2,2020-06-01\n\
             2,2020-10-01\n2,2021-01-25\n",
        )
        .unwrap();
        let source = SurvivalSource::Log {
            log: Log {
                files: vec![log],
                ..Default::default()
            },
            lifetimes: LogLifetimes {
                unit: TimeUnit::Weeks,
                ..Default::default()
            },
        };
        let data = source.load().unwrap();
        assert_eq!(data.churned, [true, false]);
        assert!(close(data.time[0], 20.0 / 7.0));
        assert!(close(data.time[1], 380.0 / 7.0));
        assert_eq!(data.unit, "weeks");
        assert_eq!(
            data.observation_end,
            Some(retain_data::dates::days_from_civil(2021, 1, 25))
        );
    }
}
