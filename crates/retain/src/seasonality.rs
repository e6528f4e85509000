//! `retain seasonality`: purchase and churn rates by calendar month and by weekday, each read
//! against its exposure in customer-days, with the likelihood-ratio test of whether the month
//! (and the weekday) matters. Definitions in `retain_data::seasonality`.

use anyhow::bail;
use clap::Args;
use retain_data::dates::format_day;
use retain_data::seasonality::{seasonal_counts, SeasonCell, SeasonalCounts};
use retain_models::seasonality::{equal_rates_test, RateTest};
use serde::Serialize;

use crate::args::{parse_day, Format, TransactionArgs};
use crate::fmt::{p_clause, table, thousands};

/// Arguments of `retain seasonality`.
#[derive(Debug, Args)]
pub struct SeasonalityArgs {
    #[command(flatten)]
    pub transactions: TransactionArgs,
    /// End of observation (default: the last purchase).
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub observation_end: Option<i32>,
    /// A customer has churned after this many days without a purchase.
    #[arg(long, value_name = "DAYS", default_value_t = 180,
          value_parser = clap::value_parser!(i32).range(1..))]
    pub inactive_days: i32,
    /// Output: tables for people or JSON for programs.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// One season's rates, per 1,000 customer-days, and their index against the overall rate.
#[derive(Debug, Serialize)]
pub struct SeasonRates {
    pub season: &'static str,
    #[serde(flatten)]
    pub counts: SeasonCell,
    pub purchase_rate: Option<f64>,
    pub purchase_index: Option<f64>,
    pub churn_rate: Option<f64>,
    pub churn_index: Option<f64>,
}

/// Rates by season and the tests of equal rates.
#[derive(Debug, Serialize)]
pub struct Seasonality {
    pub months: Vec<SeasonRates>,
    pub weekdays: Vec<SeasonRates>,
    pub purchases_by_month: RateTest,
    pub purchases_by_weekday: RateTest,
    pub churn_by_month: Option<RateTest>,
    pub churn_by_weekday: Option<RateTest>,
    pub days_observed: u64,
}

pub fn analyse(counts: &SeasonalCounts) -> anyhow::Result<Seasonality> {
    let rates = |cells: &[SeasonCell], names: &[&'static str]| -> Vec<SeasonRates> {
        let total = |f: fn(&SeasonCell) -> (u64, u64)| {
            let (n, e) = cells
                .iter()
                .map(f)
                .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
            (e > 0).then(|| 1000.0 * n as f64 / e as f64)
        };
        let overall_purchase = total(|c| (c.purchases, c.customer_days));
        let overall_churn = total(|c| (c.churned, c.alive_days));
        cells
            .iter()
            .zip(names)
            .map(|(c, &name)| {
                let rate = |n: u64, e: u64| (e > 0).then(|| 1000.0 * n as f64 / e as f64);
                let index = |r: Option<f64>, o: Option<f64>| match (r, o) {
                    (Some(r), Some(o)) if o > 0.0 => Some(r / o),
                    _ => None,
                };
                let purchase_rate = rate(c.purchases, c.customer_days);
                let churn_rate = rate(c.churned, c.alive_days);
                SeasonRates {
                    season: name,
                    counts: *c,
                    purchase_rate,
                    purchase_index: index(purchase_rate, overall_purchase),
                    churn_rate,
                    churn_index: index(churn_rate, overall_churn),
                }
            })
            .collect()
    };
    let test = |cells: &[SeasonCell], f: fn(&SeasonCell) -> (u64, u64)| {
        let (n, e): (Vec<f64>, Vec<f64>) = cells
            .iter()
            .map(|c| {
                let (n, e) = f(c);
                (n as f64, e as f64)
            })
            .unzip();
        equal_rates_test(&n, &e)
    };
    let purchases = |c: &SeasonCell| (c.purchases, c.customer_days);
    let churn = |c: &SeasonCell| (c.churned, c.alive_days);
    let any_churn = counts.months.iter().any(|c| c.churned > 0);
    Ok(Seasonality {
        months: rates(&counts.months, &MONTHS),
        weekdays: rates(&counts.weekdays, &WEEKDAYS),
        purchases_by_month: test(&counts.months, purchases)?,
        purchases_by_weekday: test(&counts.weekdays, purchases)?,
        churn_by_month: if any_churn {
            Some(test(&counts.months, churn)?)
        } else {
            None
        },
        churn_by_weekday: if any_churn {
            Some(test(&counts.weekdays, churn)?)
        } else {
            None
        },
        days_observed: counts.days,
    })
}

pub fn run(args: SeasonalityArgs) -> anyhow::Result<()> {
    let (history, (first, last)) = args.transactions.purchase_history()?;
    let end = args.observation_end.unwrap_or(last);
    let Some(counts) = seasonal_counts(&history, end, args.inactive_days) else {
        bail!(
            "the observation end {} is before the first purchase {}",
            format_day(end),
            format_day(first)
        );
    };
    let s = analyse(&counts)?;
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string(&s)?)?,
        Format::Table => {
            outln!(
                "{} to {} ({} days); churned = no purchase for {} days; rates per 1,000 customer-days\n",
                format_day(first),
                format_day(end),
                thousands(s.days_observed),
                args.inactive_days
            )?;
            out!("{}", season_table("month", &s.months))?;
            out!("{}", test_line("purchases by month", &s.purchases_by_month))?;
            if let Some(t) = &s.churn_by_month {
                out!("{}", test_line("churn by month", t))?;
            }
            if s.days_observed < 730 {
                outln!("  (under two years observed: each month is seen once or twice, so a trend in the base shows as a month effect)")?;
            }
            outln!()?;
            out!("{}", season_table("weekday", &s.weekdays))?;
            out!(
                "{}",
                test_line("purchases by weekday", &s.purchases_by_weekday)
            )?;
            if let Some(t) = &s.churn_by_weekday {
                out!("{}", test_line("churn by weekday", t))?;
            }
        }
    }
    Ok(())
}

pub fn test_line(what: &str, t: &RateTest) -> String {
    format!(
        "  {what}: likelihood-ratio chi-square {:.1} on {} df, p {}\n",
        t.statistic,
        t.df,
        p_clause(t.p_value)
    )
}

pub fn season_table(what: &str, rows: &[SeasonRates]) -> String {
    let show = |v: Option<f64>, digits: usize| v.map_or(String::new(), |v| format!("{v:.digits$}"));
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.season.to_string(),
                thousands(r.counts.purchases),
                thousands(r.counts.customer_days),
                show(r.purchase_rate, 2),
                show(r.purchase_index, 2),
                thousands(r.counts.churned),
                show(r.churn_rate, 3),
                show(r.churn_index, 2),
            ]
        })
        .collect();
    table(
        &[
            what,
            "purchases",
            "customer-days",
            "rate",
            "index",
            "churned",
            "churn rate",
            "index",
        ],
        &body,
    )
}
