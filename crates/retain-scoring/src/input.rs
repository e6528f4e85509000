//! Customers as JSON objects, read as a model's features. Each object must give every feature
//! the model reads (null for a value the customer does not have) with the type the model was
//! trained on, and nothing else but the customer's id; the first field that breaks this is
//! reported with the customer's position, its name, what was expected and what was found.

use std::collections::HashMap;

use retain_models::supervised::{ColumnValues, FeatureFrame, FeatureKind, FeatureSchema};
use serde::Serialize;
use serde_json::{Map, Value};

/// The field that names a customer in every request (a model trained on a table with an id
/// column also accepts that column's name).
pub const ID_FIELD: &str = "customer_id";

/// A customer's field the model cannot read.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[error("customers[{customer}].{field}: {problem}")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InputError {
    /// Position of the customer in the request, from 0.
    pub customer: usize,
    pub field: String,
    pub problem: String,
}

/// Feature positions by name, made once per loaded model.
#[derive(Debug, Clone)]
pub(crate) struct FieldLookup {
    position: HashMap<String, usize>,
}

impl FieldLookup {
    pub(crate) fn new(schema: &FeatureSchema) -> FieldLookup {
        FieldLookup {
            position: schema
                .features
                .iter()
                .enumerate()
                .map(|(i, f)| (f.name.clone(), i))
                .collect(),
        }
    }
}

/// One feature's values while reading, borrowed from the request.
enum Values<'a> {
    Numbers(Vec<f64>),
    Categories(Vec<Option<&'a str>>),
}

pub(crate) fn frame_from_json(
    schema: &FeatureSchema,
    lookup: &FieldLookup,
    id_alias: Option<&str>,
    customers: &[Map<String, Value>],
    other_fields: &[&str],
) -> Result<(FeatureFrame, Vec<Option<String>>), InputError> {
    let n = customers.len();
    let mut columns: Vec<Values> = schema
        .features
        .iter()
        .map(|f| match f.kind {
            FeatureKind::Number { .. } => Values::Numbers(vec![f64::NAN; n]),
            FeatureKind::Category { .. } => Values::Categories(vec![None; n]),
        })
        .collect();
    let mut ids = Vec::with_capacity(n);
    for (row, customer) in customers.iter().enumerate() {
        let error = |field: &str, problem: String| InputError {
            customer: row,
            field: field.to_string(),
            problem,
        };
        let mut id = None;
        let mut given = 0;
        for (field, value) in customer {
            if field == ID_FIELD || Some(field.as_str()) == id_alias {
                id = match value {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Null => None,
                    other => {
                        return Err(error(
                            field,
                            format!("expected the customer's id (text), found {}", found(other)),
                        ))
                    }
                };
                continue;
            }
            if other_fields.contains(&field.as_str()) {
                continue;
            }
            let Some(&j) = lookup.position.get(field.as_str()) else {
                return Err(error(
                    field,
                    format!(
                        "not a feature of this model; it reads {}",
                        names(schema, other_fields)
                    ),
                ));
            };
            given += 1;
            match (&mut columns[j], value) {
                (Values::Numbers(v), Value::Number(x)) => {
                    v[row] = x.as_f64().unwrap_or(f64::NAN);
                }
                (Values::Categories(v), Value::String(s)) => v[row] = Some(s.as_str()),
                (_, Value::Null) => {}
                (Values::Numbers(_), other) => {
                    return Err(error(
                        field,
                        format!("expected a number or null, found {}", found(other)),
                    ))
                }
                (Values::Categories(_), other) => {
                    return Err(error(
                        field,
                        format!(
                            "expected text ({}) or null, found {}",
                            levels(&schema.features[j].kind),
                            found(other)
                        ),
                    ))
                }
            }
        }
        // Fields are unique within an object, so fewer than all means one is absent.
        if given < schema.features.len() {
            let absent = schema
                .features
                .iter()
                .find(|f| !customer.contains_key(&f.name))
                .map_or("?", |f| f.name.as_str());
            return Err(error(
                absent,
                "missing: the model reads it (send null for a value the customer does not have)"
                    .into(),
            ));
        }
        ids.push(id);
    }
    let mut frame = FeatureFrame::new(n);
    for (spec, values) in schema.features.iter().zip(columns) {
        let values = match values {
            Values::Numbers(v) => ColumnValues::Numbers(v),
            Values::Categories(v) => ColumnValues::categories(v),
        };
        frame
            .push(spec.name.clone(), values)
            .expect("one column of n values per feature");
    }
    Ok((frame, ids))
}

/// What a JSON value is, for an error.
pub(crate) fn found(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("{b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("text {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// The fields a customer may have, for an error.
fn names(schema: &FeatureSchema, other_fields: &[&str]) -> String {
    let all: Vec<&str> = other_fields
        .iter()
        .copied()
        .chain(schema.features.iter().map(|f| f.name.as_str()))
        .collect();
    if all.is_empty() {
        return "none but the customer's id".into();
    }
    all.join(", ")
}

/// A customer's id, when given (text or a number).
pub(crate) fn customer_id(
    row: usize,
    customer: &Map<String, Value>,
    alias: Option<&str>,
) -> Result<Option<String>, InputError> {
    let value = customer
        .get(ID_FIELD)
        .or_else(|| alias.and_then(|a| customer.get(a)));
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(InputError {
            customer: row,
            field: ID_FIELD.into(),
            problem: format!("expected the customer's id (text), found {}", found(other)),
        }),
    }
}

/// A customer's own purchases as a one-customer history, read at `at`: an error naming the
/// field when none is on or before it.
pub(crate) fn history_at(
    row: usize,
    customer: &Map<String, Value>,
    at: i32,
) -> Result<retain_data::PurchaseHistory, InputError> {
    let purchases = transactions_from_json(row, customer)?;
    let history = retain_data::PurchaseHistory::from_customers(vec![(String::new(), purchases)]);
    if history.days(0).first().is_none_or(|&d| d > at) {
        return Err(InputError {
            customer: row,
            field: TRANSACTIONS_FIELD.into(),
            problem: format!(
                "no purchase on or before {}",
                retain_data::dates::format_day(at)
            ),
        });
    }
    Ok(history)
}

/// The field of a customer's own purchases, for models made from a transaction log.
pub const TRANSACTIONS_FIELD: &str = "transactions";

/// A customer's purchases given as `[{"date": "2011-03-01", "amount": 12.5}, …]`: (day, amount)
/// pairs; an amount may be left out (0) for models without spend.
pub(crate) fn transactions_from_json(
    row: usize,
    customer: &Map<String, Value>,
) -> Result<Vec<(i32, f64)>, InputError> {
    let error = |field: String, problem: String| InputError {
        customer: row,
        field,
        problem,
    };
    let Some(value) = customer.get(TRANSACTIONS_FIELD) else {
        return Err(error(
            TRANSACTIONS_FIELD.into(),
            "missing: this model reads the customer's purchases, a list of {\"date\": \"YYYY-MM-DD\", \"amount\": number}".into(),
        ));
    };
    let Value::Array(items) = value else {
        return Err(error(
            TRANSACTIONS_FIELD.into(),
            format!("expected a list of purchases, found {}", found(value)),
        ));
    };
    let mut purchases = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = |name: &str| format!("{TRANSACTIONS_FIELD}[{i}]{name}");
        let Value::Object(item) = item else {
            return Err(error(
                field(""),
                format!("expected {{\"date\", \"amount\"}}, found {}", found(item)),
            ));
        };
        if let Some(other) = item.keys().find(|k| *k != "date" && *k != "amount") {
            return Err(error(
                field(&format!(".{other}")),
                "not a field of a purchase; it has date and amount".into(),
            ));
        }
        let day = match item.get("date") {
            Some(Value::String(text)) => {
                retain_data::dates::parse_date(text.as_bytes(), &retain_data::DateFormat::Auto)
            }
            _ => None,
        };
        let Some(day) = day else {
            return Err(error(
                field(".date"),
                format!(
                    "expected a date as YYYY-MM-DD (or an ISO date-time), found {}",
                    item.get("date").map_or("nothing".into(), found)
                ),
            ));
        };
        let amount = match item.get("amount") {
            None | Some(Value::Null) => 0.0,
            Some(Value::Number(n)) if n.as_f64().is_some_and(|a| a.is_finite() && a >= 0.0) => {
                n.as_f64().expect("checked")
            }
            Some(other) => {
                return Err(error(
                    field(".amount"),
                    format!(
                        "expected an amount >= 0 (returns are left out of a purchase history), found {}",
                        found(other)
                    ),
                ))
            }
        };
        purchases.push((day, amount));
    }
    Ok(purchases)
}

/// A category's levels, for an error.
fn levels(kind: &FeatureKind) -> String {
    match kind {
        FeatureKind::Category { levels, .. } => {
            let shown: Vec<String> = levels.iter().take(5).map(|l| format!("{l:?}")).collect();
            let more = levels.len().saturating_sub(5);
            if more > 0 {
                format!("one of {} and {more} more", shown.join(", "))
            } else {
                format!("one of {}", shown.join(", "))
            }
        }
        FeatureKind::Number { .. } => "a number".into(),
    }
}
