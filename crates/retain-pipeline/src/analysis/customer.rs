//! One customer's page: their purchases on a timeline, P(alive) over time, the churn risk's
//! reasons, and their segment and stage in every analysis of the same name. Built when the
//! page is opened, from the stored customer and the analysis's fitted model: nothing is fitted.

use retain_data::dates::format_day;
use retain_models::btyd::SavedPurchaseModel;
use retain_scoring::parse_day;
use retain_store::{AnalysisCustomer, AnalysisInfo, StoredCustomer};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::page::*;
use crate::error::invalid;
use crate::Result;

/// What the customer page needs of the analysis: its purchase model (none for a contracts
/// table), the day, and what the reasons are measured in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerModel {
    pub model: Option<SavedPurchaseModel>,
    /// The model's time unit ("weeks").
    pub unit: String,
    pub as_of: String,
    /// How the churn risk's reasons were computed, for the reader.
    #[serde(default)]
    pub reasons: String,
    /// The reasons are in log-odds (a churn classifier's), not in churn risk itself.
    #[serde(default)]
    pub reasons_in_log_odds: bool,
}

/// Points of the P(alive) path, at most.
const PATH_POINTS: usize = 400;

/// The customer page of `stored` in the analysis `info`, with the customer's rows in every
/// analysis of the same name (`across`, oldest first).
pub fn customer_page(
    info: &AnalysisInfo,
    model: &CustomerModel,
    stored: &StoredCustomer,
    across: &[(AnalysisInfo, AnalysisCustomer)],
) -> Result<Page> {
    let c = &stored.customer;
    let days: Vec<i32> = stored.purchases["days"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|v| v.as_str().and_then(parse_day))
                .collect()
        })
        .unwrap_or_default();
    let amounts: Vec<f64> = stored.purchases["amounts"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    let as_of = parse_day(&model.as_of)
        .ok_or_else(|| invalid!("the analysis day {:?} is not a date", model.as_of))?;
    let unit_days = match model.unit.as_str() {
        "days" => 1.0,
        "months" => 365.25 / 12.0,
        _ => 7.0,
    };
    let mut panels = Vec::new();

    let kpis = vec![
        Kpi {
            label: "Churn risk".into(),
            value: Some(c.churn_risk),
            previous: None,
            format: Format::Share,
            better: Better::Down,
        },
        Kpi {
            label: "P(alive)".into(),
            value: c.p_alive,
            previous: None,
            format: Format::Share,
            better: Better::Up,
        },
        Kpi {
            label: "Expected purchases, next 12 months".into(),
            value: c.expected_purchases,
            previous: None,
            format: Format::Number,
            better: Better::Up,
        },
        Kpi {
            label: "CLV".into(),
            value: c.clv,
            previous: None,
            format: Format::Money,
            better: Better::Up,
        },
        Kpi {
            label: "Spent so far".into(),
            value: Some(c.historic_value),
            previous: None,
            format: Format::Money,
            better: Better::Up,
        },
    ];
    let mut table = Table::new(&[
        ("measure", "Measure", Format::Text),
        ("value", "Value", Format::Text),
    ]);
    for (k, v) in [
        ("segment", c.segment.clone()),
        ("stage", c.stage.clone()),
        ("churn risk", people(c.churn_risk, Format::Share)),
        (
            "P(alive)",
            c.p_alive.map_or("–".into(), |p| people(p, Format::Share)),
        ),
        (
            "expected purchases",
            c.expected_purchases
                .map_or("–".into(), |p| people(p, Format::Number)),
        ),
        (
            "CLV",
            c.clv.map_or("–".into(), |p| people(p, Format::Money)),
        ),
        ("spent so far", people(c.historic_value, Format::Money)),
        (
            "next purchase",
            c.next_purchase
                .clone()
                .unwrap_or_else(|| "unlikely: P(alive) < 50%".into()),
        ),
    ] {
        table.push(vec![json!(k), json!(v)]);
    }
    panels.push(Panel {
        id: "customer-summary".into(),
        title: format!("Customer {}", c.customer_id),
        alt: format!(
            "Customer {} in segment {} ({}): churn risk {}, next purchase {}.",
            c.customer_id,
            c.segment,
            c.stage,
            people(c.churn_risk, Format::Share),
            c.next_purchase.as_deref().unwrap_or("unlikely")
        ),
        caption: Some(match &c.next_purchase {
            Some(day) => format!(
                "Expected next purchase around {day}: the median wait of a customer still alive."
            ),
            None => {
                "No next purchase date: the customer has probably stopped buying (P(alive) < 50%)."
                    .into()
            }
        }),
        width: Width::Full,
        chart: Some(Chart::Kpis { items: kpis }),
        table,
    });

    if !days.is_empty() {
        let mut purchases = Table::new(&[
            ("day", "Day", Format::Date),
            ("amount", "Amount", Format::Money),
        ]);
        for (d, a) in days.iter().zip(&amounts) {
            purchases.push(vec![json!(format_day(*d)), num(*a)]);
        }
        panels.push(Panel {
            id: "purchases".into(),
            title: "Purchases".into(),
            alt: format!(
                "Bar chart of the customer's {} purchase days, {} in all.",
                days.len(),
                people(amounts.iter().sum(), Format::Money)
            ),
            caption: Some("Purchases on the same day are one.".into()),
            width: Width::Half,
            chart: Some(Chart::Bar {
                categories: days.iter().map(|&d| format_day(d)).collect(),
                series: vec![Series::new("amount", amounts.iter().copied())],
                stacked: false,
                horizontal: false,
                x_label: "day".into(),
                y_label: "amount".into(),
                format: Format::Money,
            }),
            table: purchases,
        });
    }

    // P(alive) at each step from the first purchase to the analysis day, summarised as the
    // model was fitted: repeat purchase days, recency and age in the model's unit.
    if let (Some(&first), Some(m)) = (days.first(), &model.model) {
        let span = (as_of - first).max(0);
        let step = ((span as f64 / PATH_POINTS as f64).ceil() as i32).max(1);
        let mut points: Vec<i32> = (0..=span / step).map(|i| first + i * step).collect();
        if points.last() != Some(&as_of) {
            points.push(as_of);
        }
        let m = m.model();
        let mut path = Table::new(&[
            ("day", "Day", Format::Date),
            ("p_alive", "P(alive)", Format::Share),
        ]);
        let mut values = Vec::with_capacity(points.len());
        for &day in &points {
            let seen = days.partition_point(|&d| d <= day);
            let last = days[seen - 1];
            let p = m.p_alive(
                (seen - 1) as f64,
                f64::from(last - first) / unit_days,
                f64::from(day - first) / unit_days,
            );
            values.push(p);
            path.push(vec![json!(format_day(day)), num(p)]);
        }
        panels.push(Panel {
            id: "p-alive-history".into(),
            title: "P(alive) over time".into(),
            alt: format!(
                "Line chart of the probability the customer is alive from their first purchase \
                 ({}) to {}, ending at {}; dashed lines mark purchases.",
                format_day(first),
                model.as_of,
                people(values.last().copied().unwrap_or(f64::NAN), Format::Share)
            ),
            caption: Some(
                "Recomputed from the analysis's model at each day (lifetimes' plot_history_alive); \
                 it falls while the customer does not buy and jumps back at each purchase."
                    .into(),
            ),
            width: Width::Half,
            chart: Some(Chart::Line {
                x_type: XType::Time,
                x: points.iter().map(|&d| json!(format_day(d))).collect(),
                series: vec![Series::new("P(alive)", values)],
                x_label: "day".into(),
                y_label: "P(alive)".into(),
                format: Format::Share,
                y_min: Some(0.0),
                y_max: Some(1.0),
                markers: days
                    .iter()
                    .skip(1)
                    .take(50)
                    .map(|&d| Marker { x: json!(format_day(d)), label: "purchase".into() })
                    .collect(),
            }),
            table: path,
        });
    }

    let reasons: Vec<(String, f64, f64)> = c
        .reasons
        .as_array()
        .map(|r| {
            r.iter()
                .map(|v| {
                    (
                        v["feature"].as_str().unwrap_or("").to_string(),
                        v["value"].as_f64().unwrap_or(f64::NAN),
                        v["contribution"].as_f64().unwrap_or(f64::NAN),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if !reasons.is_empty() {
        let change_format = if model.reasons_in_log_odds {
            Format::Number
        } else {
            Format::Share
        };
        let mut table = Table::new(&[
            ("feature", "Input", Format::Text),
            ("value", "Customer's value", Format::Number),
            ("contribution", "Change in churn risk", change_format),
        ]);
        for (f, v, d) in &reasons {
            table.push(vec![json!(f), num(*v), num(*d)]);
        }
        panels.push(Panel {
            id: "reasons".into(),
            title: "Why this churn risk".into(),
            alt: format!(
                "Bar chart of what moved the churn risk from the average customer's: {}.",
                reasons
                    .iter()
                    .map(|(f, _, d)| if model.reasons_in_log_odds {
                        format!("{f} {d:+.2} log-odds")
                    } else {
                        format!("{f} {:+.1} points", d * 100.0)
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            caption: Some(model.reasons.clone()),
            width: Width::Half,
            chart: Some(Chart::Bar {
                categories: reasons.iter().map(|r| r.0.clone()).collect(),
                series: vec![Series::new(
                    "change in churn risk",
                    reasons.iter().map(|r| r.2),
                )],
                stacked: false,
                horizontal: true,
                x_label: "input".into(),
                y_label: "change in churn risk".into(),
                format: change_format,
            }),
            table,
        });
    }

    let mut history = Table::new(&[
        ("as_of", "Analysis as of", Format::Date),
        ("segment", "Segment", Format::Text),
        ("stage", "Stage", Format::Text),
        ("churn_risk", "Churn risk", Format::Share),
        ("clv", "CLV", Format::Money),
    ]);
    for (a, row) in across {
        history.push(vec![
            json!(a.as_of),
            json!(row.segment),
            json!(row.stage),
            num(row.churn_risk),
            row.clv.map_or(Value::Null, num),
        ]);
    }
    panels.push(Panel {
        id: "across-analyses".into(),
        title: "Segment, stage and churn risk, analysis by analysis".into(),
        alt: format!(
            "Line chart of the customer's churn risk in {} analyses of {}; the table gives the \
             segment and stage of each.",
            across.len(),
            info.name
        ),
        caption: None,
        width: Width::Full,
        chart: Some(Chart::Line {
            x_type: XType::Category,
            x: across.iter().map(|(a, _)| json!(a.as_of)).collect(),
            series: vec![Series::new(
                "churn risk",
                across.iter().map(|(_, r)| r.churn_risk),
            )],
            x_label: "analysis as of".into(),
            y_label: "churn risk".into(),
            format: Format::Share,
            y_min: Some(0.0),
            y_max: Some(1.0),
            markers: vec![],
        }),
        table: history,
    });

    Ok(Page {
        page: "customer".into(),
        title: format!("Customer {}", c.customer_id),
        subtitle: format!("{}, as of {}", info.name, info.as_of),
        notes: vec![],
        filters: None,
        panels,
    })
}
