//! The pages of a log analysis: overview, segments, value, retention, at-risk. Each panel's
//! chart and table come from the same numbers; charts never carry one point per customer
//! (histograms are binned, the scatter is a sample of at most [`SCATTER_POINTS`]).

use std::collections::BTreeMap;

use retain_data::cohorts::CohortTable;
use retain_data::dates::{format_day, Period, TimeUnit};
use retain_data::features::repeat_summary;
use retain_data::{Activity, PurchaseHistory};
use retain_models::btyd::{calibration_vs_holdout, FitOptions, Lifetimes, ShiftedBetaGeometric};
use retain_models::lifecycle::Stage;
use retain_models::survival::{log_rank, KaplanMeier};
use serde_json::{json, Value};

use super::page::*;
use super::{AnalysisOptions, Customers, Fits, Kpis, UNIT};
use crate::cohorts::{cohorts_of_purchases, CohortOptions};
use crate::diagnose::tracking_rows;
use crate::fit::{fit_purchase_model, PurchaseData};
use crate::source::SummaryColumns;
use crate::Result;

/// Points of the recency × spend scatter, at most.
pub const SCATTER_POINTS: usize = 2_000;

/// The headline numbers at `at`.
pub(crate) fn kpis(history: &PurchaseHistory, c: &Customers, at: i32) -> Kpis {
    let count = |stage: Stage| c.stage.iter().filter(|s| *s == stage.name()).count() as f64;
    let window = churn_window(history, at);
    let (mut before, mut lost) = (0usize, 0usize);
    let mut revenue = 0.0;
    for &k in &c.index {
        let days = history.days(k);
        let in_range = |from: i32, to: i32| days.iter().any(|&d| d > from && d <= to);
        for (&d, &a) in days.iter().zip(history.amounts(k)) {
            if d > at - 365 && d <= at {
                revenue += a;
            }
        }
        if let Some(w) = window {
            if in_range(at - 2 * w, at - w) {
                before += 1;
                if !in_range(at - w, at) {
                    lost += 1;
                }
            }
        }
    }
    let clv: Vec<f64> = c.clv.iter().flatten().copied().collect();
    Kpis {
        customers: c.index.len() as f64,
        active: count(Stage::New) + count(Stage::Active),
        at_risk: count(Stage::AtRisk),
        revenue_12m: revenue,
        clv: (!clv.is_empty()).then(|| clv.iter().sum()),
        churn_rate: (before > 0).then(|| lost as f64 / before as f64),
    }
}

/// The length of the two windows of the churn rate: a year, or half the log when it is
/// shorter than two years (at least 28 days).
fn churn_window(history: &PurchaseHistory, at: i32) -> Option<i32> {
    let (first, _) = history.span()?;
    let w = ((at - first) / 2).min(365);
    (w >= 28).then_some(w)
}

pub(crate) fn all(
    history: &PurchaseHistory,
    c: &Customers,
    fits: &Fits,
    kpis: Kpis,
    at: i32,
    options: &AnalysisOptions,
    segment_order: &[String],
) -> Result<Vec<Page>> {
    let subtitle = format!(
        "{}, as of {} ({} customers)",
        options.name,
        format_day(at),
        people(c.index.len() as f64, Format::Int)
    );
    let page = |id: &str, title: &str, notes: Vec<String>, panels: Vec<Panel>| Page {
        page: id.into(),
        title: title.into(),
        subtitle: subtitle.clone(),
        notes,
        filters: None,
        panels,
    };
    let segments: Vec<String> = segment_order
        .iter()
        .filter(|s| c.segment.contains(s))
        .cloned()
        .collect();
    let mut at_risk = page(
        "at-risk",
        "At risk",
        vec![
            format!(
                "Churn risk is 1 − P(alive) from {} fitted on every customer's purchases to {}; \
                 value at risk is churn risk × what the customer has spent. Reasons say what \
                 raised the risk (positive) or lowered it, from the fit's average customer.",
                fits.kind.title(),
                format_day(at)
            ),
            "Next purchase: the median wait to the next purchase of a customer still alive; \
             shown only when P(alive) ≥ 0.5."
                .into(),
        ],
        vec![value_at_risk_panel(c, &segments)],
    );
    at_risk.filters = Some(Filters {
        segments: segments.clone(),
        stages: Stage::ALL.iter().map(|s| s.name().to_string()).collect(),
    });
    let campaign = options
        .campaign
        .as_ref()
        .map(|c| super::campaign::campaign_page(history, c, at, &subtitle))
        .transpose()?;
    let mut pages = vec![
        page(
            "overview",
            "Overview",
            fits.notes.clone(),
            overview(history, c, kpis, at, options),
        ),
        page(
            "segments",
            "Segments",
            vec![
                "RFM segments by the R × F map of quintile scores (5 best); value tiers by \
                  k-means (k = 3) on standardised log recency, purchase days and spend."
                    .into(),
            ],
            segment_panels(c, &segments),
        ),
        page(
            "value",
            "Value",
            fits.notes.clone(),
            value_panels(history, c, fits, at, options)?,
        ),
        page(
            "retention",
            "Retention",
            vec![format!(
                "A customer counts as churned in the survival curves after {} days without a \
                 purchase (at their last purchase); customers who bought within that time of {} \
                 are still customers (censored).",
                options.inactive_days,
                format_day(at)
            )],
            retention_panels(history, at, options)?,
        ),
        at_risk,
    ];
    pages.extend(campaign);
    Ok(pages)
}

// ---------------------------------------------------------------------------------------------
// Overview

fn overview(
    history: &PurchaseHistory,
    c: &Customers,
    kpis: Kpis,
    at: i32,
    options: &AnalysisOptions,
) -> Vec<Panel> {
    let previous = options.earlier.last().map(|e| e.kpis);
    let churn_label = match churn_window(history, at) {
        Some(365) | None => "Churn rate (year over year)".to_string(),
        Some(w) => format!("Churn rate ({w}-day windows)"),
    };
    let items: Vec<Headline> = vec![
        (
            "Customers".into(),
            Some(kpis.customers),
            previous.map(|p| p.customers),
            Format::Int,
            Better::Up,
        ),
        (
            "Active".into(),
            Some(kpis.active),
            previous.map(|p| p.active),
            Format::Int,
            Better::Up,
        ),
        (
            "At risk".into(),
            Some(kpis.at_risk),
            previous.map(|p| p.at_risk),
            Format::Int,
            Better::Down,
        ),
        (
            "Revenue, last 12 months".into(),
            Some(kpis.revenue_12m),
            previous.map(|p| p.revenue_12m),
            Format::Money,
            Better::Up,
        ),
        (
            format!("Predicted CLV, next {} months", options.clv_months),
            kpis.clv,
            previous.and_then(|p| p.clv),
            Format::Money,
            Better::Up,
        ),
        (
            churn_label,
            kpis.churn_rate,
            previous.and_then(|p| p.churn_rate),
            Format::Share,
            Better::Down,
        ),
    ];
    let headline = headline_panel(items, options.earlier.last());

    // Revenue and active customers by month, over the whole log.
    let mut revenue: BTreeMap<i32, f64> = BTreeMap::new();
    let mut active: BTreeMap<i32, u64> = BTreeMap::new();
    for &k in &c.index {
        let mut last_month = None;
        for (&d, &a) in history.days(k).iter().zip(history.amounts(k)) {
            if d > at {
                break;
            }
            let m = Period::Month.ordinal(d);
            *revenue.entry(m).or_default() += a;
            if last_month != Some(m) {
                *active.entry(m).or_default() += 1;
                last_month = Some(m);
            }
        }
    }
    let months: Vec<i32> = match (revenue.keys().next(), revenue.keys().last()) {
        (Some(&a), Some(&b)) => (a..=b).collect(),
        _ => vec![],
    };
    let labels: Vec<String> = months.iter().map(|&m| Period::Month.label(m)).collect();
    let mut monthly = Table::new(&[
        ("month", "Month", Format::Text),
        ("revenue", "Revenue", Format::Money),
        ("active", "Customers buying", Format::Int),
    ]);
    for (m, label) in months.iter().zip(&labels) {
        monthly.push(vec![
            json!(label),
            num(revenue.get(m).copied().unwrap_or(0.0)),
            json!(active.get(m).copied().unwrap_or(0)),
        ]);
    }
    let revenue_values: Vec<f64> = months
        .iter()
        .map(|m| revenue.get(m).copied().unwrap_or(0.0))
        .collect();
    let active_values: Vec<f64> = months
        .iter()
        .map(|m| active.get(m).copied().unwrap_or(0) as f64)
        .collect();
    let best = revenue_values
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, v)| {
            format!(
                "; the best month was {} with {}",
                labels[i],
                people(*v, Format::Money)
            )
        })
        .unwrap_or_default();
    let revenue_panel = Panel {
        id: "revenue-by-month".into(),
        title: "Revenue by month".into(),
        alt: format!(
            "Bar chart of revenue in each of {} months{best}.",
            months.len()
        ),
        caption: None,
        width: Width::Half,
        chart: Some(Chart::Bar {
            categories: labels.clone(),
            series: vec![Series::new("revenue", revenue_values)],
            stacked: false,
            horizontal: false,
            x_label: "month".into(),
            y_label: "revenue".into(),
            format: Format::Money,
        }),
        table: monthly.clone(),
    };
    let active_panel = Panel {
        id: "customers-by-month".into(),
        title: "Customers buying each month".into(),
        alt: format!(
            "Line chart of the customers with a purchase in each of {} months, from {} to {}.",
            months.len(),
            people(
                active_values.iter().copied().fold(f64::INFINITY, f64::min),
                Format::Int
            ),
            people(
                active_values.iter().copied().fold(0.0, f64::max),
                Format::Int
            )
        ),
        caption: None,
        width: Width::Half,
        chart: Some(Chart::Line {
            x_type: XType::Category,
            x: labels.iter().map(|l| json!(l)).collect(),
            series: vec![Series::new("customers buying", active_values)],
            x_label: "month".into(),
            y_label: "customers".into(),
            format: Format::Int,
            y_min: Some(0.0),
            y_max: None,
            markers: vec![],
        }),
        table: monthly,
    };

    // CLV and revenue over the analyses of this name.
    let mut runs: Vec<(String, Kpis)> = options
        .earlier
        .iter()
        .map(|e| (e.as_of.clone(), e.kpis))
        .collect();
    runs.push((format_day(at), kpis));
    let mut over_runs = Table::new(&[
        ("as_of", "Analysis as of", Format::Date),
        ("clv", "Predicted CLV", Format::Money),
        ("revenue_12m", "Revenue, last 12 months", Format::Money),
        ("customers", "Customers", Format::Int),
    ]);
    for (as_of, k) in &runs {
        over_runs.push(vec![
            json!(as_of),
            k.clv.map_or(Value::Null, num),
            num(k.revenue_12m),
            num(k.customers),
        ]);
    }
    let runs_panel = Panel {
        id: "clv-over-runs".into(),
        title: "Predicted CLV and revenue, analysis by analysis".into(),
        alt: format!(
            "Line chart of predicted CLV and last-12-month revenue in {} analyses of {}.",
            runs.len(),
            options.name
        ),
        caption: Some("Each point is one stored analysis of this name.".into()),
        width: Width::Full,
        chart: Some(Chart::Line {
            x_type: XType::Category,
            x: runs.iter().map(|(d, _)| json!(d)).collect(),
            series: vec![
                Series::new(
                    "predicted CLV",
                    runs.iter().map(|(_, k)| k.clv.unwrap_or(f64::NAN)),
                ),
                Series::new(
                    "revenue, last 12 months",
                    runs.iter().map(|(_, k)| k.revenue_12m),
                ),
            ],
            x_label: "analysis as of".into(),
            y_label: "money".into(),
            format: Format::Money,
            y_min: Some(0.0),
            y_max: None,
            markers: vec![],
        }),
        table: over_runs,
    };
    vec![headline, revenue_panel, active_panel, runs_panel]
}

/// A headline number: label, value, the previous analysis's, format, which way is good.
pub(crate) type Headline = (String, Option<f64>, Option<f64>, Format, Better);

/// The headline numbers as tiles, with their changes since `earlier`.
pub(crate) fn headline_panel(
    items: Vec<Headline>,
    earlier: Option<&super::EarlierAnalysis>,
) -> Panel {
    let mut table = Table::new(&[
        ("metric", "Metric", Format::Text),
        ("value", "Value", Format::Number),
        ("previous", "Previous analysis", Format::Number),
    ]);
    for (label, value, prev, _, _) in &items {
        table.push(vec![
            json!(label),
            value.map_or(Value::Null, num),
            prev.map_or(Value::Null, num),
        ]);
    }
    let alt = items
        .iter()
        .map(|(label, value, _, format, _)| {
            format!(
                "{label} {}",
                value.map_or("–".into(), |v| people(v, *format))
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Panel {
        id: "kpis".into(),
        title: "Headline numbers".into(),
        alt,
        caption: Some(match earlier {
            Some(e) => format!("Changes are against the analysis as of {}.", e.as_of),
            None => "The first analysis of this name: no earlier one to compare with.".into(),
        }),
        width: Width::Full,
        chart: Some(Chart::Kpis {
            items: items
                .into_iter()
                .map(|(label, value, previous, format, better)| Kpi {
                    label,
                    value,
                    previous,
                    format,
                    better,
                })
                .collect(),
        }),
        table,
    }
}

// ---------------------------------------------------------------------------------------------
// Segments

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (n, s) = v.fold((0usize, 0.0), |(n, s), x| (n + 1, s + x));
    if n == 0 {
        f64::NAN
    } else {
        s / n as f64
    }
}

/// The profile of each group of `labels` (in `order`): customers, shares, means.
fn profile_table(c: &Customers, labels: &[String], order: &[String], what: &str) -> Table {
    let n = labels.len() as f64;
    let revenue: f64 = c.spend.iter().sum();
    let mut table = Table::new(&[
        ("segment", what, Format::Text),
        ("customers", "Customers", Format::Int),
        ("share", "Share of customers", Format::Share),
        ("revenue_share", "Share of revenue", Format::Share),
        ("mean_spend", "Mean spend", Format::Money),
        ("mean_clv", "Mean CLV", Format::Money),
        ("mean_churn_risk", "Mean churn risk", Format::Share),
        (
            "mean_recency_days",
            "Mean days since last purchase",
            Format::Number,
        ),
        ("mean_purchase_days", "Mean purchase days", Format::Number),
    ]);
    for name in order {
        let rows: Vec<usize> = (0..labels.len()).filter(|&i| &labels[i] == name).collect();
        if rows.is_empty() {
            continue;
        }
        let spend: f64 = rows.iter().map(|&i| c.spend[i]).sum();
        table.push(vec![
            json!(name),
            json!(rows.len()),
            num(rows.len() as f64 / n),
            num(if revenue > 0.0 {
                spend / revenue
            } else {
                f64::NAN
            }),
            num(spend / rows.len() as f64),
            num(mean(rows.iter().filter_map(|&i| c.clv[i]))),
            num(mean(rows.iter().map(|&i| 1.0 - c.p_alive[i]))),
            num(mean(rows.iter().map(|&i| c.recency_days[i]))),
            num(mean(rows.iter().map(|&i| c.purchase_days[i]))),
        ]);
    }
    table
}

/// The shares of customers and revenue of a profile table, as bars.
fn share_bars(table: &Table, x_label: &str) -> Chart {
    let column = |j: usize| {
        table
            .rows
            .iter()
            .map(move |r| r[j].as_f64().unwrap_or(f64::NAN))
    };
    Chart::Bar {
        categories: table
            .rows
            .iter()
            .map(|r| r[0].as_str().unwrap_or("").to_string())
            .collect(),
        series: vec![
            Series::new("share of customers", column(2)),
            Series::new("share of revenue", column(3)),
        ],
        stacked: false,
        horizontal: false,
        x_label: x_label.into(),
        y_label: "share".into(),
        format: Format::Share,
    }
}

fn segment_panels(c: &Customers, segments: &[String]) -> Vec<Panel> {
    let profiles = profile_table(c, &c.segment, segments, "Segment");
    let largest = profiles
        .rows
        .iter()
        .max_by(|a, b| a[1].as_u64().cmp(&b[1].as_u64()))
        .map(|r| {
            format!(
                "; the largest is {} with {} customers",
                r[0].as_str().unwrap_or(""),
                r[1]
            )
        })
        .unwrap_or_default();
    let sizes = Panel {
        id: "segment-sizes".into(),
        title: "Customers and revenue by RFM segment".into(),
        alt: format!(
            "Bar chart of the share of customers and of revenue in {} segments{largest}.",
            profiles.rows.len()
        ),
        caption: Some("The table is each segment's profile; churn risk is 1 − P(alive).".into()),
        width: Width::Full,
        chart: Some(share_bars(&profiles, "segment")),
        table: profiles,
    };

    // The R × F grid: customers per pair of scores.
    let mut grid = [[0u64; 5]; 5];
    for i in 0..c.index.len() {
        let (r, f) = (c.scores[0][i], c.scores[1][i]);
        if (1..=5).contains(&r) && (1..=5).contains(&f) {
            grid[usize::from(r - 1)][usize::from(f - 1)] += 1;
        }
    }
    let mut cells = Vec::new();
    let mut rf = Table::new(&[
        ("r_score", "Recency score", Format::Int),
        ("f_score", "Frequency score", Format::Int),
        ("customers", "Customers", Format::Int),
        ("segment", "Segment", Format::Text),
    ]);
    for (r, row) in grid.iter().enumerate() {
        for (f, &customers) in row.iter().enumerate() {
            cells.push((f, r, customers as f64));
            rf.push(vec![
                json!(r + 1),
                json!(f + 1),
                json!(customers),
                json!(retain_models::segment::rfm_segment(
                    r as u8 + 1,
                    f as u8 + 1
                )),
            ]);
        }
    }
    let max = cells.iter().map(|c| c.2).fold(0.0, f64::max);
    let heatmap = Panel {
        id: "rf-heatmap".into(),
        title: "Customers by recency and frequency score".into(),
        alt: format!(
            "Heatmap of the customers in each of the 25 pairs of recency and frequency scores; \
             {} customers have the best scores on both.",
            grid[4][4]
        ),
        caption: Some("Scores are quintiles, 5 the best (most recent, most frequent).".into()),
        width: Width::Half,
        chart: Some(Chart::Heatmap {
            x: (1..=5).map(|f| format!("F{f}")).collect(),
            y: (1..=5).map(|r| format!("R{r}")).collect(),
            cells,
            x_label: "frequency score".into(),
            y_label: "recency score".into(),
            format: Format::Int,
            min: 0.0,
            max,
        }),
        table: rf,
    };

    // Recency × spend, a sample of at most SCATTER_POINTS customers spread over the ids.
    let positive: Vec<usize> = (0..c.index.len()).filter(|&i| c.spend[i] > 0.0).collect();
    let step = positive.len().div_ceil(SCATTER_POINTS).max(1);
    let sample: Vec<usize> = positive.iter().step_by(step).copied().collect();
    let mut points = Table::new(&[
        ("customer_id", "Customer", Format::Text),
        ("segment", "Segment", Format::Text),
        ("recency_days", "Days since last purchase", Format::Int),
        ("spend", "Spend", Format::Money),
    ]);
    let series = segments
        .iter()
        .map(|name| PointSeries {
            name: name.clone(),
            points: sample
                .iter()
                .filter(|&&i| &c.segment[i] == name)
                .map(|&i| (c.recency_days[i], c.spend[i]))
                .collect(),
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    for &i in &sample {
        points.push(vec![
            json!(c.ids[i]),
            json!(c.segment[i]),
            num(c.recency_days[i]),
            num(c.spend[i]),
        ]);
    }
    let scatter = Panel {
        id: "recency-spend".into(),
        title: "Days since last purchase and spend, by segment".into(),
        alt: format!(
            "Scatter plot of {} customers' days since their last purchase against their total \
             spend (log scale), coloured by segment.",
            sample.len()
        ),
        caption: Some(if step > 1 {
            format!(
                "Every {step}th customer with a positive spend ({} of {}).",
                sample.len(),
                c.index.len()
            )
        } else {
            format!(
                "Every customer with a positive spend ({} of {}).",
                sample.len(),
                c.index.len()
            )
        }),
        width: Width::Half,
        chart: Some(Chart::Scatter {
            series,
            x_label: "days since last purchase".into(),
            y_label: "spend".into(),
            x_log: false,
            y_log: true,
            format_x: Format::Int,
            format_y: Format::Money,
        }),
        table: points,
    };

    let tier_order: Vec<String> = ["high value", "mid value", "low value"]
        .iter()
        .map(|s| s.to_string())
        .filter(|s| c.tier.contains(s))
        .collect();
    let tiers = profile_table(c, &c.tier, &tier_order, "Value tier");
    let tier_panel = Panel {
        id: "value-tiers".into(),
        title: "Value tiers (k-means)".into(),
        alt: format!(
            "Bar chart of the share of customers and revenue in {} value tiers.",
            tiers.rows.len()
        ),
        caption: Some("Three k-means clusters named by their mean spend.".into()),
        width: Width::Full,
        chart: Some(share_bars(&tiers, "value tier")),
        table: tiers,
    };
    vec![sizes, heatmap, scatter, tier_panel]
}

// ---------------------------------------------------------------------------------------------
// Value

/// Equal-width bins from 0 to the 99th percentile, the last open-ended.
fn histogram(values: &[f64], bins: usize) -> Vec<(f64, f64, usize)> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return vec![];
    }
    sorted.sort_by(f64::total_cmp);
    let low = sorted[0].min(0.0);
    let top = sorted[((sorted.len() - 1) as f64 * 0.99) as usize].max(low + 1e-9);
    let width = (top - low) / bins as f64;
    let mut counts = vec![0usize; bins];
    for v in &sorted {
        let b = (((v - low) / width) as usize).min(bins - 1);
        counts[b] += 1;
    }
    (0..bins)
        .map(|b| {
            let from = low + b as f64 * width;
            let to = if b + 1 == bins {
                f64::INFINITY
            } else {
                from + width
            };
            (from, to, counts[b])
        })
        .collect()
}

fn value_panels(
    history: &PurchaseHistory,
    c: &Customers,
    fits: &Fits,
    at: i32,
    options: &AnalysisOptions,
) -> Result<Vec<Panel>> {
    let mut panels = Vec::new();
    let months = options.clv_months;
    let values: Vec<f64> = c.clv.iter().map(|v| v.unwrap_or(f64::NAN)).collect();
    if values.iter().any(|v| v.is_finite()) {
        let bins = histogram(&values, 30);
        let mut table = Table::new(&[
            ("from", "CLV from", Format::Money),
            ("to", "to", Format::Money),
            ("customers", "Customers", Format::Int),
        ]);
        let mut categories = Vec::new();
        for &(from, to, n) in &bins {
            table.push(vec![num(from), num(to), json!(n)]);
            categories.push(if to.is_finite() {
                format!(
                    "{}–{}",
                    people(from, Format::Money),
                    people(to, Format::Money)
                )
            } else {
                format!("≥ {}", people(from, Format::Money))
            });
        }
        let median = {
            let mut v: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        panels.push(Panel {
            id: "clv-distribution".into(),
            title: format!("CLV over the next {months} months"),
            alt: format!(
                "Histogram of {} customers' CLV in 30 bins; the median customer is worth {}.",
                values.iter().filter(|v| v.is_finite()).count(),
                people(median, Format::Money)
            ),
            caption: Some(format!(
                "Discounted at {}% a month; the last bin holds the top 1%.",
                options.discount * 100.0
            )),
            width: Width::Half,
            chart: Some(Chart::Bar {
                categories,
                series: vec![Series::new("customers", bins.iter().map(|b| b.2 as f64))],
                stacked: false,
                horizontal: false,
                x_label: "CLV".into(),
                y_label: "customers".into(),
                format: Format::Int,
            }),
            table,
        });

        // CLV by segment.
        let mut segments: Vec<String> = Vec::new();
        for s in &c.segment {
            if !segments.contains(s) {
                segments.push(s.clone());
            }
        }
        let total: f64 = values.iter().filter(|v| v.is_finite()).sum();
        let mut rows: Vec<(String, usize, f64)> = segments
            .iter()
            .map(|s| {
                let members: Vec<f64> = (0..values.len())
                    .filter(|&i| &c.segment[i] == s && values[i].is_finite())
                    .map(|i| values[i])
                    .collect();
                (s.clone(), members.len(), members.iter().sum())
            })
            .collect();
        rows.sort_by(|a, b| b.2.total_cmp(&a.2));
        let mut table = Table::new(&[
            ("segment", "Segment", Format::Text),
            ("customers", "Customers", Format::Int),
            ("total_clv", "Total CLV", Format::Money),
            ("mean_clv", "Mean CLV", Format::Money),
            ("clv_share", "Share of CLV", Format::Share),
        ]);
        for (s, n, sum) in &rows {
            table.push(vec![
                json!(s),
                json!(n),
                num(*sum),
                num(sum / *n as f64),
                num(sum / total),
            ]);
        }
        panels.push(Panel {
            id: "clv-by-segment".into(),
            title: "CLV by segment".into(),
            alt: format!(
                "Bar chart of the total CLV of each of {} segments; {} holds the most ({}).",
                rows.len(),
                rows.first().map_or("", |r| r.0.as_str()),
                rows.first()
                    .map_or("–".into(), |r| people(r.2, Format::Money))
            ),
            caption: None,
            width: Width::Half,
            chart: Some(Chart::Bar {
                categories: rows.iter().map(|r| r.0.clone()).collect(),
                series: vec![Series::new("total CLV", rows.iter().map(|r| r.2))],
                stacked: false,
                horizontal: true,
                x_label: "segment".into(),
                y_label: "CLV".into(),
                format: Format::Money,
            }),
            table,
        });

        // The most valuable customers.
        let mut order: Vec<usize> = (0..values.len())
            .filter(|&i| values[i].is_finite())
            .collect();
        order.sort_by(|&a, &b| {
            values[b]
                .total_cmp(&values[a])
                .then(c.ids[a].cmp(&c.ids[b]))
        });
        order.truncate(20);
        let mut table = Table::new(&[
            ("customer_id", "Customer", Format::Text),
            ("segment", "Segment", Format::Text),
            ("repeat_purchases", "Repeat purchases", Format::Int),
            ("spend", "Spend so far", Format::Money),
            ("p_alive", "P(alive)", Format::Share),
            ("expected_purchases", "Expected purchases", Format::Number),
            ("clv", "CLV", Format::Money),
        ]);
        for &i in &order {
            table.push(vec![
                json!(c.ids[i]),
                json!(c.segment[i]),
                num(c.x[i]),
                num(c.spend[i]),
                num(c.p_alive[i]),
                num(c.expected_purchases[i]),
                num(values[i]),
            ]);
        }
        panels.push(Panel {
            id: "top-customers".into(),
            title: "The 20 most valuable customers".into(),
            alt: format!(
                "Bar chart of the CLV of the 20 most valuable customers, from {} down.",
                order
                    .first()
                    .map_or("–".into(), |&i| people(values[i], Format::Money))
            ),
            caption: None,
            width: Width::Full,
            chart: Some(Chart::Bar {
                categories: order.iter().map(|&i| c.ids[i].clone()).collect(),
                series: vec![Series::new("CLV", order.iter().map(|&i| values[i]))],
                stacked: false,
                horizontal: false,
                x_label: "customer".into(),
                y_label: "CLV".into(),
                format: Format::Money,
            }),
            table,
        });
    }
    panels.extend(holdout_panels(history, fits, at, options)?);
    panels.push(alive_matrix(c, fits));
    panels.push(fit_panel(fits));
    Ok(panels)
}

/// The purchase model refitted on the first part of the log, checked on the rest: mean
/// holdout purchases by calibration purchases, and cumulative repeat purchases week by week.
fn holdout_panels(
    history: &PurchaseHistory,
    fits: &Fits,
    at: i32,
    options: &AnalysisOptions,
) -> Result<Vec<Panel>> {
    let Some((first, _)) = history.span() else {
        return Ok(vec![]);
    };
    // Half the log, at most a year, held out; whole weeks.
    let holdout_days = (((at - first + 1) / 2).min(365) / 7) * 7;
    if holdout_days < 28 {
        return Ok(vec![]);
    }
    let calibration_end = at - holdout_days;
    let customers: Vec<usize> = (0..history.len())
        .filter(|&k| {
            history
                .days(k)
                .first()
                .is_some_and(|&d| d <= calibration_end)
        })
        .collect();
    let s = repeat_summary(history, &customers, calibration_end, UNIT.days());
    let columns = SummaryColumns {
        ids: None,
        frequency: s.x.clone(),
        recency: s.t_x.clone(),
        t: s.t.clone(),
        monetary: None,
        weights: None,
    };
    let data = PurchaseData::from_columns(&columns)?;
    let Ok(fit) = fit_purchase_model(fits.kind, &data, &options.fit) else {
        return Ok(vec![]);
    };
    let model = fit.saved();
    let holdout: Vec<f64> = customers
        .iter()
        .map(|&k| {
            history
                .days(k)
                .iter()
                .filter(|&&d| d > calibration_end && d <= at)
                .count() as f64
        })
        .collect();
    let duration = vec![f64::from(holdout_days) / UNIT.days(); customers.len()];
    let groups = calibration_vs_holdout(
        model.model(),
        (&s.x, &s.t_x, &s.t),
        (&holdout, &duration),
        7,
    )?;
    let mut table = Table::new(&[
        ("frequency", "Repeat purchases in calibration", Format::Text),
        ("customers", "Customers", Format::Int),
        ("actual", "Actual mean in holdout", Format::Number),
        ("model", "Model's mean", Format::Number),
    ]);
    for g in &groups {
        table.push(vec![
            json!(g.frequency),
            json!(g.customers),
            num(g.actual),
            num(g.predicted),
        ]);
    }
    let title = fits.kind.title();
    let calibration = Panel {
        id: "calibration-holdout".into(),
        title: "Calibration against holdout".into(),
        alt: format!(
            "Bar chart of the mean purchases in the {} holdout weeks, actual and {title}, for \
             customers grouped by their repeat purchases before {}.",
            holdout_days / 7,
            format_day(calibration_end)
        ),
        caption: Some(format!(
            "{title} refitted on the purchases to {} and compared with the {} weeks after \
             (lifetimes' plot_calibration_purchases_vs_holdout_purchases).",
            format_day(calibration_end),
            holdout_days / 7
        )),
        width: Width::Half,
        chart: Some(Chart::Bar {
            categories: groups.iter().map(|g| g.frequency.clone()).collect(),
            series: vec![
                Series::new("actual", groups.iter().map(|g| g.actual)),
                Series::new(title, groups.iter().map(|g| g.predicted)),
            ],
            stacked: false,
            horizontal: false,
            x_label: "repeat purchases in calibration".into(),
            y_label: "mean purchases in holdout".into(),
            format: Format::Number,
        }),
        table,
    };

    let activity = activity_of(history, at);
    let every = if at - first > 5 * 365 { 4.0 } else { 1.0 };
    let rows = tracking_rows(model.model(), &activity, UNIT, every, (calibration_end, at))?;
    let mut table = Table::new(&[
        ("through", "Through", Format::Date),
        ("window", "Window", Format::Text),
        ("actual", "Actual repeat purchases", Format::Int),
        ("expected", "Expected", Format::Number),
    ]);
    for r in &rows {
        table.push(vec![
            json!(format_day(r.through)),
            json!(r.window),
            num(r.point.actual_cumulative),
            num(r.point.expected_cumulative),
        ]);
    }
    let tracking = Panel {
        id: "cumulative-tracking".into(),
        title: "Cumulative repeat purchases, actual and expected".into(),
        alt: format!(
            "Line chart of cumulative repeat purchases every {every} weeks: {} actual and {} \
             expected by {}.",
            people(
                rows.last().map_or(0.0, |r| r.point.actual_cumulative),
                Format::Int
            ),
            people(
                rows.last().map_or(0.0, |r| r.point.expected_cumulative),
                Format::Int
            ),
            format_day(at)
        ),
        caption: Some(
            "The dashed line marks the end of the calibration window (lifetimes' \
             plot_cumulative_transactions)."
                .into(),
        ),
        width: Width::Half,
        chart: Some(Chart::Line {
            x_type: XType::Time,
            x: rows.iter().map(|r| json!(format_day(r.through))).collect(),
            series: vec![
                Series::new("actual", rows.iter().map(|r| r.point.actual_cumulative)),
                Series {
                    dashed: true,
                    ..Series::new(title, rows.iter().map(|r| r.point.expected_cumulative))
                },
            ],
            x_label: "date".into(),
            y_label: "repeat purchases".into(),
            format: Format::Int,
            y_min: Some(0.0),
            y_max: None,
            markers: vec![Marker {
                x: json!(format_day(calibration_end)),
                label: "calibration end".into(),
            }],
        }),
        table,
    };
    Ok(vec![calibration, tracking])
}

/// First and repeat purchase days per day, up to `at`.
fn activity_of(history: &PurchaseHistory, at: i32) -> Activity {
    let mut activity = Activity::default();
    for k in 0..history.len() {
        for (j, &d) in history.days(k).iter().enumerate() {
            if d > at {
                break;
            }
            let map = if j == 0 {
                &mut activity.first_purchases
            } else {
                &mut activity.repeat_purchases
            };
            *map.entry(d).or_default() += 1;
        }
    }
    activity
}

/// P(alive) over frequency × recency at the age of the oldest customer, as lifetimes'
/// plot_probability_alive_matrix draws it; at most 40 × 60 cells.
fn alive_matrix(c: &Customers, fits: &Fits) -> Panel {
    let max_f = c.x.iter().copied().fold(0.0, f64::max).min(40.0) as usize;
    let max_t = c.t.iter().copied().fold(0.0, f64::max).ceil().max(1.0);
    let rows = (max_t as usize + 1).min(60);
    let step = max_t / (rows - 1).max(1) as f64;
    let model = fits.purchase.model();
    let mut cells = Vec::new();
    let mut table = Table::new(&[
        ("frequency", "Repeat purchases", Format::Int),
        ("recency", "Recency (weeks)", Format::Number),
        ("p_alive", "P(alive)", Format::Share),
    ]);
    for (yi, recency) in (0..rows).map(|j| (j, j as f64 * step)) {
        for f in 0..=max_f {
            let recency = if f == 0 { 0.0 } else { recency };
            let p = model.p_alive(f as f64, recency, max_t);
            cells.push((f, yi, p));
            table.push(vec![json!(f), num(yi as f64 * step), num(p)]);
        }
    }
    Panel {
        id: "p-alive-matrix".into(),
        title: "P(alive) by frequency and recency".into(),
        alt: format!(
            "Heatmap of the probability a customer is alive for 0 to {max_f} repeat purchases \
             and a last purchase 0 to {max_t:.0} weeks after the first, at an age of {max_t:.0} weeks."
        ),
        caption: Some(format!(
            "Every cell is a customer as old as the oldest ({max_t:.0} weeks; lifetimes' \
             plot_probability_alive_matrix). Customers without repeat purchases have recency 0."
        )),
        width: Width::Full,
        chart: Some(Chart::Heatmap {
            x: (0..=max_f).map(|f| f.to_string()).collect(),
            y: (0..rows).map(|j| format!("{:.0}", j as f64 * step)).collect(),
            cells,
            x_label: "repeat purchases".into(),
            y_label: "recency (weeks)".into(),
            format: Format::Share,
            min: 0.0,
            max: 1.0,
        }),
        table,
    }
}

fn fit_panel(fits: &Fits) -> Panel {
    let mut table = Table::new(&[
        ("model", "Model", Format::Text),
        ("parameter", "Parameter", Format::Text),
        ("estimate", "Estimate", Format::Number),
        ("std_error", "Standard error", Format::Number),
    ]);
    let mut lines = Vec::new();
    for fit in std::iter::once(&fits.purchase_fit).chain(&fits.spend_fit) {
        for (j, (name, v)) in fit.params.iter().enumerate() {
            let se = fit.std_errors.as_ref().map(|s| s[j].1);
            table.push(vec![
                json!(fit.title),
                json!(name),
                num(*v),
                se.map_or(Value::Null, num),
            ]);
        }
        lines.push(format!(
            "{}: log-likelihood {:.2} over {} customers{}",
            fit.title,
            fit.log_likelihood,
            fit.n_customers,
            if fit.warnings.is_empty() {
                String::new()
            } else {
                format!(" ({})", fit.warnings.join("; "))
            }
        ));
    }
    Panel {
        id: "model-fit".into(),
        title: "The fitted models".into(),
        alt: lines.join(". "),
        caption: Some(format!(
            "{}. {} customers acquired on the last day were left out of the fit and scored.",
            lines.join(". "),
            fits.left_out
        )),
        width: Width::Full,
        chart: None,
        table,
    }
}

// ---------------------------------------------------------------------------------------------
// Retention

/// The cohort period of a log: months up to three years, else quarters.
fn cohort_period(first: i32, at: i32) -> Period {
    if at - first <= 3 * 366 {
        Period::Month
    } else {
        Period::Quarter
    }
}

fn cohort_heatmap(table: &CohortTable, id: &str, what: &str) -> Panel {
    let periods = table
        .cohorts
        .iter()
        .map(|c| c.share.len())
        .max()
        .unwrap_or(0);
    let mut cells = Vec::new();
    let mut t = Table::new(&[
        ("cohort", "Cohort", Format::Text),
        ("size", "Customers", Format::Int),
        ("periods_since", "Periods since acquisition", Format::Int),
        (
            "value",
            what,
            match id {
                "cohort-shares" => Format::Share,
                "cohort-revenue" => Format::Money,
                _ => Format::Int,
            },
        ),
    ]);
    let format = match id {
        "cohort-shares" => Format::Share,
        "cohort-revenue" => Format::Money,
        _ => Format::Int,
    };
    for (y, cohort) in table.cohorts.iter().enumerate() {
        for p in 0..cohort.share.len() {
            let v = match id {
                "cohort-shares" => cohort.share[p],
                "cohort-revenue" => cohort.revenue[p],
                _ => cohort.active[p] as f64,
            };
            cells.push((p, y, v));
            t.push(vec![
                json!(cohort.cohort),
                json!(cohort.size),
                json!(p),
                num(v),
            ]);
        }
    }
    let (min, max) = cells.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), c| {
        (lo.min(c.2), hi.max(c.2))
    });
    // The acquisition period is 100% for every cohort: the scale starts from the later ones.
    let max = if id == "cohort-shares" {
        cells
            .iter()
            .filter(|c| c.0 > 0)
            .map(|c| c.2)
            .fold(0.0, f64::max)
            .max(0.01)
    } else {
        max
    };
    Panel {
        id: id.into(),
        title: format!("Cohorts: {what}"),
        alt: format!(
            "Heatmap of {what} for {} cohorts over up to {periods} {} since acquisition.",
            table.cohorts.len(),
            period_name(table.period)
        ),
        caption: Some(format!(
            "Rows are {} of first purchase; columns count {} since.",
            period_name(table.period),
            period_name(table.period)
        )),
        width: Width::Full,
        chart: Some(Chart::Heatmap {
            x: (0..periods).map(|p| format!("+{p}")).collect(),
            y: table.cohorts.iter().map(|c| c.cohort.clone()).collect(),
            cells,
            x_label: format!("{} since acquisition", period_name(table.period)),
            y_label: "cohort".into(),
            format,
            min: if min.is_finite() { min.min(0.0) } else { 0.0 },
            max,
        }),
        table: t,
    }
}

fn period_name(period: Period) -> &'static str {
    match period {
        Period::Day => "days",
        Period::Week => "weeks",
        Period::Month => "months",
        Period::Quarter => "quarters",
    }
}

fn retention_panels(
    history: &PurchaseHistory,
    at: i32,
    options: &AnalysisOptions,
) -> Result<Vec<Panel>> {
    let (first, _) = history.span().unwrap_or((at, at));
    let period = cohort_period(first, at);
    let table = cohorts_of_purchases(
        history,
        &CohortOptions {
            period,
            observation_end: Some(at),
        },
    )?;
    let mut panels = vec![
        cohort_heatmap(&table, "cohort-shares", "share of the cohort buying"),
        cohort_heatmap(&table, "cohort-counts", "customers buying"),
        cohort_heatmap(&table, "cohort-revenue", "revenue"),
    ];

    let mut rates = Table::new(&[
        ("period", "Period", Format::Text),
        ("active", "Customers buying", Format::Int),
        ("base", "Bought the period before", Format::Int),
        ("retained", "Of whom bought again", Format::Int),
        ("retention_rate", "Retention rate", Format::Share),
        ("churn_rate", "Churn rate", Format::Share),
        ("partial", "Cut short", Format::Text),
    ]);
    for r in &table.rates {
        rates.push(vec![
            json!(r.period),
            json!(r.active),
            json!(r.base),
            json!(r.retained),
            r.retention_rate.map_or(Value::Null, num),
            r.churn_rate.map_or(Value::Null, num),
            json!(if r.partial { "yes" } else { "no" }),
        ]);
    }
    let mean_retention = mean(table.rates.iter().filter_map(|r| r.retention_rate));
    panels.push(Panel {
        id: "retention-by-period".into(),
        title: format!("Retention and churn by {}", &period_name(period)[..period_name(period).len() - 1]),
        alt: format!(
            "Line chart of retention and churn rates in {} calendar periods; retention averages {}.",
            table.rates.len(),
            people(mean_retention, Format::Share)
        ),
        caption: Some("Retention: of the customers who bought in the period before, the share who bought in this one.".into()),
        width: Width::Full,
        chart: Some(Chart::Line {
            x_type: XType::Category,
            x: table.rates.iter().map(|r| json!(r.period)).collect(),
            series: vec![
                Series::new("retention rate", table.rates.iter().map(|r| r.retention_rate.unwrap_or(f64::NAN))),
                Series::new("churn rate", table.rates.iter().map(|r| r.churn_rate.unwrap_or(f64::NAN))),
            ],
            x_label: "period".into(),
            y_label: "rate".into(),
            format: Format::Share,
            y_min: Some(0.0),
            y_max: Some(1.0),
            markers: vec![],
        }),
        table: rates,
    });
    panels.extend(survival_panels(history, at, options)?);
    Ok(panels)
}

/// Kaplan-Meier by year of acquisition with the log-rank test, and sBG over whole months.
fn survival_panels(
    history: &PurchaseHistory,
    at: i32,
    options: &AnalysisOptions,
) -> Result<Vec<Panel>> {
    let lifetimes = history.lifetimes(options.inactive_days, at, TimeUnit::Days.days());
    // Customers who first bought by `at`, in the history's order.
    let lifetimes: Vec<&(usize, f64, bool)> = lifetimes
        .iter()
        .filter(|l| history.days(l.0).first().is_some_and(|&d| d <= at))
        .collect();
    // Groups by year of first purchase, or quarter, or month: the coarsest that splits the
    // customers in two or more.
    let firsts: Vec<i32> = lifetimes.iter().map(|l| history.days(l.0)[0]).collect();
    let distinct = |label: &dyn Fn(i32) -> String| {
        let mut v: Vec<String> = firsts.iter().map(|&d| label(d)).collect();
        v.sort();
        v.dedup();
        v.len()
    };
    let year = |d: i32| {
        retain_data::dates::civil_from_days(d)
            .format("%Y")
            .to_string()
    };
    let quarter = |d: i32| Period::Quarter.label(Period::Quarter.ordinal(d));
    let month = |d: i32| Period::Month.label(Period::Month.ordinal(d));
    let grouping = if distinct(&year) > 1 {
        "year"
    } else if distinct(&quarter) > 1 {
        "quarter"
    } else {
        "month"
    };
    let group_of = |k: usize| {
        let d = history.days(k)[0];
        match grouping {
            "year" => year(d),
            "quarter" => quarter(d),
            _ => month(d),
        }
    };
    let mut names: Vec<String> = lifetimes.iter().map(|l| group_of(l.0)).collect();
    names.sort();
    names.dedup();
    // At most 8 curves: the latest groups, the earliest pooled.
    if names.len() > 8 {
        names.drain(..names.len() - 8);
        names[0] = format!("{} and earlier", names[0]);
    }
    let group_index = |k: usize| {
        let g = group_of(k);
        names.iter().position(|n| *n == g).unwrap_or(0)
    };
    let time: Vec<f64> = lifetimes.iter().map(|l| l.1).collect();
    let churned: Vec<bool> = lifetimes.iter().map(|l| l.2).collect();
    let groups: Vec<usize> = lifetimes.iter().map(|l| group_index(l.0)).collect();
    // sBG over whole months: a customer who churned did so in month ⌊days / 30.44⌋ + 1 (the
    // first month is 1); one still buying has completed ⌊days / 30.44⌋ months.
    let months: Vec<f64> = time
        .iter()
        .zip(&churned)
        .map(|(t, &c)| (t / 30.4375).floor() + if c { 1.0 } else { 0.0 })
        .collect();
    let zero = churned
        .iter()
        .zip(&time)
        .filter(|(&c, &t)| c && t == 0.0)
        .count();
    lifeline_panels(&Lifelines {
        title: format!("Survival by {grouping} of first purchase"),
        who: "customers by when they first bought".into(),
        group_label: "Acquired".into(),
        note: format!(
            "A lifetime runs from the first purchase to the last: the {} who never bought \
             again and stopped churn at day 0.",
            people(zero as f64 / time.len().max(1) as f64, Format::Share)
        ),
        unit: "days",
        time,
        churned,
        groups,
        names,
        months,
    })
}

/// Lifetimes to draw: durations in `unit` with churn flags and groups, and the same lifetimes
/// in whole months for sBG (churned in month m ≥ 1, or m months completed).
pub(crate) struct Lifelines {
    pub title: String,
    /// Whose curves these are, for the text alternative.
    pub who: String,
    pub group_label: String,
    /// What the reader should know about the lifetimes.
    pub note: String,
    /// "days" or "months".
    pub unit: &'static str,
    pub time: Vec<f64>,
    pub churned: Vec<bool>,
    pub groups: Vec<usize>,
    pub names: Vec<String>,
    pub months: Vec<f64>,
}

/// Kaplan-Meier per group with 95% bands and the log-rank test, and sBG fitted on the whole
/// months and projected a year ahead.
pub(crate) fn lifeline_panels(l: &Lifelines) -> Result<Vec<Panel>> {
    let (time, churned, groups, names, months) =
        (&l.time, &l.churned, &l.groups, &l.names, &l.months);
    let unit = l.unit;
    let max_time = time.iter().copied().fold(0.0, f64::max);
    let step = match unit {
        "days" if max_time > 3.0 * 365.0 => 30.0,
        "days" => 7.0,
        _ => 1.0,
    };
    let grid: Vec<f64> = (0..=(max_time / step).ceil() as usize)
        .map(|i| i as f64 * step)
        .collect();
    let mut series = Vec::new();
    let mut table = Table::new(&[
        ("group", l.group_label.as_str(), Format::Text),
        ("customers", "Customers", Format::Int),
        ("churned", "Churned", Format::Int),
        (
            "median",
            &format!("Median lifetime ({unit})"),
            Format::Number,
        ),
    ]);
    for (g, name) in names.iter().enumerate() {
        let rows: Vec<usize> = (0..time.len()).filter(|&i| groups[i] == g).collect();
        if rows.is_empty() {
            continue;
        }
        let t: Vec<f64> = rows.iter().map(|&i| time[i]).collect();
        let e: Vec<bool> = rows.iter().map(|&i| churned[i]).collect();
        let km = KaplanMeier::fit(&t, &e, 0.95)?;
        let last = t.iter().copied().fold(0.0, f64::max);
        // The step function read at the grid, up to the group's last time.
        let at_grid =
            |pick: &dyn Fn(&retain_models::survival::CurvePoint) -> f64| -> Vec<Option<f64>> {
                grid.iter()
                    .map(|&x| {
                        (x <= last + step).then(|| {
                            let j = km.curve.partition_point(|p| p.time <= x);
                            km.curve.get(j.saturating_sub(1)).map_or(1.0, pick)
                        })
                    })
                    .collect()
            };
        series.push(Series {
            name: name.clone(),
            values: at_grid(&|p| p.survival),
            step: true,
            dashed: false,
            lower: Some(at_grid(&|p| p.lower)),
            upper: Some(at_grid(&|p| p.upper)),
        });
        table.push(vec![
            json!(name),
            json!(km.n),
            json!(km.events),
            km.median.map_or(Value::Null, num),
        ]);
    }
    let test = if names.len() > 1 {
        Some(log_rank(time, churned, groups, names.len())?)
    } else {
        None
    };
    let test_text = test.map_or_else(
        || "one group: no test".to_string(),
        |t| {
            let p = if t.p_value < 0.001 {
                "p < 0.001".to_string()
            } else {
                format!("p = {:.3}", t.p_value)
            };
            format!("log-rank χ² = {:.2} on {} df, {p}", t.statistic, t.df)
        },
    );
    let km_panel = Panel {
        id: "survival-by-cohort".into(),
        title: l.title.clone(),
        alt: format!(
            "Step chart of Kaplan-Meier survival with 95% bands for {} groups of {}; {test_text}.",
            names.len(),
            l.who
        ),
        caption: Some(format!(
            "Kaplan-Meier with 95% bands (Greenwood, log-log), read every {step:.0} {unit}; \
             {test_text}. {}",
            l.note
        )),
        width: Width::Full,
        chart: Some(Chart::Line {
            x_type: XType::Value,
            x: grid.iter().map(|&x| json!(x)).collect(),
            series,
            x_label: format!("{unit} as a customer"),
            y_label: "still a customer".into(),
            format: Format::Share,
            y_min: Some(0.0),
            y_max: Some(1.0),
            markers: vec![],
        }),
        table,
    };

    let mut panels = vec![km_panel];
    let fitted = Lifetimes::from_customers(months, churned)
        .and_then(|data| ShiftedBetaGeometric::fit(&data, &FitOptions::default()));
    match fitted {
        Err(e) => {
            panels[0].caption = Some(format!(
                "{} No sBG projection: {e}.",
                panels[0].caption.clone().unwrap_or_default()
            ))
        }
        Ok(fit) => {
            let observed_to = months.iter().copied().fold(0.0, f64::max) as usize;
            let horizon = observed_to + 12;
            let km = KaplanMeier::fit(months, churned, 0.95)?;
            let observed: Vec<f64> = (0..=horizon)
                .map(|m| {
                    if m > observed_to {
                        return f64::NAN;
                    }
                    let j = km.curve.partition_point(|p| p.time <= m as f64);
                    km.curve
                        .get(j.saturating_sub(1))
                        .map_or(1.0, |p| p.survival)
                })
                .collect();
            let projected: Vec<f64> = (0..=horizon)
                .map(|m| fit.params.survival(m as f64))
                .collect();
            let mut table = Table::new(&[
                ("month", "Months", Format::Int),
                ("observed", "Observed (Kaplan-Meier)", Format::Share),
                ("sbg", "sBG", Format::Share),
            ]);
            for m in 0..=horizon {
                table.push(vec![json!(m), num(observed[m]), num(projected[m])]);
            }
            panels.push(Panel {
                id: "sbg-projection".into(),
                title: "Survival projected a year ahead (sBG)".into(),
                alt: format!(
                    "Line chart of the share of customers still active by months since their first \
                     purchase, observed to {observed_to} months and projected by sBG to {horizon}: {} \
                     at {horizon} months.",
                    people(projected[horizon], Format::Share)
                ),
                caption: Some(format!(
                    "Shifted beta-geometric (Fader & Hardie 2007) fitted on whole months of lifetime: \
                     α = {:.3}, β = {:.3}.{}",
                    fit.params.alpha,
                    fit.params.beta,
                    if fit.warnings.is_empty() { String::new() } else { format!(" {}", fit.warnings.join("; ")) }
                )),
                width: Width::Full,
                chart: Some(Chart::Line {
                    x_type: XType::Value,
                    x: (0..=horizon).map(|m| json!(m)).collect(),
                    series: vec![
                        Series { step: true, ..Series::new("observed", observed) },
                        Series { dashed: true, ..Series::new("sBG", projected) },
                    ],
                    x_label: "months since first purchase".into(),
                    y_label: "still a customer".into(),
                    format: Format::Share,
                    y_min: Some(0.0),
                    y_max: Some(1.0),
                    markers: vec![Marker { x: json!(observed_to), label: "last observed".into() }],
                }),
                table,
            });
        }
    }
    Ok(panels)
}

// ---------------------------------------------------------------------------------------------
// At risk

fn value_at_risk_panel(c: &Customers, segments: &[String]) -> Panel {
    let mut table = Table::new(&[
        ("segment", "Segment", Format::Text),
        ("customers", "Customers", Format::Int),
        ("likely_gone", "Churn risk ≥ 50%", Format::Int),
        ("value_at_risk", "Value at risk", Format::Money),
    ]);
    let mut values = Vec::new();
    for s in segments {
        let rows: Vec<usize> = (0..c.index.len()).filter(|&i| &c.segment[i] == s).collect();
        let risk: f64 = rows
            .iter()
            .map(|&i| (1.0 - c.p_alive[i]) * c.spend[i])
            .sum();
        let likely = rows.iter().filter(|&&i| c.p_alive[i] <= 0.5).count();
        table.push(vec![json!(s), json!(rows.len()), json!(likely), num(risk)]);
        values.push(risk);
    }
    let total: f64 = values.iter().sum();
    Panel {
        id: "value-at-risk-by-segment".into(),
        title: "Value at risk by segment".into(),
        alt: format!(
            "Bar chart of the value at risk in each of {} segments; {} in all.",
            segments.len(),
            people(total, Format::Money)
        ),
        caption: Some("Value at risk: churn risk × what the customer has spent, summed.".into()),
        width: Width::Full,
        chart: Some(Chart::Bar {
            categories: segments.to_vec(),
            series: vec![Series::new("value at risk", values)],
            stacked: false,
            horizontal: false,
            x_label: "segment".into(),
            y_label: "value at risk".into(),
            format: Format::Money,
        }),
        table,
    }
}
