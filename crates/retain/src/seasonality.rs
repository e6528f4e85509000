//! `retain seasonality`: purchase and churn rates by calendar month and by weekday, each read
//! against its exposure in customer-days, with the likelihood-ratio test of whether the month
//! (and the weekday) matters. Definitions in `retain_data::seasonality`; the rates and tests
//! are `retain_pipeline::seasonality`'s, here are the flags and the tables.

use clap::Args;
use retain_data::dates::format_day;
use retain_models::seasonality::RateTest;
use retain_pipeline::seasonality::{seasonality_of_log, SeasonRates, SeasonalityOptions};
use retain_pipeline::source::Log;

use crate::args::{parse_day, Format, TransactionArgs};
use crate::failure::with_flags;
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

pub fn run(args: SeasonalityArgs) -> anyhow::Result<()> {
    let (log, options) = options(&args);
    let s = seasonality_of_log(&log, &options).map_err(|e| with_flags(e, &[]))?;
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string(&s)?)?,
        Format::Table => {
            outln!(
                "{} to {} ({} days); churned = no purchase for {} days; rates per 1,000 customer-days\n",
                format_day(s.first_day),
                format_day(s.observation_end),
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

/// The flags as the library's log and options.
fn options(args: &SeasonalityArgs) -> (Log, SeasonalityOptions) {
    let log = args.transactions.source();
    let options = SeasonalityOptions {
        observation_end: args.observation_end,
        inactive_days: args.inactive_days,
    };
    (log, options)
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
