//! Diagnostics of a fitted purchase model: how well it describes what customers did, by the two
//! standard checks, the calibration-vs-holdout table (mean holdout purchases by calibration
//! frequency, actual and predicted; Fader, Hardie & Lee 2005, figure 4) and the tracking of
//! repeat transactions over time, cumulative and per step (FHL 2005, figure 2; lifetimes'
//! `expected_cumulative_transactions`).

use retain_data::dates::{format_day, TimeUnit};
use retain_data::{activity, Activity, Period, ReadOptions, Summary, SummaryOptions};
use retain_models::btyd::{
    calibration_vs_holdout, tracking, HoldoutGroup, PurchaseModel, SavedPurchaseModel,
    TrackingPoint,
};
use serde::{Serialize, Serializer};

use crate::error::invalid;
use crate::source::Log;
use crate::Result;

/// The windows and the steps of the checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiagnoseOptions {
    /// End of the calibration window (inclusive); the holdout runs from the next day.
    pub calibration_end: i32,
    /// End of the holdout window (inclusive); `None`: the last transaction's day.
    pub observation_end: Option<i32>,
    /// The time unit the model was fitted in.
    pub unit: TimeUnit,
    /// Calibration frequencies from this one up are pooled in the holdout table.
    pub pooled_from: usize,
    /// The tracking step, in time units.
    pub every: f64,
}

impl DiagnoseOptions {
    /// The checks of a model calibrated to `calibration_end`, in weeks, tracked every week,
    /// frequencies from 7 pooled.
    pub fn new(calibration_end: i32) -> DiagnoseOptions {
        DiagnoseOptions {
            calibration_end,
            observation_end: None,
            unit: TimeUnit::Weeks,
            pooled_from: 7,
            every: 1.0,
        }
    }

    /// Whether the checks apply to `model` with these options (before reading anything).
    pub fn check(&self, model: &SavedPurchaseModel) -> Result<()> {
        if matches!(model, SavedPurchaseModel::BgBb(_)) {
            return Err(invalid!(
                "BG/BB counts discrete transaction opportunities, not calendar time: diagnose \
                 takes bgnbd, pareto-nbd or mbgnbd models"
            ));
        }
        if !(self.every.is_finite() && self.every > 0.0) {
            return Err(invalid!(
                "the tracking step (every) must be > 0, found {}",
                self.every
            ));
        }
        Ok(())
    }

    /// How the customers' summary that [`diagnostics`] reads is computed (transactions merged
    /// per day).
    pub fn summary_options(&self) -> SummaryOptions {
        SummaryOptions {
            calibration_end: Some(self.calibration_end),
            observation_end: self.observation_end,
            unit: self.unit,
            ..Default::default()
        }
    }
}

/// One row of the tracking table: a point and the calendar around it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackingRow {
    /// The last day counted (the point is at the start of the next day).
    #[serde(serialize_with = "date")]
    pub through: i32,
    /// "calibration" or "holdout".
    pub window: &'static str,
    #[serde(flatten)]
    pub point: TrackingPoint,
}

/// Both checks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostics {
    /// The model's name: bgnbd, pareto-nbd or mbgnbd.
    pub model: &'static str,
    pub unit: TimeUnit,
    #[serde(serialize_with = "date")]
    pub calibration_end: i32,
    #[serde(serialize_with = "date")]
    pub observation_end: i32,
    pub calibration_vs_holdout: Vec<HoldoutGroup>,
    pub tracking: Vec<TrackingRow>,
}

/// A day as YYYY-MM-DD.
fn date<S: Serializer>(day: &i32, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_day(*day))
}

/// Both checks from a summary computed with [`DiagnoseOptions::summary_options`] and the
/// activity of the same log up to the summary's observation end ([`read_activity`]).
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use retain_data::{dates::days_from_civil, summarize};
/// use retain_models::btyd::SavedPurchaseModel;
/// use retain_pipeline::diagnose::{diagnostics, read_activity, DiagnoseOptions};
/// use retain_pipeline::source::Log;
///
/// let model: SavedPurchaseModel = serde_json::from_str(&std::fs::read_to_string("bgnbd.json")?)?;
/// let log = Log { files: vec!["transactions.csv".into()], ..Default::default() };
/// let options = DiagnoseOptions::new(days_from_civil(1997, 9, 30));
/// let summary = summarize(&log.files, log.read.clone(), &options.summary_options(), None).await?;
/// let activity = read_activity(&log, summary.report.observation_end)?;
/// let checks = diagnostics(&model, &summary, &activity, &options)?;
/// println!("{} tracking points", checks.tracking.len());
/// # Ok(())
/// # }
/// ```
pub fn diagnostics(
    model: &SavedPurchaseModel,
    summary: &Summary,
    activity: &Activity,
    options: &DiagnoseOptions,
) -> Result<Diagnostics> {
    options.check(model)?;
    let column = |name: &str| {
        summary
            .values(name)
            .ok_or_else(|| invalid!("the summary has no {name} column: it needs a calibration end"))
    };
    let holdout = calibration_vs_holdout(
        model.model(),
        (&column("frequency")?, &column("recency")?, &column("T")?),
        (&column("frequency_holdout")?, &column("duration_holdout")?),
        options.pooled_from,
    )?;
    let observation_end = summary.report.observation_end;
    let rows = tracking_rows(
        model.model(),
        activity,
        options.unit,
        options.every,
        (options.calibration_end, observation_end),
    )?;
    Ok(Diagnostics {
        model: model.name(),
        unit: options.unit,
        calibration_end: options.calibration_end,
        observation_end,
        calibration_vs_holdout: holdout,
        tracking: rows,
    })
}

/// First and repeat purchases per day of the log, up to `observation_end`.
///
/// ```no_run
/// use retain_data::dates::days_from_civil;
/// use retain_pipeline::diagnose::read_activity;
/// use retain_pipeline::source::Log;
///
/// let log = Log { files: vec!["transactions.csv".into()], ..Default::default() };
/// let activity = read_activity(&log, days_from_civil(1998, 6, 30))?;
/// println!("{} repeat purchases", activity.repeat_purchases.values().sum::<u64>());
/// # Ok::<(), retain_pipeline::PipelineError>(())
/// ```
pub fn read_activity(log: &Log, observation_end: i32) -> Result<Activity> {
    let read = ReadOptions {
        period: Period::Day,
        last_day: Some(observation_end),
        ..log.read.clone()
    };
    Ok(activity(&log.files, read)?)
}

/// Both checks of a transaction log: its summary, its activity, then [`diagnostics`].
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use retain_data::dates::days_from_civil;
/// use retain_models::btyd::SavedPurchaseModel;
/// use retain_pipeline::diagnose::{diagnose, DiagnoseOptions};
/// use retain_pipeline::source::Log;
///
/// let model: SavedPurchaseModel = serde_json::from_str(&std::fs::read_to_string("bgnbd.json")?)?;
/// let log = Log { files: vec!["transactions.csv".into()], ..Default::default() };
/// let options = DiagnoseOptions { every: 13.0, ..DiagnoseOptions::new(days_from_civil(1997, 9, 30)) };
/// let checks = diagnose(&model, &log, &options).await?;
/// for group in &checks.calibration_vs_holdout {
///     println!("{}: {:.2} actual, {:.2} predicted", group.frequency, group.actual, group.predicted);
/// }
/// # Ok(())
/// # }
/// ```
pub async fn diagnose(
    model: &SavedPurchaseModel,
    log: &Log,
    options: &DiagnoseOptions,
) -> Result<Diagnostics> {
    options.check(model)?;
    let read = ReadOptions {
        period: Period::Day,
        ..log.read.clone()
    };
    let summary =
        retain_data::summarize(&log.files, read, &options.summary_options(), None).await?;
    let activity = read_activity(log, summary.report.observation_end)?;
    diagnostics(model, &summary, &activity, options)
}

/// Tracking every `every` time units from the first first-purchase to the day after
/// `observation_end`, as lifetimes' `expected_cumulative_transactions` does; points through
/// `calibration_end` are in the calibration window.
///
/// ```
/// use std::collections::BTreeMap;
/// use retain_data::{dates::TimeUnit, Activity};
/// use retain_models::btyd::BgNbd;
/// use retain_pipeline::diagnose::tracking_rows;
///
/// // Two customers acquired on day 0, one repeat purchase on day 3.
/// let activity = Activity {
///     first_purchases: BTreeMap::from([(0, 2)]),
///     repeat_purchases: BTreeMap::from([(3, 1)]),
///     ..Default::default()
/// };
/// let model = BgNbd { r: 0.24, alpha: 4.41, a: 0.79, b: 2.43 };
/// let rows = tracking_rows(&model, &activity, TimeUnit::Days, 2.0, (1, 5))?;
/// assert_eq!(rows.len(), 3); // at days 2, 4 and 6
/// assert_eq!(rows[1].point.actual_cumulative, 1.0);
/// assert_eq!((rows[0].window, rows[1].window), ("calibration", "holdout"));
/// # Ok::<(), retain_pipeline::PipelineError>(())
/// ```
pub fn tracking_rows(
    model: &dyn PurchaseModel,
    log: &Activity,
    unit: TimeUnit,
    every: f64,
    (calibration_end, observation_end): (i32, i32),
) -> Result<Vec<TrackingRow>> {
    let Some(origin) = log.first_day() else {
        return Err(invalid!("no transactions to track"));
    };
    let in_units = |day: i32| f64::from(day - origin) / unit.days();
    let pairs = |counts: &std::collections::BTreeMap<i32, u64>| -> Vec<(f64, f64)> {
        counts
            .iter()
            .map(|(&day, &n)| (in_units(day), n as f64))
            .collect()
    };
    // Points at the start of a day: step k is k·every units, rounded to whole days.
    let step_days = every * unit.days();
    let last = observation_end + 1 - origin;
    let ends: Vec<i32> = (1..)
        .map(|k| (f64::from(k) * step_days).round() as i32)
        .take_while(|&d| d <= last)
        .collect();
    let times: Vec<f64> = ends.iter().map(|&d| f64::from(d) / unit.days()).collect();
    let points = tracking(
        model,
        &pairs(&log.first_purchases),
        &pairs(&log.repeat_purchases),
        &times,
    )?;
    Ok(points
        .into_iter()
        .zip(ends)
        .map(|(point, end)| TrackingRow {
            through: origin + end - 1,
            window: if origin + end - 1 <= calibration_end {
                "calibration"
            } else {
                "holdout"
            },
            point,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use retain_data::dates::days_from_civil;
    use retain_models::btyd::BgNbd;

    const BG: BgNbd = BgNbd {
        r: 0.2425929,
        alpha: 4.4135316,
        a: 0.7928862,
        b: 2.4257535,
    };

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn holdout_and_tracking_by_hand() {
        // Customer 1 buys on Jan 1, 5 and 20; 2 on Jan 2; 3 on Jan 3, 12 and 15 (2020).
        // Calibration to Jan 10, holdout to Jan 20.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.csv");
        std::fs::write(
            &path,
            "customer_id,date\n1,2020-01-01\n1,2020-01-05\n1,2020-01-20\n2,2020-01-02\n\
             3,2020-01-03\n3,2020-01-12\n3,2020-01-15\n",
        )
        .unwrap();
        let log = Log {
            files: vec![path],
            ..Default::default()
        };
        let day = |d| days_from_civil(2020, 1, d);
        let options = DiagnoseOptions {
            observation_end: Some(day(20)),
            unit: TimeUnit::Days,
            every: 5.0,
            ..DiagnoseOptions::new(day(10))
        };
        let model = SavedPurchaseModel::BgNbd(BG);
        let d = diagnose(&model, &log, &options).await.unwrap();
        assert_eq!((d.model, d.observation_end), ("bgnbd", day(20)));

        // No repeat purchase in calibration: customers 2 (T = 8 days) and 3 (T = 7), with 0 and
        // 2 in the holdout; one: customer 1 (at day 4, T = 9), 1 in the holdout. The holdout
        // lasts 10 days.
        let groups = &d.calibration_vs_holdout;
        assert_eq!(groups.len(), 2);
        assert_eq!(
            (groups[0].frequency.as_str(), groups[0].customers),
            ("0", 2)
        );
        assert_eq!(groups[0].actual, 1.0);
        let e = |x, t_x, t| BG.expected_purchases(10.0, x, t_x, t).unwrap();
        assert!(close(
            groups[0].predicted,
            (e(0.0, 0.0, 8.0) + e(0.0, 0.0, 7.0)) / 2.0
        ));
        assert_eq!((groups[1].frequency.as_str(), groups[1].actual), ("1", 1.0));
        assert!(close(groups[1].predicted, e(1.0, 4.0, 9.0)));

        // Points every 5 days from Jan 1, through Jan 5, 10, 15, 20. Repeat purchases on days
        // 4, 11, 14 and 19; first purchases on days 0, 1 and 2.
        let through: Vec<i32> = d.tracking.iter().map(|r| r.through).collect();
        assert_eq!(through, [day(5), day(10), day(15), day(20)]);
        let windows: Vec<&str> = d.tracking.iter().map(|r| r.window).collect();
        assert_eq!(
            windows,
            ["calibration", "calibration", "holdout", "holdout"]
        );
        let actual: Vec<f64> = d
            .tracking
            .iter()
            .map(|r| r.point.actual_cumulative)
            .collect();
        assert_eq!(actual, [1.0, 1.0, 3.0, 4.0]);
        for r in &d.tracking {
            let t = r.point.time;
            let expected: f64 = [0.0, 1.0, 2.0]
                .iter()
                .map(|b| BG.expected_purchases_new(t - b).unwrap())
                .sum();
            assert!(close(r.point.expected_cumulative, expected), "t = {t}");
        }

        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["calibration_end"], "2020-01-10");
        assert_eq!(json["tracking"][0]["through"], "2020-01-05");
        assert_eq!(json["tracking"][0]["time"], 5.0);

        let bad = DiagnoseOptions {
            every: 0.0,
            ..options
        };
        assert!(diagnose(&model, &log, &bad).await.is_err());
        let bgbb: SavedPurchaseModel = serde_json::from_str(
            r#"{"model":"bgbb","params":{"alpha":1.2,"beta":0.75,"gamma":0.66,"delta":2.78}}"#,
        )
        .unwrap();
        let error = diagnose(&bgbb, &log, &options).await.unwrap_err();
        assert!(error
            .to_string()
            .contains("discrete transaction opportunities"));
    }
}
