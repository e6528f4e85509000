//! Purchase models served: a BG/NBD, Pareto/NBD, MBG/NBD or BG/BB model (and, registered with
//! it, a Gamma-Gamma spend model) answers for each customer P(alive), the purchases expected
//! over a horizon, the probability of none in it, and with spend, expected spend per purchase
//! and CLV (lifetimes' definition: Σ over months of expected purchases, discounted monthly,
//! times expected spend).
//!
//! # Reasons
//! Each answer says how the customer's frequency, recency and age (T) moved P(alive), and with
//! monetary value too, CLV, against a stated reference customer (the fit's average customer,
//! saved with the model). The split is the Shapley value of the three (four) inputs: the
//! prediction is evaluated with every subset of the customer's inputs in place of the
//! reference's (8 evaluations, 16 for CLV), and each input gets its mean marginal effect over
//! the orders in which it can join. The contributions add up exactly to the customer's
//! prediction minus the reference's, whatever interactions the model has (BG/NBD's log-odds of
//! P(alive), `ln(a / (b + x - 1)) + (r + x) ln((alpha + T) / (alpha + t_x))`, is not additive
//! in x, t_x and T, so no single-order split would be fair). P(alive) contributions are in
//! probability points, CLV contributions in money. A mixed history that could not occur
//! (recency beyond age, a last purchase without purchases) is evaluated at the nearest one
//! that can: recency at most T, 0 without repeat purchases.

use retain_data::features::repeat_summary;
use retain_data::{PurchaseHistory, TimeUnit};
use retain_models::btyd::{
    lifetime_value, ClvOptions, GammaGamma, ModelError, RfmData, SavedPurchaseModel,
};
use retain_models::supervised::{ColumnValues, FeatureFrame, FeatureValue, Reason};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::input::{self, InputError, ID_FIELD, TRANSACTIONS_FIELD};
use crate::monitor::TrainingSample;
use crate::{JsonScoring, Prediction, ScoringError};

/// The summary fields a purchase model reads.
pub const PURCHASE_FIELDS: [&str; 4] = ["frequency", "recency", "T", "monetary_value"];

/// The customer the reasons are measured from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferenceCustomer {
    pub frequency: f64,
    pub recency: f64,
    #[serde(rename = "T")]
    pub t: f64,
    /// Mean spend per repeat purchase (for CLV's reasons).
    #[serde(default)]
    pub monetary_value: f64,
}

/// A purchase model ready to answer.
#[derive(Debug, Clone)]
pub struct PurchaseScorer {
    pub(crate) schema: retain_models::supervised::FeatureSchema,
    pub model: SavedPurchaseModel,
    pub spend: Option<GammaGamma>,
    /// The model's time unit; `None` for BG/BB's opportunities.
    pub unit: Option<TimeUnit>,
    pub reference: Option<ReferenceCustomer>,
    /// The fit's warnings (a weakly identified parameter): every answer repeats them.
    pub warnings: Vec<String>,
    /// The fitted customers' summaries and P(alive), for drift.
    pub training_sample: Option<TrainingSample>,
}

/// Model time units in a month, as lifetimes counts them for CLV: 4.345 weeks, 30 days, 1
/// month.
pub fn units_per_month(unit: TimeUnit) -> f64 {
    match unit {
        TimeUnit::Weeks => retain_models::btyd::WEEKS_PER_MONTH,
        TimeUnit::Days => 30.0,
        TimeUnit::Months => 1.0,
    }
}

/// Defaults of a purchase prediction when the request does not say.
pub const DEFAULT_CLV_MONTHS: u32 = 12;
pub const DEFAULT_DISCOUNT: f64 = 0.01;

/// A customer's history in model time units.
#[derive(Debug, Clone, Copy, PartialEq)]
struct History {
    x: f64,
    t_x: f64,
    t: f64,
    monetary: Option<f64>,
}

impl PurchaseScorer {
    /// The model as `retain fit -o` saved it: the fit record holds the time unit (`"unit"`),
    /// the reference customer (`"reference"`), the fit's `"warnings"`, and when registered
    /// with one, the spend model (`"spend_model"`: Gamma-Gamma's `p, q, v`).
    pub fn from_record(
        model: SavedPurchaseModel,
        record: &Value,
    ) -> Result<PurchaseScorer, ScoringError> {
        let field = |name: &str| record.get(name).filter(|v| !v.is_null());
        let read = |name: &str, e: serde_json::Error| {
            ScoringError::Artifact(format!("the model's {name} does not read: {e}"))
        };
        let unit = if model.is_discrete() {
            None
        } else {
            Some(match field("unit").and_then(Value::as_str) {
                None | Some("weeks") => TimeUnit::Weeks,
                Some("days") => TimeUnit::Days,
                Some("months") => TimeUnit::Months,
                Some(other) => {
                    return Err(ScoringError::Artifact(format!(
                        "the model's time unit is {other:?}; expected days, weeks or months"
                    )))
                }
            })
        };
        let spend = field("spend_model")
            .map(|v| serde_json::from_value::<GammaGamma>(v.get("params").unwrap_or(v).clone()))
            .transpose()
            .map_err(|e| read("spend model", e))?;
        let reference = field("reference")
            .map(|v| serde_json::from_value::<ReferenceCustomer>(v.clone()))
            .transpose()
            .map_err(|e| read("reference customer", e))?;
        let mut warnings: Vec<String> = field("warnings")
            .and_then(Value::as_array)
            .map(|w| {
                w.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(spend_warnings) = field("spend_model")
            .and_then(|v| v.get("warnings"))
            .and_then(Value::as_array)
        {
            warnings.extend(
                spend_warnings
                    .iter()
                    .filter_map(|v| v.as_str().map(|w| format!("spend model: {w}"))),
            );
        }
        let training_sample = field("training_sample")
            .map(|v| serde_json::from_value::<TrainingSample>(v.clone()))
            .transpose()
            .map_err(|e| read("training sample", e))?;
        let mut fields: Vec<&str> = PURCHASE_FIELDS[..3].to_vec();
        if spend.is_some() {
            fields.push(PURCHASE_FIELDS[3]);
        }
        Ok(PurchaseScorer {
            schema: crate::segments::number_schema(&fields),
            model,
            spend,
            unit,
            reference,
            warnings,
            training_sample,
        })
    }

    /// Every customer of a history who had bought by `day`, summarised in the model's unit
    /// and answered; with the summaries (frequency, recency, T, monetary value) in the same
    /// order, what a scoring run's drift compares with the training sample.
    pub fn score_history(
        &self,
        history: &PurchaseHistory,
        day: i32,
        how: &JsonScoring,
    ) -> Result<(Vec<Prediction>, FeatureFrame), ScoringError> {
        let Some(unit) = self.unit else {
            return Err(ScoringError::NotServable(
                "BG/BB counts transaction opportunities: score a summary with frequency, recency \
                 and T (opportunities), not a log"
                    .into(),
            ));
        };
        let horizon = how.horizon.unwrap_or_else(|| self.default_horizon());
        let customers = history.customers_by(day);
        let s = repeat_summary(history, &customers, day, unit.days());
        let predictions = customers
            .iter()
            .enumerate()
            .map(|(i, &k)| {
                let h = History {
                    x: s.x[i],
                    t_x: s.t_x[i],
                    t: s.t[i],
                    monetary: Some(s.monetary[i]),
                };
                self.predict(Some(history.id(k).to_string()), h, horizon, how)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((
            predictions,
            summary_frame(s.x, s.t_x, s.t, Some(s.monetary)),
        ))
    }

    /// Model time units in a month.
    fn units_per_month(&self) -> f64 {
        self.unit.map_or(1.0, units_per_month)
    }

    /// The horizon of expected purchases when the request gives none: a year (BG/BB: one
    /// opportunity).
    pub fn default_horizon(&self) -> f64 {
        match self.unit {
            Some(unit) => 12.0 * units_per_month(unit),
            None => 1.0,
        }
    }

    /// Answers customers given as JSON: `frequency, recency, T[, monetary_value]` or their
    /// `transactions` (summarised at the request's day in the model's unit).
    pub fn score_json(
        &self,
        customers: &[Map<String, Value>],
        how: &JsonScoring,
    ) -> Result<Vec<Prediction>, ScoringError> {
        let horizon = how.horizon.unwrap_or_else(|| self.default_horizon());
        if !(horizon.is_finite() && horizon >= 0.0)
            || (self.model.is_discrete() && horizon.fract() != 0.0)
        {
            return Err(ScoringError::Request {
                field: "horizon".into(),
                problem: format!(
                    "expected {} >= 0, found {horizon}",
                    if self.model.is_discrete() {
                        "a whole number of opportunities"
                    } else {
                        "a number of time units"
                    }
                ),
            });
        }
        let histories = self.histories(customers, how.at)?;
        customers
            .iter()
            .zip(histories)
            .enumerate()
            .map(|(row, (customer, history))| {
                let id = input::customer_id(row, customer, None)?;
                self.predict(id, history, horizon, how)
                    .map_err(|e| match e {
                        ScoringError::Model(m) => ScoringError::Input(InputError {
                            customer: row,
                            field: "frequency".into(),
                            problem: m.to_string(),
                        }),
                        other => other,
                    })
            })
            .collect()
    }

    /// Each customer's history: the summary fields, or their own transactions at `at`.
    fn histories(
        &self,
        customers: &[Map<String, Value>],
        at: Option<i32>,
    ) -> Result<Vec<History>, ScoringError> {
        let mut out = Vec::with_capacity(customers.len());
        for (row, customer) in customers.iter().enumerate() {
            let error = |field: &str, problem: String| InputError {
                customer: row,
                field: field.into(),
                problem,
            };
            if let Some(field) = customer.keys().find(|k| {
                *k != ID_FIELD && *k != TRANSACTIONS_FIELD && !PURCHASE_FIELDS.contains(&k.as_str())
            }) {
                return Err(error(
                    field,
                    format!(
                        "not read by a purchase model; it reads {} (or {TRANSACTIONS_FIELD})",
                        PURCHASE_FIELDS.join(", ")
                    ),
                )
                .into());
            }
            if customer.contains_key(TRANSACTIONS_FIELD) {
                let Some(unit) = self.unit else {
                    return Err(error(
                        TRANSACTIONS_FIELD,
                        "BG/BB counts transaction opportunities: give frequency, recency and T \
                         (opportunities) instead"
                            .into(),
                    )
                    .into());
                };
                let at = at.unwrap_or_else(crate::today);
                let history = input::history_at(row, customer, at)?;
                let s = repeat_summary(&history, &[0], at, unit.days());
                out.push(History {
                    x: s.x[0],
                    t_x: s.t_x[0],
                    t: s.t[0],
                    monetary: Some(s.monetary[0]),
                });
                continue;
            }
            let number = |field: &str| -> Result<Option<f64>, InputError> {
                match customer.get(field) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::Number(n)) => Ok(n.as_f64()),
                    Some(other) => Err(error(
                        field,
                        format!("expected a number, found {}", input::found(other)),
                    )),
                }
            };
            let required = |field: &str| -> Result<f64, InputError> {
                number(field)?.ok_or_else(|| {
                    error(
                        field,
                        format!(
                            "missing: give frequency, recency and T, or the customer's \
                             {TRANSACTIONS_FIELD}"
                        ),
                    )
                })
            };
            let (x, t_x, t) = (required("frequency")?, required("recency")?, required("T")?);
            let history = History {
                x,
                t_x,
                t,
                monetary: number("monetary_value")?,
            };
            // A customer acquired just now (T = 0) is valid; anything else is checked as a fit
            // checks its rows.
            if !(t == 0.0 && x == 0.0 && t_x == 0.0) {
                if let Err(ModelError::InvalidRow { message, .. }) =
                    RfmData::new(&[x], &[t_x], &[t], None)
                {
                    let field = ["frequency", "recency", "T"]
                        .into_iter()
                        .find(|f| message.starts_with(f))
                        .unwrap_or("frequency");
                    return Err(error(field, message).into());
                }
            }
            if self.model.is_discrete() && [x, t_x, t].iter().any(|v| v.fract() != 0.0) {
                return Err(error(
                    "T",
                    "BG/BB counts opportunities: frequency, recency and T are whole numbers".into(),
                )
                .into());
            }
            out.push(history);
        }
        Ok(out)
    }

    fn p_alive(&self, h: History) -> f64 {
        self.model.model().p_alive(h.x, h.t_x, h.t)
    }

    /// How frequency, recency and T moved P(alive) from the reference customer's: exact
    /// Shapley values, largest first.
    fn alive_reasons(&self, h: History, reference: History) -> Result<Vec<Reason>, ModelError> {
        shapley(&[0, 1, 2], h, reference, |mixed| Ok(self.p_alive(mixed)))
    }

    /// The reasons of a customer's P(alive) (frequency, recency, T in the model's unit), as
    /// every answer gives them; none when the model has no reference customer.
    pub fn p_alive_reasons(
        &self,
        frequency: f64,
        recency: f64,
        t: f64,
    ) -> Result<Vec<Reason>, ModelError> {
        let Some(reference) = self.reference else {
            return Ok(Vec::new());
        };
        let start = History {
            x: reference.frequency,
            t_x: reference.recency,
            t: reference.t,
            monetary: None,
        };
        let h = History {
            x: frequency,
            t_x: recency,
            t,
            monetary: None,
        };
        self.alive_reasons(h, start)
    }

    fn clv(&self, spend: &GammaGamma, h: History, options: &ClvOptions) -> Result<f64, ModelError> {
        lifetime_value(
            self.model.model(),
            spend,
            (h.x, h.t_x, h.t, h.monetary.unwrap_or(0.0)),
            options,
        )
    }

    fn predict(
        &self,
        customer_id: Option<String>,
        h: History,
        horizon: f64,
        how: &JsonScoring,
    ) -> Result<Prediction, ScoringError> {
        let model = self.model.model();
        let p_alive = self.p_alive(h);
        let expected = model.expected_purchases(horizon, h.x, h.t_x, h.t)?;
        let p_none = if h.t == 0.0 {
            // Acquired just now: a new customer's chance of no purchase in the horizon.
            model.probability_of_purchases(0, horizon)
        } else {
            self.model.p_no_purchase(h.x, h.t_x, h.t, horizon)?
        };
        let options = ClvOptions {
            months: how.clv_months.unwrap_or(DEFAULT_CLV_MONTHS),
            monthly_discount: how.discount.unwrap_or(DEFAULT_DISCOUNT),
            units_per_month: self.units_per_month(),
        };
        let value = match (&self.spend, h.monetary) {
            (Some(spend), Some(m)) => {
                Some((spend.expected_spend(h.x, m), self.clv(spend, h, &options)?))
            }
            _ => None,
        };
        let (reasons, clv_reasons) = match self.reference {
            Some(reference) => {
                let start = History {
                    x: reference.frequency,
                    t_x: reference.recency,
                    t: reference.t,
                    monetary: Some(reference.monetary_value),
                };
                let mut reasons = self.alive_reasons(h, start)?;
                reasons.truncate(how.reasons);
                let clv_reasons = match (&self.spend, h.monetary) {
                    (Some(spend), Some(_)) => {
                        let mut r = shapley(&[0, 1, 2, 3], h, start, |mixed| {
                            self.clv(spend, mixed, &options)
                        })?;
                        r.truncate(how.reasons);
                        r
                    }
                    _ => Vec::new(),
                };
                (reasons, clv_reasons)
            }
            None => (Vec::new(), Vec::new()),
        };
        Ok(Prediction {
            customer_id,
            score: p_alive,
            label: None,
            reasons,
            purchases: Some(PurchaseAnswer {
                p_alive,
                horizon,
                expected_purchases: expected,
                p_no_purchase: p_none,
                expected_spend: value.map(|v| v.0),
                clv: value.map(|v| v.1),
                clv_months: value.map(|_| options.months),
                clv_reasons,
                reference: self.reference,
                warnings: self.warnings.clone(),
            }),
            segment: None,
        })
    }
}

/// What a purchase model answers besides P(alive) (the score) and its reasons.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PurchaseAnswer {
    pub p_alive: f64,
    /// The horizon, in the model's time unit (BG/BB: opportunities).
    pub horizon: f64,
    pub expected_purchases: f64,
    /// Probability of no purchase in the horizon.
    pub p_no_purchase: f64,
    /// Gamma-Gamma's expected spend per purchase, with a spend model and a monetary value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_spend: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clv: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clv_months: Option<u32>,
    /// How frequency, recency, T and monetary value moved CLV from the reference's (money).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clv_reasons: Vec<Reason>,
    /// The customer the reasons are measured from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<ReferenceCustomer>,
    /// The fit's warnings: the model is weakly identified and these numbers are uncertain.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The inputs of a history by position: frequency, recency, T, monetary value.
const INPUT_NAMES: [&str; 4] = ["frequency", "recency", "T", "monetary_value"];

/// The history with the customer's inputs in `subset` (bit i: input i) and the reference's
/// elsewhere, made possible: recency at most T, 0 without repeat purchases, and BG/BB's
/// purchases at most the last opportunity with one.
fn mixed(customer: History, reference: History, subset: u32) -> History {
    let pick = |i: u32, a: f64, b: f64| if subset & (1 << i) != 0 { a } else { b };
    let x = pick(0, customer.x, reference.x);
    let t = pick(2, customer.t, reference.t);
    let mut t_x = pick(1, customer.t_x, reference.t_x).min(t);
    if x == 0.0 {
        t_x = 0.0;
    }
    History {
        x,
        t_x,
        t,
        monetary: Some(pick(
            3,
            customer.monetary.unwrap_or(0.0),
            reference.monetary.unwrap_or(0.0),
        )),
    }
}

/// Shapley values of `inputs` (positions in [`INPUT_NAMES`]) for `f`, from `reference` to
/// `customer`; the largest in size first. They sum to `f(customer) - f(reference)`.
fn shapley(
    inputs: &[u32],
    customer: History,
    reference: History,
    f: impl Fn(History) -> Result<f64, ModelError>,
) -> Result<Vec<Reason>, ModelError> {
    let n = inputs.len() as u32;
    // Inputs not being split keep the customer's value.
    let all: u32 = (0..4).fold(0, |m, i| m | (1 << i));
    let split: u32 = inputs.iter().fold(0, |m, &i| m | (1 << i));
    let fixed = all & !split;
    let mut value = vec![0.0; 1 << n];
    for (s, v) in value.iter_mut().enumerate() {
        let mut subset = fixed;
        for (k, &i) in inputs.iter().enumerate() {
            if s & (1 << k) != 0 {
                subset |= 1 << i;
            }
        }
        *v = f(mixed(customer, reference, subset))?;
    }
    let factorial = |k: u32| (1..=k).map(f64::from).product::<f64>();
    let customer_values = [
        customer.x,
        customer.t_x,
        customer.t,
        customer.monetary.unwrap_or(0.0),
    ];
    let mut reasons: Vec<Reason> = inputs
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let mut contribution = 0.0;
            for s in 0..(1usize << n) {
                if s & (1 << k) != 0 {
                    continue;
                }
                let size = s.count_ones();
                let weight = factorial(size) * factorial(n - size - 1) / factorial(n);
                contribution += weight * (value[s | (1 << k)] - value[s]);
            }
            Reason {
                feature: INPUT_NAMES[i as usize].into(),
                value: FeatureValue::Number(customer_values[i as usize]),
                contribution,
            }
        })
        .collect();
    reasons.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
    Ok(reasons)
}

/// A purchase model's inputs as a feature frame: `frequency`, `recency`, `T` and, when given,
/// `monetary_value` (the drift of a purchase model's customers is the drift of these).
pub fn summary_frame(
    frequency: Vec<f64>,
    recency: Vec<f64>,
    t: Vec<f64>,
    monetary: Option<Vec<f64>>,
) -> FeatureFrame {
    let mut frame = FeatureFrame::new(frequency.len());
    let columns = [Some(frequency), Some(recency), Some(t), monetary];
    for (name, values) in PURCHASE_FIELDS.iter().zip(columns) {
        if let Some(values) = values {
            frame
                .push(*name, ColumnValues::Numbers(values))
                .expect("columns of one summary have one length");
        }
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::*;
    use retain_models::btyd::BgNbd;

    fn cdnow() -> PurchaseScorer {
        PurchaseScorer {
            schema: crate::segments::number_schema(&PURCHASE_FIELDS),
            model: SavedPurchaseModel::BgNbd(BgNbd {
                r: 0.243,
                alpha: 4.414,
                a: 0.793,
                b: 2.426,
            }),
            spend: Some(GammaGamma {
                p: 6.25,
                q: 3.74,
                v: 15.44,
            }),
            unit: Some(TimeUnit::Weeks),
            reference: Some(ReferenceCustomer {
                frequency: 1.0,
                recency: 10.0,
                t: 32.0,
                monetary_value: 35.0,
            }),
            warnings: vec![],
            training_sample: None,
        }
    }

    fn one(value: Value) -> Vec<Map<String, Value>> {
        vec![value.as_object().unwrap().clone()]
    }

    #[test]
    fn reasons_add_up_to_the_difference_from_the_reference() {
        let scorer = cdnow();
        let how = JsonScoring {
            reasons: 10,
            ..JsonScoring::default()
        };
        let p = scorer
            .score_json(
                &one(
                    serde_json::json!({"customer_id": "0001", "frequency": 2, "recency": 30.43,
                    "T": 38.86, "monetary_value": 22.35}),
                ),
                &how,
            )
            .unwrap()
            .remove(0);
        let answer = p.purchases.unwrap();
        // lifetimes: P(alive) 0.7266 and 1.2259 purchases in 39 weeks for this customer.
        assert!((answer.p_alive - 0.7266).abs() < 1e-3);
        let reference = scorer.p_alive(History {
            x: 1.0,
            t_x: 10.0,
            t: 32.0,
            monetary: None,
        });
        let total: f64 = p.reasons.iter().map(|r| r.contribution).sum();
        assert!((total - (answer.p_alive - reference)).abs() < 1e-12);
        assert_eq!(p.reasons.len(), 3);
        let clv_total: f64 = answer.clv_reasons.iter().map(|r| r.contribution).sum();
        let reference_clv = scorer
            .clv(
                scorer.spend.as_ref().unwrap(),
                History {
                    x: 1.0,
                    t_x: 10.0,
                    t: 32.0,
                    monetary: Some(35.0),
                },
                &ClvOptions {
                    months: 12,
                    monthly_discount: 0.01,
                    units_per_month: retain_models::btyd::WEEKS_PER_MONTH,
                },
            )
            .unwrap();
        assert!((clv_total - (answer.clv.unwrap() - reference_clv)).abs() < 1e-9);
        assert_eq!(answer.clv_reasons.len(), 4);
        assert!(answer.p_no_purchase > 1.0 - answer.p_alive);
    }

    #[test]
    fn transactions_give_the_same_answer_as_their_summary() {
        let scorer = cdnow();
        let how = JsonScoring {
            at: retain_scoring_day("1997-09-30"),
            horizon: Some(39.0),
            ..JsonScoring::default()
        };
        let from_log = scorer
            .score_json(
                &one(serde_json::json!({"transactions": [
                    {"date": "1997-01-01", "amount": 29.33},
                    {"date": "1997-01-18", "amount": 29.73},
                    {"date": "1997-08-02", "amount": 14.96}]})),
                &how,
            )
            .unwrap()
            .remove(0);
        let x = 2.0;
        let t_x = 213.0 / 7.0;
        let t = 272.0 / 7.0;
        let summary = scorer
            .score_json(
                &one(serde_json::json!({"frequency": x, "recency": t_x, "T": t,
                    "monetary_value": (29.73 + 14.96) / 2.0})),
                &how,
            )
            .unwrap()
            .remove(0);
        assert_eq!(from_log, summary);
    }

    fn retain_scoring_day(text: &str) -> Option<i32> {
        crate::parse_day(text)
    }

    #[test]
    fn impossible_histories_are_named() {
        let scorer = cdnow();
        let error = scorer
            .score_json(
                &one(serde_json::json!({"frequency": 0, "recency": 3, "T": 10})),
                &JsonScoring::default(),
            )
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "customers[0].recency: recency must be 0 when frequency is 0, found 3"
        );
        let error = scorer
            .score_json(
                &one(serde_json::json!({"frequency": 1, "recency": 3, "T": 10, "tenure": 3})),
                &JsonScoring::default(),
            )
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("customers[0].tenure: not read"),
            "{error}"
        );
    }
}
