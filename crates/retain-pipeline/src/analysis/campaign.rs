//! A campaign's effect: customers contacted (treated) against customers held out at random
//! (control), from a campaign file of `customer_id, group, start_date, cost` rows. Over the
//! window after each customer's start: the share who bought, purchases and revenue per customer;
//! their differences with 95% intervals (`retain_models::lift`: Newcombe for the share, Welch
//! for the means), what the treated group bought beyond the control's rate (difference × treated
//! customers), and the ROI: (incremental revenue × margin − cost) / cost. With fewer than 30
//! customers in a group, or fewer than 5 buyers or non-buyers, the page says so and shows no
//! interval: such groups cannot tell an effect from chance.

use std::collections::HashMap;
use std::path::PathBuf;

use retain_data::dates::format_day;
use retain_data::{read_customer_table, CustomerTableOptions, DataError, PurchaseHistory};
use retain_models::lift::{mean_difference, rate_difference, Difference};
use serde_json::json;

use super::page::*;
use crate::columns::named_by;
use crate::Result;

/// Customers per group below which no interval is shown.
pub const MIN_GROUP: usize = 30;
/// Buyers and non-buyers per group below which the share's interval is not shown.
pub const MIN_EVENTS: u64 = 5;

/// A campaign file and how to read its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignOptions {
    pub path: PathBuf,
    pub id_col: String,
    /// `treated` or `control` in each row.
    pub group_col: String,
    /// When the customer was contacted (or would have been).
    pub start_col: String,
    /// What contacting the customer cost (control rows: ignored).
    pub cost_col: String,
    /// Days after the start in which purchases count.
    pub window_days: i32,
    /// Gross margin of revenue (`None`: ROI on revenue).
    pub margin: Option<f64>,
}

impl CampaignOptions {
    /// The default columns of a campaign file at `path`, a 90-day window.
    pub fn new(path: impl Into<PathBuf>) -> CampaignOptions {
        CampaignOptions {
            path: path.into(),
            id_col: "customer_id".into(),
            group_col: "group".into(),
            start_col: "start_date".into(),
            cost_col: "cost".into(),
            window_days: 90,
            margin: None,
        }
    }
}

/// One customer's outcome in their window.
struct Outcome {
    treated: bool,
    bought: bool,
    purchases: f64,
    revenue: f64,
    cost: f64,
}

/// The campaign page of `history` seen at `at`.
pub(crate) fn campaign_page(
    history: &PurchaseHistory,
    campaign: &CampaignOptions,
    at: i32,
    subtitle: &str,
) -> Result<Page> {
    if campaign.window_days < 1 {
        return Err(crate::PipelineError::Unfit {
            options: &["window_days"],
            why: format!(
                "the campaign window must be at least 1 day, found {}",
                campaign.window_days
            ),
        });
    }
    if let Some(m) = campaign
        .margin
        .filter(|m| !(m.is_finite() && *m > 0.0 && *m <= 1.0))
    {
        return Err(crate::PipelineError::Unfit {
            options: &["margin"],
            why: format!("the margin is a share of revenue in (0, 1], found {m}"),
        });
    }
    let table = read_customer_table(
        &campaign.path,
        &CustomerTableOptions {
            id_col: Some(campaign.id_col.clone()),
            ..CustomerTableOptions::default()
        },
    )?;
    let ids = table.ids().expect("read with an id column");
    let groups = named_by("group_col", table.text(&campaign.group_col, "group_col"))?;
    let starts = named_by("start_col", table.text(&campaign.start_col, "start_col"))?;
    let costs = named_by("cost_col", table.numbers(&campaign.cost_col, "cost_col"))?;
    let index: HashMap<&str, usize> = (0..history.len()).map(|k| (history.id(k), k)).collect();
    let mut outcomes = Vec::with_capacity(groups.len());
    let mut unknown = 0usize;
    let mut last_end = i32::MIN;
    for row in 0..groups.len() {
        let bad = |column: &str, expected: &str, found: &str| DataError::BadField {
            location: table.location(row, column),
            expected: expected.into(),
            found: found.into(),
        };
        let group = groups[row].as_deref().unwrap_or("");
        let treated = match group.trim().to_ascii_lowercase().as_str() {
            "treated" | "treatment" | "test" => true,
            "control" | "holdout" => false,
            _ => return Err(bad(&campaign.group_col, "treated or control", group).into()),
        };
        let start_text = starts[row].as_deref().unwrap_or("");
        let start = retain_scoring::parse_day(start_text)
            .ok_or_else(|| bad(&campaign.start_col, "a date (YYYY-MM-DD)", start_text))?;
        let end = start + campaign.window_days;
        if end > at {
            return Err(crate::PipelineError::Unfit {
                options: &["window_days", "at"],
                why: format!(
                    "{}: the {}-day window after {} ends on {}, after the log's last day {}; \
                     shorten the window or wait for the data",
                    table.location(row, &campaign.start_col),
                    campaign.window_days,
                    format_day(start),
                    format_day(end),
                    format_day(at)
                ),
            });
        }
        last_end = last_end.max(end);
        let cost = match costs[row] {
            Some(c) if c.is_finite() && c >= 0.0 => c,
            None if !treated => 0.0,
            other => {
                let found = other.map_or(String::new(), |c| c.to_string());
                return Err(bad(&campaign.cost_col, "a cost of 0 or more", &found).into());
            }
        };
        let (mut purchases, mut revenue) = (0.0, 0.0);
        match index.get(ids.value(row)) {
            Some(&k) => {
                for (&d, &a) in history.days(k).iter().zip(history.amounts(k)) {
                    if d > start && d <= end {
                        purchases += 1.0;
                        revenue += a;
                    }
                }
            }
            None => unknown += 1,
        }
        outcomes.push(Outcome {
            treated,
            bought: purchases > 0.0,
            purchases,
            revenue,
            cost,
        });
    }
    let arm = |treated: bool| outcomes.iter().filter(move |o| o.treated == treated);
    let (n_t, n_c) = (arm(true).count(), arm(false).count());
    let buyers = |treated: bool| arm(treated).filter(|o| o.bought).count() as u64;
    let cost: f64 = arm(true).map(|o| o.cost).sum();
    let window = campaign.window_days;
    let mut notes = vec![format!(
        "{} treated and {} control customers from {}; purchases counted in the {window} days after \
         each customer's start date (to {}).",
        people(n_t as f64, Format::Int),
        people(n_c as f64, Format::Int),
        campaign.path.display(),
        format_day(last_end)
    )];
    if unknown > 0 {
        notes.push(format!(
            "{unknown} customers of the campaign are not in the log: counted as not buying."
        ));
    }
    notes.push(
        "The control group must be drawn at random from the same customers: then the difference \
         is what the campaign caused."
            .into(),
    );

    let mut refusals = Vec::new();
    if n_t < MIN_GROUP || n_c < MIN_GROUP {
        refusals.push(format!(
            "{n_t} treated and {n_c} control customers: each group needs at least {MIN_GROUP} to \
             say anything"
        ));
    }
    for (name, treated, n) in [
        ("treated", true, n_t as u64),
        ("control", false, n_c as u64),
    ] {
        let b = buyers(treated);
        if b < MIN_EVENTS || n - b < MIN_EVENTS {
            refusals.push(format!(
                "the {name} group has {b} buyers and {} non-buyers: the share who bought needs \
                 at least {MIN_EVENTS} of each",
                n - b
            ));
        }
    }

    let values = |treated: bool, f: fn(&Outcome) -> f64| arm(treated).map(f).collect::<Vec<f64>>();
    let mut table = Table::new(&[
        ("measure", "Measure", Format::Text),
        ("treated", "Treated", Format::Number),
        ("control", "Control", Format::Number),
        ("difference", "Difference", Format::Number),
        ("lower", "95% from", Format::Number),
        ("upper", "95% to", Format::Number),
        ("incremental", "Incremental (× treated)", Format::Number),
        ("verdict", "Verdict", Format::Text),
    ]);
    let share = |t: bool| buyers(t) as f64 / (if t { n_t } else { n_c }).max(1) as f64;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let rows: Vec<(&str, Option<Difference>, f64, f64)> = if refusals.is_empty() {
        let bought = rate_difference(
            (buyers(true), n_t as u64),
            (buyers(false), n_c as u64),
            0.95,
        )?;
        let purchases = mean_difference(
            &values(true, |o| o.purchases),
            &values(false, |o| o.purchases),
            0.95,
        )?;
        let revenue = mean_difference(
            &values(true, |o| o.revenue),
            &values(false, |o| o.revenue),
            0.95,
        )?;
        vec![
            (
                "bought in the window",
                Some(bought),
                bought.treated,
                bought.control,
            ),
            (
                "purchases per customer",
                Some(purchases),
                purchases.treated,
                purchases.control,
            ),
            (
                "revenue per customer",
                Some(revenue),
                revenue.treated,
                revenue.control,
            ),
        ]
    } else {
        vec![
            ("bought in the window", None, share(true), share(false)),
            (
                "purchases per customer",
                None,
                mean(&values(true, |o| o.purchases)),
                mean(&values(false, |o| o.purchases)),
            ),
            (
                "revenue per customer",
                None,
                mean(&values(true, |o| o.revenue)),
                mean(&values(false, |o| o.revenue)),
            ),
        ]
    };
    let verdict = |d: &Difference| {
        if d.inconclusive() {
            "inconclusive: the interval holds 0"
        } else if d.difference > 0.0 {
            "treated higher"
        } else {
            "treated lower"
        }
    };
    for (measure, d, t, c) in &rows {
        table.push(match d {
            Some(d) => vec![
                json!(measure),
                num(*t),
                num(*c),
                num(d.difference),
                num(d.lower),
                num(d.upper),
                num(d.difference * n_t as f64),
                json!(verdict(d)),
            ],
            None => vec![
                json!(measure),
                num(*t),
                num(*c),
                num(t - c),
                serde_json::Value::Null,
                serde_json::Value::Null,
                serde_json::Value::Null,
                json!("not enough customers"),
            ],
        });
    }
    // ROI over the revenue interval: ROI rises with incremental revenue, so the interval's ends
    // give the ROI's.
    let margin = campaign.margin.unwrap_or(1.0);
    let roi = |incremental_revenue: f64| (incremental_revenue * margin - cost) / cost;
    let revenue_difference = rows[2].1;
    let roi_text = match (revenue_difference, cost > 0.0) {
        (Some(d), true) => {
            let n = n_t as f64;
            table.push(vec![
                json!(if campaign.margin.is_some() {
                    "ROI"
                } else {
                    "ROI on revenue (no margin given)"
                }),
                serde_json::Value::Null,
                serde_json::Value::Null,
                num(roi(d.difference * n)),
                num(roi(d.lower * n)),
                num(roi(d.upper * n)),
                num(cost),
                json!(format!("cost {}", people(cost, Format::Money))),
            ]);
            format!(
                "ROI {} (95% {} to {}) on a cost of {}",
                people(roi(d.difference * n), Format::Share),
                people(roi(d.lower * n), Format::Share),
                people(roi(d.upper * n), Format::Share),
                people(cost, Format::Money)
            )
        }
        (_, false) => "no ROI: the campaign file gives no cost".into(),
        (None, _) => "no ROI: not enough customers".into(),
    };
    if !refusals.is_empty() {
        notes.push(format!("No intervals: {}.", refusals.join("; ")));
    }
    let bars =
        |title: &str, id: &str, t: f64, c: f64, format: Format, d: Option<Difference>| Panel {
            id: id.into(),
            title: title.into(),
            alt: format!(
                "Bar chart: treated {} against control {}{}.",
                people(t, format),
                people(c, format),
                d.map_or(" (too few customers for an interval)".into(), |d| format!(
                    "; difference {} (95% {} to {})",
                    people(d.difference, format),
                    people(d.lower, format),
                    people(d.upper, format)
                ))
            ),
            caption: d.map(|d| {
                format!(
                    "Difference {}: {}.",
                    people(d.difference, format),
                    verdict(&d)
                )
            }),
            width: Width::Half,
            chart: Some(Chart::Bar {
                categories: vec!["treated".into(), "control".into()],
                series: vec![Series::new(title, [t, c])],
                stacked: false,
                horizontal: false,
                x_label: "group".into(),
                y_label: title.into(),
                format,
            }),
            table: {
                let mut t2 =
                    Table::new(&[("group", "Group", Format::Text), ("value", title, format)]);
                t2.push(vec![json!("treated"), num(t)]);
                t2.push(vec![json!("control"), num(c)]);
                t2
            },
        };
    let panels = vec![
        bars("Share who bought", "campaign-bought", rows[0].2, rows[0].3, Format::Share, rows[0].1),
        bars("Revenue per customer", "campaign-revenue", rows[2].2, rows[2].3, Format::Money, rows[2].1),
        Panel {
            id: "campaign-lift".into(),
            title: "What the campaign changed".into(),
            alt: format!("Table of the differences between treated and control with 95% intervals; {roi_text}."),
            caption: Some(format!(
                "Share: Newcombe's hybrid score interval; means: Welch's. Incremental = difference × {} treated customers. {roi_text}.",
                people(n_t as f64, Format::Int)
            )),
            width: Width::Full,
            chart: None,
            table,
        },
    ];
    Ok(Page {
        page: "campaigns".into(),
        title: "Campaigns".into(),
        subtitle: subtitle.into(),
        notes,
        filters: None,
        panels,
    })
}
