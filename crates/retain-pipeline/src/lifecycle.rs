//! Lifecycle stages: every customer's stage (new, active, at risk, lapsed) at a date, the
//! counts per stage, and how customers moved between stages since an earlier date. The rules
//! are `retain_models::lifecycle`'s; with a purchase model, at risk means a low P(alive) for
//! customers with repeat purchases. A model whose fit was weakly identified (its record has
//! warnings) makes that P(alive) uncertain: the stages say so ([`Lifecycle::caution`]).

use std::sync::Arc;

use retain_data::datafusion::arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, UInt64Array,
};
use retain_data::dates::format_day;
use retain_data::{DataError, PurchaseHistory, TimeUnit};
use retain_models::btyd::{PurchaseModel, SavedPurchaseModel};
use retain_models::lifecycle::{transitions, LifecycleRules, Stage, Transitions};
use serde::{Deserialize, Serialize, Serializer};

use crate::error::invalid;
use crate::source::Log;
use crate::Result;

/// A purchase model judging who is at risk, and the time unit it was fitted in.
#[derive(Debug, Clone, PartialEq)]
pub struct StageModel {
    /// A continuous-time model: BG/NBD, Pareto/NBD or MBG/NBD.
    pub model: SavedPurchaseModel,
    pub unit: TimeUnit,
    /// The fit's warnings (`retain fit -o` saves them when the data hardly determine a
    /// parameter); empty for a well identified fit.
    pub warnings: Vec<String>,
}

impl StageModel {
    /// A model as `retain fit -o` saves it, `{"model", "params", …, "warnings"?}`, fitted in
    /// `unit`; its warnings are kept.
    ///
    /// ```
    /// use retain_data::TimeUnit;
    /// use retain_pipeline::lifecycle::StageModel;
    ///
    /// let record = serde_json::json!({
    ///     "model": "mbgnbd",
    ///     "params": {"r": 0.8273, "alpha": 9.8601, "a": 0.0019, "b": 11.8944},
    ///     "warnings": ["a = 0.0019 has a standard error of 0.0124, more than the estimate"],
    /// });
    /// let model = StageModel::from_record(&record, TimeUnit::Weeks)?;
    /// assert!(model.caution().unwrap().starts_with("MBG/NBD, the model given, is weakly identified"));
    /// # Ok::<(), retain_pipeline::PipelineError>(())
    /// ```
    pub fn from_record(record: &serde_json::Value, unit: TimeUnit) -> Result<StageModel> {
        let model = SavedPurchaseModel::deserialize(record).map_err(|e| {
            invalid!(
                "expected a purchase model saved by `retain fit` (\"model\": bgnbd, pareto-nbd, \
                 mbgnbd or bgbb, with its \"params\"): {e}"
            )
        })?;
        let warnings = match record.get("warnings") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(w) => Vec::<String>::deserialize(w)
                .map_err(|e| invalid!("the model's \"warnings\" must be a list of texts: {e}"))?,
        };
        Ok(StageModel {
            model,
            unit,
            warnings,
        })
    }

    /// One line for the stages when the model's fit was weakly identified.
    ///
    /// ```
    /// use retain_data::TimeUnit;
    /// use retain_models::btyd::{BgNbd, SavedPurchaseModel};
    /// use retain_pipeline::lifecycle::StageModel;
    ///
    /// // BG/NBD at the CDNOW estimates: well identified.
    /// let bg = BgNbd { r: 0.2426, alpha: 4.4135, a: 0.7929, b: 2.4258 };
    /// let model = StageModel {
    ///     model: SavedPurchaseModel::BgNbd(bg),
    ///     unit: TimeUnit::Weeks,
    ///     warnings: Vec::new(),
    /// };
    /// assert_eq!(model.caution(), None);
    /// ```
    pub fn caution(&self) -> Option<String> {
        if self.warnings.is_empty() {
            return None;
        }
        // The warnings open with the parameter they are about ("a = 0.0019 has …").
        let mut named: Vec<&str> = Vec::new();
        for w in &self.warnings {
            if let Some((name, _)) = w.split_once(" = ") {
                if !name.contains(' ') && !named.contains(&name) {
                    named.push(name);
                }
            }
        }
        let which = if named.is_empty() {
            "no standard errors".to_string()
        } else {
            format!("{} hardly determined", named.join(", "))
        };
        Some(format!(
            "{}, the model given, is weakly identified on the data it was fitted on ({which}): \
             the P(alive) that marks repeat buyers at risk is uncertain",
            title(&self.model)
        ))
    }
}

/// The model's name in papers and reports.
fn title(model: &SavedPurchaseModel) -> &'static str {
    match model {
        SavedPurchaseModel::BgNbd(_) => "BG/NBD",
        SavedPurchaseModel::ParetoNbd(_) => "Pareto/NBD",
        SavedPurchaseModel::MbgNbd(_) => "MBG/NBD",
        SavedPurchaseModel::BgBb(_) => "BG/BB",
    }
}

/// When and by which rules.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LifecycleOptions {
    /// The date of the stages; `None`: the last purchase.
    pub at: Option<i32>,
    /// An earlier date: also how customers moved between the stages since then.
    pub compare: Option<i32>,
    pub rules: LifecycleRules,
    /// At risk by P(alive) instead of the days since the last purchase (for customers with
    /// repeat purchases: the models give one-time buyers P(alive) = 1).
    pub model: Option<StageModel>,
}

impl LifecycleOptions {
    /// Whether the rules are ordered and the model one of continuous time.
    pub fn check(&self) -> Result<()> {
        self.rules.check().map_err(crate::PipelineError::Invalid)?;
        if let Some(StageModel {
            model: SavedPurchaseModel::BgBb(_),
            ..
        }) = self.model
        {
            return Err(invalid!(
                "lifecycle needs a continuous-time purchase model (bgnbd, pareto-nbd, mbgnbd), \
                 not bgbb"
            ));
        }
        Ok(())
    }
}

/// A customer's stage at a date, with P(alive) when a model was given.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CustomerStage {
    pub stage: Stage,
    pub repeat_purchases: usize,
    /// Days since the last purchase.
    pub since_last: i32,
    pub p_alive: Option<f64>,
}

/// A customer and their stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StagedCustomer {
    pub customer_id: String,
    #[serde(flatten)]
    pub stage: CustomerStage,
}

/// The stages at a date and the moves since an earlier one.
#[derive(Debug, Clone, PartialEq)]
pub struct Lifecycle {
    pub at: i32,
    pub compare: Option<i32>,
    pub rules: LifecycleRules,
    /// Whether a model judged who is at risk.
    pub with_model: bool,
    /// Customers per stage at `at`, and the moves from the stage at `compare` (all from "not
    /// yet a customer" without `compare`).
    pub transitions: Transitions,
    /// Every customer with a purchase by `at`, in the history's order.
    pub customers: Vec<StagedCustomer>,
    /// When the model's fit was weakly identified: what it means for the stages.
    pub caution: Option<String>,
    /// The model's own warnings.
    pub model_warnings: Vec<String>,
}

/// Every customer's stage at `day` (`None`: no purchase by then), judged at risk by P(alive)
/// from `model` (fitted in the given unit) when there is one.
///
/// ```
/// use retain_data::PurchaseHistory;
/// use retain_models::lifecycle::{LifecycleRules, Stage};
/// use retain_pipeline::lifecycle::stages_at;
///
/// let history = PurchaseHistory::from_customers(vec![
///     ("a".into(), vec![(0, 1.0), (100, 1.0)]),
///     ("b".into(), vec![(150, 1.0)]),
/// ]);
/// let stages = stages_at(&history, 200, &LifecycleRules::default(), None);
/// assert_eq!(stages[0].unwrap().stage, Stage::AtRisk); // 100 days since the last purchase
/// assert_eq!(stages[1].unwrap().stage, Stage::Active);
/// ```
pub fn stages_at(
    history: &PurchaseHistory,
    day: i32,
    rules: &LifecycleRules,
    model: Option<(&dyn PurchaseModel, TimeUnit)>,
) -> Vec<Option<CustomerStage>> {
    (0..history.len())
        .map(|k| {
            let days = history.days(k);
            let seen = days.partition_point(|&d| d <= day);
            if seen == 0 {
                return None;
            }
            let (first, last) = (days[0], days[seen - 1]);
            // BG/NBD and MBG/NBD give P(alive) = 1 to anyone without a repeat purchase: for
            // one-time buyers the days rule decides.
            let p_alive = model.map(|(m, unit)| {
                let u = unit.days();
                m.p_alive(
                    (seen - 1) as f64,
                    f64::from(last - first) / u,
                    f64::from(day - first) / u,
                )
            });
            let judged_by_model = if seen > 1 { p_alive } else { None };
            Some(CustomerStage {
                stage: rules.stage(day - first, day - last, judged_by_model),
                repeat_purchases: seen - 1,
                since_last: day - last,
                p_alive,
            })
        })
        .collect()
}

/// The stages of a purchase history at [`LifecycleOptions::at`], and the moves since
/// [`LifecycleOptions::compare`].
///
/// ```
/// use retain_data::PurchaseHistory;
/// use retain_pipeline::lifecycle::{lifecycle, LifecycleOptions};
///
/// let history = PurchaseHistory::from_customers(vec![
///     ("a".into(), vec![(0, 1.0), (100, 1.0)]),
///     ("b".into(), vec![(150, 1.0)]),
/// ]);
/// let options = LifecycleOptions { at: Some(200), compare: Some(120), ..Default::default() };
/// let stages = lifecycle(&history, &options)?;
/// // new, active, at risk, lapsed
/// assert_eq!(stages.transitions.counts, [0, 1, 1, 0]);
/// # Ok::<(), retain_pipeline::PipelineError>(())
/// ```
pub fn lifecycle(history: &PurchaseHistory, options: &LifecycleOptions) -> Result<Lifecycle> {
    options.check()?;
    let Some((_, last)) = history.span() else {
        return Err(invalid!("the log has no usable transactions"));
    };
    let at = options.at.unwrap_or(last);
    if let Some(compare) = options.compare.filter(|&c| c >= at) {
        return Err(invalid!(
            "the comparison date {} must be before the date of the stages ({})",
            format_day(compare),
            format_day(at)
        ));
    }
    let model = options.model.as_ref().map(|m| (m.model.model(), m.unit));
    let now = stages_at(history, at, &options.rules, model);
    let before = options
        .compare
        .map(|d| stages_at(history, d, &options.rules, model))
        .unwrap_or_else(|| vec![None; history.len()]);
    let moves = transitions(
        before
            .iter()
            .zip(&now)
            .map(|(b, a)| (b.map(|s| s.stage), a.map(|s| s.stage))),
    );
    let customers = now
        .iter()
        .enumerate()
        .filter_map(|(k, s)| {
            s.map(|stage| StagedCustomer {
                customer_id: history.id(k).to_string(),
                stage,
            })
        })
        .collect();
    Ok(Lifecycle {
        at,
        compare: options.compare,
        rules: options.rules,
        with_model: options.model.is_some(),
        transitions: moves,
        customers,
        caution: options.model.as_ref().and_then(StageModel::caution),
        model_warnings: options
            .model
            .as_ref()
            .map(|m| m.warnings.clone())
            .unwrap_or_default(),
    })
}

/// [`lifecycle`] of a transaction log.
///
/// ```no_run
/// use retain_pipeline::lifecycle::{lifecycle_of_log, LifecycleOptions};
/// use retain_pipeline::source::Log;
///
/// let log = Log { files: vec!["transactions.csv".into()], ..Default::default() };
/// let stages = lifecycle_of_log(&log, &LifecycleOptions::default())?;
/// println!("{} customers at risk", stages.transitions.counts[2]);
/// # Ok::<(), retain_pipeline::PipelineError>(())
/// ```
pub fn lifecycle_of_log(log: &Log, options: &LifecycleOptions) -> Result<Lifecycle> {
    options.check()?;
    let (history, _) = log.history()?;
    lifecycle(&history, options)
}

impl Lifecycle {
    /// Every customer's stage as a table: customer_id, stage, repeat_purchases,
    /// days_since_last_purchase, p_alive.
    ///
    /// ```
    /// use retain_data::PurchaseHistory;
    /// use retain_pipeline::lifecycle::{lifecycle, LifecycleOptions};
    ///
    /// let history = PurchaseHistory::from_customers(vec![("a".into(), vec![(0, 1.0)])]);
    /// let table = lifecycle(&history, &LifecycleOptions::default())?.stages_table()?;
    /// assert_eq!(table.num_rows(), 1);
    /// # Ok::<(), retain_pipeline::PipelineError>(())
    /// ```
    pub fn stages_table(&self) -> Result<RecordBatch> {
        let seen = &self.customers;
        Ok(RecordBatch::try_from_iter([
            (
                "customer_id",
                Arc::new(StringArray::from_iter_values(
                    seen.iter().map(|c| &c.customer_id),
                )) as ArrayRef,
            ),
            (
                "stage",
                Arc::new(StringArray::from_iter_values(
                    seen.iter().map(|c| c.stage.stage.name()),
                )),
            ),
            (
                "repeat_purchases",
                Arc::new(UInt64Array::from_iter_values(
                    seen.iter().map(|c| c.stage.repeat_purchases as u64),
                )),
            ),
            (
                "days_since_last_purchase",
                Arc::new(Int64Array::from_iter_values(
                    seen.iter().map(|c| i64::from(c.stage.since_last)),
                )),
            ),
            (
                "p_alive",
                Arc::new(Float64Array::from_iter(
                    seen.iter().map(|c| c.stage.p_alive),
                )),
            ),
        ])
        .map_err(DataError::from)?)
    }
}

/// As JSON: `{"at", "compare", "rules", "stages": [{"customers", "stage"}], "transitions":
/// [{"from", "to": {stage: customers}}] or null}`, dates as YYYY-MM-DD, and `"warnings"` (the
/// caution, then the model's warnings) when the model's fit was weakly identified; the
/// customers are left out (see [`Lifecycle::stages_table`]).
impl Serialize for Lifecycle {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let t = &self.transitions;
        let stages: Vec<serde_json::Value> = Stage::ALL
            .iter()
            .zip(t.counts)
            .map(|(s, n)| serde_json::json!({"stage": s, "customers": n}))
            .collect();
        let from = ["not_yet_a_customer", "new", "active", "at_risk", "lapsed"];
        let moves = || -> Vec<serde_json::Value> {
            from.iter()
                .zip(&t.moves)
                .map(|(f, row)| {
                    let to: serde_json::Map<String, serde_json::Value> = Stage::ALL
                        .iter()
                        .zip(row)
                        .map(|(s, n)| (stage_key(*s).to_string(), (*n).into()))
                        .collect();
                    serde_json::json!({"from": f, "to": to})
                })
                .collect()
        };
        let mut json = serde_json::json!({
            "at": format_day(self.at),
            "compare": self.compare.map(format_day),
            "rules": self.rules,
            "stages": stages,
            "transitions": self.compare.map(|_| moves()),
        });
        if let Some(caution) = &self.caution {
            let warnings: Vec<&String> = std::iter::once(caution)
                .chain(&self.model_warnings)
                .collect();
            json["warnings"] = serde_json::json!(warnings);
        }
        json.serialize(serializer)
    }
}

/// A stage's name in JSON: new, active, at_risk, lapsed.
fn stage_key(stage: Stage) -> &'static str {
    match stage {
        Stage::New => "new",
        Stage::Active => "active",
        Stage::AtRisk => "at_risk",
        Stage::Lapsed => "lapsed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use retain_models::btyd::BgNbd;

    /// a: bought on days 0 and 10; b: on day 200; c: on days 0, 50 and 380; d: on day 500.
    fn history() -> PurchaseHistory {
        PurchaseHistory::from_customers(vec![
            ("a".into(), vec![(0, 1.0), (10, 1.0)]),
            ("b".into(), vec![(200, 1.0)]),
            ("c".into(), vec![(0, 1.0), (50, 1.0), (380, 1.0)]),
            ("d".into(), vec![(500, 1.0)]),
        ])
    }

    #[test]
    fn stages_by_the_rules_and_moves_between_them() {
        let options = LifecycleOptions {
            at: Some(400),
            compare: Some(100),
            ..Default::default()
        };
        let l = lifecycle(&history(), &options).unwrap();
        let stages: Vec<(&str, Stage)> = l
            .customers
            .iter()
            .map(|c| (c.customer_id.as_str(), c.stage.stage))
            .collect();
        // Day 400: a lapsed (390 days), b at risk (200), c active (20); d not yet a customer.
        assert_eq!(
            stages,
            [
                ("a", Stage::Lapsed),
                ("b", Stage::AtRisk),
                ("c", Stage::Active)
            ]
        );
        assert_eq!(l.transitions.counts, [0, 1, 1, 1]);
        // Day 100: a at risk (90 days), c active (50); b not yet a customer.
        let moves = l.transitions.moves;
        assert_eq!(moves[0], [0, 0, 1, 0]); // not yet a customer → at risk (b)
        assert_eq!(moves[2], [0, 1, 0, 0]); // active → active (c)
        assert_eq!(moves[3], [0, 0, 0, 1]); // at risk → lapsed (a)
        assert_eq!(l.customers[2].stage.repeat_purchases, 2);
        assert_eq!(l.customers[2].stage.since_last, 20);

        let json = serde_json::to_string(&l).unwrap();
        assert!(
            json.starts_with(
                r#"{"at":"1971-02-05","compare":"1970-04-11","rules":{"active_days":90,"#
            ),
            "{json}"
        );
        assert!(
            json.contains(r#"{"from":"at_risk","to":{"active":0,"at_risk":0,"lapsed":1,"new":0}}"#)
        );
        let table = l.stages_table().unwrap();
        assert_eq!(table.num_rows(), 3);
        assert_eq!(table.schema().field(3).name(), "days_since_last_purchase");

        assert!(l.caution.is_none() && !json.contains("warnings"));
        let late = LifecycleOptions {
            compare: Some(400),
            ..options.clone()
        };
        assert!(lifecycle(&history(), &late).is_err());
        let bad_rules = LifecycleOptions {
            rules: LifecycleRules {
                active_days: 400,
                ..Default::default()
            },
            ..options
        };
        assert!(lifecycle(&history(), &bad_rules)
            .unwrap_err()
            .to_string()
            .contains("active (400) <= lapsed (365)"));
    }

    #[test]
    fn a_model_judges_repeat_buyers() {
        // BG/NBD at the CDNOW estimates, in weeks.
        let bg = BgNbd {
            r: 0.2425929,
            alpha: 4.4135316,
            a: 0.7928862,
            b: 2.4257535,
        };
        let options = LifecycleOptions {
            at: Some(400),
            model: Some(StageModel {
                model: SavedPurchaseModel::BgNbd(bg),
                unit: TimeUnit::Weeks,
                warnings: Vec::new(),
            }),
            ..Default::default()
        };
        let l = lifecycle(&history(), &options).unwrap();
        let c = &l.customers[2].stage;
        let p = bg.p_alive(2.0, 380.0 / 7.0, 400.0 / 7.0);
        assert_eq!(c.p_alive, Some(p));
        assert_eq!(c.stage == Stage::AtRisk, p < 0.5);
        // b bought once: P(alive) is 1 and the days rule decides.
        assert_eq!(l.customers[1].stage.p_alive, Some(1.0));
        assert_eq!(l.customers[1].stage.stage, Stage::AtRisk);
        assert!(l.with_model);
        assert!(l.caution.is_none());

        let bgbb = LifecycleOptions {
            model: Some(StageModel {
                model: serde_json::from_str(
                    r#"{"model":"bgbb","params":{"alpha":1.2,"beta":0.75,"gamma":0.66,"delta":2.78}}"#,
                )
                .unwrap(),
                unit: TimeUnit::Weeks,
                warnings: Vec::new(),
            }),
            ..options
        };
        assert!(lifecycle(&history(), &bgbb)
            .unwrap_err()
            .to_string()
            .contains("not bgbb"));
    }

    #[test]
    fn a_weakly_identified_model_comes_with_a_caution() {
        // MBG/NBD as `retain fit mbgnbd -o` saves it for the Online Retail log (weeks).
        let record = serde_json::json!({
            "model": "mbgnbd",
            "params": {"r": 0.8273151756486897, "alpha": 9.860071533177427,
                       "a": 0.0018635421479713313, "b": 11.89436065644537},
            "std_errors": {"r": 0.0268, "alpha": 0.3722, "a": 0.0124, "b": 66.4232},
            "log_likelihood": -37647.86,
            "warnings": [
                "a = 0.0019 has a standard error of 0.0124, more than the estimate: the data \
                 hardly determine it (weakly identified), so predictions that depend on it are \
                 uncertain",
                "b = 11.8944 has a standard error of 66.4232, more than the estimate: the data \
                 hardly determine it (weakly identified), so predictions that depend on it are \
                 uncertain"
            ]
        });
        let model = StageModel::from_record(&record, TimeUnit::Weeks).unwrap();
        assert_eq!(model.warnings.len(), 2);
        let options = LifecycleOptions {
            at: Some(400),
            model: Some(model),
            ..Default::default()
        };
        let l = lifecycle(&history(), &options).unwrap();
        assert_eq!(
            l.caution.as_deref(),
            Some(
                "MBG/NBD, the model given, is weakly identified on the data it was fitted on \
                 (a, b hardly determined): the P(alive) that marks repeat buyers at risk is \
                 uncertain"
            )
        );
        // Hardly any dropout: c, silent for 20 days after 2 repeat purchases, is alive.
        let c = l.customers[2].stage;
        assert!(c.p_alive.unwrap() > 0.99, "{c:?}");
        let json = serde_json::to_value(&l).unwrap();
        let warnings = json["warnings"].as_array().unwrap();
        assert_eq!(warnings.len(), 3);
        assert_eq!(warnings[0].as_str(), l.caution.as_deref());
        assert!(warnings[1].as_str().unwrap().starts_with("a = 0.0019"));

        // A well identified record has no warnings; a record of something else is refused.
        let plain = serde_json::json!({"model": "bgnbd",
            "params": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}});
        let model = StageModel::from_record(&plain, TimeUnit::Weeks).unwrap();
        assert!(model.warnings.is_empty() && model.caution().is_none());
        let error = StageModel::from_record(
            &serde_json::json!({"format": "retain-gbdt/2"}),
            TimeUnit::Weeks,
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("expected a purchase model saved by `retain fit`"),
            "{error}"
        );
    }
}
