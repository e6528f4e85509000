//! An analysis of a contracts table (one row per customer: how long they have been a customer,
//! whether they left, a group such as the contract type, what they pay): IBM's Telco churn
//! table is one. Churn risk comes from a gradient-boosted churn classifier trained on the table
//! (its probability, with the reasons of each customer in log-odds); survival is Kaplan-Meier by
//! group with the log-rank test and sBG over the tenure in months. The customers stored are the
//! current ones (those who left have no risk left to act on); the aggregates count everyone.

use retain_data::datafusion::arrow::array::Array;
use retain_data::dates::format_day;
use retain_data::CustomerTable;
use retain_models::supervised::{Attribution, FeatureValue, Task};
use retain_store::{AnalysisCustomer, StoredCustomer};
use serde_json::json;

use super::page::*;
use super::pages::{headline_panel, lifeline_panels, Headline, Lifelines, SCATTER_POINTS};
use super::{Analysis, CustomerModel, EarlierAnalysis, Kpis};
use crate::columns::named_by;
use crate::error::invalid;
use crate::train::{train, TrainInput, TrainOptions};
use crate::Result;

/// The columns of a contracts table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractColumns {
    /// Whole months (periods) as a customer.
    pub duration_col: String,
    /// Whether the customer left: 1/0, true/false or yes/no.
    pub churned_col: String,
    /// The segments: a curve and a profile per value.
    pub group_col: String,
    /// What the customer pays a period.
    pub charge_col: String,
    /// What the customer has paid in all (blank: charge × duration).
    pub total_col: Option<String>,
}

impl Default for ContractColumns {
    /// Telco's names.
    fn default() -> Self {
        ContractColumns {
            duration_col: "tenure".into(),
            churned_col: "Churn".into(),
            group_col: "Contract".into(),
            charge_col: "MonthlyCharges".into(),
            total_col: Some("TotalCharges".into()),
        }
    }
}

/// How a contracts table is analysed.
#[derive(Debug, Clone)]
pub struct ContractAnalysisOptions {
    pub name: String,
    /// The day the table describes (it holds no dates).
    pub as_of: i32,
    pub columns: ContractColumns,
    /// Reasons stored per customer.
    pub reasons: usize,
    pub earlier: Vec<EarlierAnalysis>,
}

/// Analyses the contracts table of `input` (read with its id column).
pub fn analyze_contracts(
    input: &TrainInput,
    options: &ContractAnalysisOptions,
) -> Result<Analysis> {
    let table: &CustomerTable = input
        .table
        .as_ref()
        .ok_or_else(|| invalid!("a contracts analysis needs a customer table"))?;
    let c = &options.columns;
    let ids: Vec<String> = {
        let ids = table
            .ids()
            .ok_or_else(|| invalid!("the contracts table needs a customer id column"))?;
        (0..ids.len()).map(|i| ids.value(i).to_string()).collect()
    };
    let duration = named_by(
        "duration_col",
        table.required_numbers(&c.duration_col, "duration_col"),
    )?;
    let churned = named_by("churned_col", table.flags(&c.churned_col, "churned_col"))?;
    let charge = named_by(
        "charge_col",
        table.required_numbers(&c.charge_col, "charge_col"),
    )?;
    let group: Vec<String> = named_by("group_col", table.text(&c.group_col, "group_col"))?
        .into_iter()
        .map(|g| g.unwrap_or_else(|| "(none)".into()))
        .collect();
    let total: Vec<f64> = match &c.total_col {
        Some(col) => named_by("total_col", table.numbers(col, "total_col"))?
            .into_iter()
            .zip(charge.iter().zip(&duration))
            .map(|(t, (m, d))| t.unwrap_or(m * d))
            .collect(),
        None => charge.iter().zip(&duration).map(|(m, d)| m * d).collect(),
    };
    let n = ids.len();
    if n < 10 {
        return Err(invalid!(
            "{n} customers: a contracts analysis needs at least 10"
        ));
    }
    let mut names: Vec<String> = group.clone();
    names.sort();
    names.dedup();
    if names.len() > 12 {
        return Err(crate::PipelineError::Unfit {
            options: &["group_col"],
            why: format!(
                "{} has {} values: a group column needs at most 12",
                c.group_col,
                names.len()
            ),
        });
    }
    let groups: Vec<usize> = group
        .iter()
        .map(|g| names.iter().position(|n| n == g).unwrap_or(0))
        .collect();

    // Churn risk: the classifier's probability, out of the customers' own rows.
    let train_options = TrainOptions {
        label: Some(c.churned_col.clone()),
        ..TrainOptions::new(Task::Churn)
    };
    let trained = train(input, &train_options)?;
    let (scored_ids, explained) = trained.score(
        input,
        &train_options,
        None,
        options.reasons,
        Attribution::Path,
    )?;
    let risk_of: std::collections::HashMap<&str, &retain_models::supervised::Explanation> =
        scored_ids
            .iter()
            .map(String::as_str)
            .zip(&explained)
            .collect();
    let aucs: Vec<f64> = trained
        .cv
        .fold_metrics
        .iter()
        .filter_map(|m| match m {
            retain_models::supervised::Metrics::Classification(c) => Some(c.auc),
            _ => None,
        })
        .collect();
    let auc = (!aucs.is_empty()).then(|| aucs.iter().sum::<f64>() / aucs.len() as f64);

    let mut customers = Vec::new();
    for i in (0..n).filter(|&i| !churned[i]) {
        let e = risk_of
            .get(ids[i].as_str())
            .ok_or_else(|| invalid!("customer {} was not scored", ids[i]))?;
        let reasons: Vec<serde_json::Value> = e
            .reasons
            .iter()
            .map(|r| {
                json!({
                    "feature": r.feature,
                    "value": match &r.value {
                        FeatureValue::Number(v) => json!(v),
                        other => serde_json::to_value(other).unwrap_or_default(),
                    },
                    "contribution": r.contribution,
                })
            })
            .collect();
        customers.push(StoredCustomer {
            customer: AnalysisCustomer {
                customer_id: ids[i].clone(),
                segment: group[i].clone(),
                stage: "active".into(),
                churn_risk: e.score,
                p_alive: None,
                expected_purchases: None,
                clv: None,
                historic_value: total[i],
                value_at_risk: e.score * total[i],
                next_purchase: None,
                reasons: serde_json::Value::Array(reasons),
            },
            purchases: json!({"days": [], "amounts": []}),
        });
    }

    let active = customers.len() as f64;
    let at_risk = customers
        .iter()
        .filter(|c| c.customer.churn_risk >= 0.5)
        .count() as f64;
    let revenue: f64 = (0..n)
        .filter(|&i| !churned[i])
        .map(|i| 12.0 * charge[i])
        .sum();
    let kpis = Kpis {
        customers: n as f64,
        active,
        at_risk,
        revenue_12m: revenue,
        clv: None,
        churn_rate: Some(churned.iter().filter(|&&c| c).count() as f64 / n as f64),
    };
    let previous = options.earlier.last().map(|e| e.kpis);
    let items: Vec<Headline> = vec![
        (
            "Customers".into(),
            Some(kpis.customers),
            previous.map(|p| p.customers),
            Format::Int,
            Better::Up,
        ),
        (
            "Current customers".into(),
            Some(active),
            previous.map(|p| p.active),
            Format::Int,
            Better::Up,
        ),
        (
            "At risk (churn risk ≥ 50%)".into(),
            Some(at_risk),
            previous.map(|p| p.at_risk),
            Format::Int,
            Better::Down,
        ),
        (
            "Revenue, next 12 months at current charges".into(),
            Some(revenue),
            previous.map(|p| p.revenue_12m),
            Format::Money,
            Better::Up,
        ),
        (
            "Churned, of all customers".into(),
            kpis.churn_rate,
            previous.and_then(|p| p.churn_rate),
            Format::Share,
            Better::Down,
        ),
    ];
    let subtitle = format!(
        "{}, as of {} ({} customers)",
        options.name,
        format_day(options.as_of),
        people(n as f64, Format::Int)
    );
    let page = |id: &str, title: &str, notes: Vec<String>, panels: Vec<Panel>| Page {
        page: id.into(),
        title: title.into(),
        subtitle: subtitle.clone(),
        notes,
        filters: None,
        panels,
    };

    // Profiles by group.
    let mut profile = Table::new(&[
        ("segment", &c.group_col, Format::Text),
        ("customers", "Customers", Format::Int),
        ("share", "Share of customers", Format::Share),
        ("churned", "Churned", Format::Share),
        ("revenue_share", "Share of current revenue", Format::Share),
        ("mean_duration", "Mean tenure (months)", Format::Number),
        ("mean_charge", "Mean monthly charge", Format::Money),
        (
            "mean_risk",
            "Mean churn risk of current customers",
            Format::Share,
        ),
    ]);
    for (g, name) in names.iter().enumerate() {
        let rows: Vec<usize> = (0..n).filter(|&i| groups[i] == g).collect();
        let current: Vec<&AnalysisCustomer> = customers
            .iter()
            .map(|c| &c.customer)
            .filter(|c| &c.segment == name)
            .collect();
        let share_revenue = rows
            .iter()
            .filter(|&&i| !churned[i])
            .map(|&i| 12.0 * charge[i])
            .sum::<f64>()
            / revenue;
        profile.push(vec![
            json!(name),
            json!(rows.len()),
            num(rows.len() as f64 / n as f64),
            num(rows.iter().filter(|&&i| churned[i]).count() as f64 / rows.len() as f64),
            num(share_revenue),
            num(rows.iter().map(|&i| duration[i]).sum::<f64>() / rows.len() as f64),
            num(rows.iter().map(|&i| charge[i]).sum::<f64>() / rows.len() as f64),
            num(current.iter().map(|c| c.churn_risk).sum::<f64>() / current.len().max(1) as f64),
        ]);
    }
    let column = |t: &Table, j: usize| {
        t.rows
            .iter()
            .map(|r| r[j].as_f64().unwrap_or(f64::NAN))
            .collect::<Vec<_>>()
    };
    let churn_by_group = Panel {
        id: "churn-by-group".into(),
        title: format!("Churned share by {}", c.group_col),
        alt: format!(
            "Bar chart of the share of customers who left in each of {} groups of {}.",
            names.len(),
            c.group_col
        ),
        caption: None,
        width: Width::Half,
        chart: Some(Chart::Bar {
            categories: names.clone(),
            series: vec![Series::new("churned", column(&profile, 3))],
            stacked: false,
            horizontal: false,
            x_label: c.group_col.clone(),
            y_label: "churned".into(),
            format: Format::Share,
        }),
        table: profile.clone(),
    };
    let sizes = Panel {
        id: "segment-sizes".into(),
        title: format!("Customers and current revenue by {}", c.group_col),
        alt: format!(
            "Bar chart of the share of customers and of current revenue in {} groups.",
            names.len()
        ),
        caption: Some("The table is each group's profile.".into()),
        width: Width::Half,
        chart: Some(Chart::Bar {
            categories: names.clone(),
            series: vec![
                Series::new("share of customers", column(&profile, 2)),
                Series::new("share of current revenue", column(&profile, 4)),
            ],
            stacked: false,
            horizontal: false,
            x_label: c.group_col.clone(),
            y_label: "share".into(),
            format: Format::Share,
        }),
        table: profile,
    };
    // Tenure × charge, a sample spread over the rows.
    let step = n.div_ceil(SCATTER_POINTS).max(1);
    let sample: Vec<usize> = (0..n).step_by(step).collect();
    let mut points = Table::new(&[
        ("customer_id", "Customer", Format::Text),
        ("group", &c.group_col, Format::Text),
        ("duration", "Tenure (months)", Format::Int),
        ("charge", "Monthly charge", Format::Money),
        ("churned", "Churned", Format::Text),
    ]);
    for &i in &sample {
        points.push(vec![
            json!(ids[i]),
            json!(group[i]),
            num(duration[i]),
            num(charge[i]),
            json!(if churned[i] { "yes" } else { "no" }),
        ]);
    }
    let scatter = Panel {
        id: "tenure-charge".into(),
        title: format!("Tenure and monthly charge, by {}", c.group_col),
        alt: format!(
            "Scatter plot of {} customers' tenure against their monthly charge, coloured by {}.",
            sample.len(),
            c.group_col
        ),
        caption: Some(format!(
            "Every {step}th customer ({} of {n}).",
            sample.len()
        )),
        width: Width::Full,
        chart: Some(Chart::Scatter {
            series: names
                .iter()
                .enumerate()
                .map(|(g, name)| PointSeries {
                    name: name.clone(),
                    points: sample
                        .iter()
                        .filter(|&&i| groups[i] == g)
                        .map(|&i| (duration[i], charge[i]))
                        .collect(),
                })
                .filter(|s| !s.points.is_empty())
                .collect(),
            x_label: "tenure (months)".into(),
            y_label: "monthly charge".into(),
            x_log: false,
            y_log: false,
            format_x: Format::Int,
            format_y: Format::Money,
        }),
        table: points,
    };

    let survival = lifeline_panels(&Lifelines {
        title: format!("Survival by {}", c.group_col),
        who: format!("customers by {}", c.group_col),
        group_label: c.group_col.clone(),
        note: "Tenure in whole months; customers still here are censored at their tenure.".into(),
        unit: "months",
        time: duration.clone(),
        churned: churned.clone(),
        groups: groups.clone(),
        names: names.clone(),
        months: duration.clone(),
    })?;

    let mut at_risk_by_group = Table::new(&[
        ("segment", &c.group_col, Format::Text),
        ("customers", "Current customers", Format::Int),
        ("likely_to_leave", "Churn risk ≥ 50%", Format::Int),
        ("value_at_risk", "Value at risk", Format::Money),
    ]);
    let mut values = Vec::new();
    for name in &names {
        let these: Vec<&AnalysisCustomer> = customers
            .iter()
            .map(|c| &c.customer)
            .filter(|c| &c.segment == name)
            .collect();
        let v: f64 = these.iter().map(|c| c.value_at_risk).sum();
        at_risk_by_group.push(vec![
            json!(name),
            json!(these.len()),
            json!(these.iter().filter(|c| c.churn_risk >= 0.5).count()),
            num(v),
        ]);
        values.push(v);
    }
    let model_note = format!(
        "Churn risk: the probability of a gradient-boosted churn classifier trained on this table \
         (5-fold cross-validated AUC {}); reasons are each input's contribution to the log-odds \
         (positive raises the risk). Value at risk: churn risk × what the customer has paid.",
        auc.map_or("–".into(), |a| format!("{a:.3}"))
    );
    let mut at_risk = page(
        "at-risk",
        "At risk",
        vec![model_note.clone()],
        vec![Panel {
            id: "value-at-risk-by-segment".into(),
            title: format!("Value at risk by {}", c.group_col),
            alt: format!(
                "Bar chart of the value at risk of current customers in each of {} groups; {} in all.",
                names.len(),
                people(values.iter().sum(), Format::Money)
            ),
            caption: Some("Value at risk: churn risk × what the customer has paid, summed.".into()),
            width: Width::Full,
            chart: Some(Chart::Bar {
                categories: names.clone(),
                series: vec![Series::new("value at risk", values)],
                stacked: false,
                horizontal: false,
                x_label: c.group_col.clone(),
                y_label: "value at risk".into(),
                format: Format::Money,
            }),
            table: at_risk_by_group,
        }],
    );
    at_risk.filters = Some(Filters {
        segments: names.clone(),
        stages: vec!["active".into()],
    });
    let pages = vec![
        page(
            "overview",
            "Overview",
            vec![model_note],
            vec![
                headline_panel(items, options.earlier.last()),
                sizes,
                churn_by_group,
            ],
        ),
        page("segments", "Segments", vec![], vec![scatter]),
        page("retention", "Retention", vec![], survival),
        at_risk,
    ];
    Ok(Analysis {
        name: options.name.clone(),
        as_of: options.as_of,
        pages,
        customers,
        model: CustomerModel {
            model: None,
            unit: "months".into(),
            as_of: format_day(options.as_of),
            reasons: "Contributions to the churn classifier's log-odds (tree path attribution); \
                      positive raises the risk."
                .into(),
            reasons_in_log_odds: true,
        },
        kpis,
        ingest: None,
    })
}
