//! `retain analyze`: everything the dashboard shows of a transaction log, computed and stored
//! as an analysis; and `retain report`: the stored analyses as one self-contained HTML file.
//! The analysis is `retain_pipeline::analysis`'s, the page `retain_ui`'s; here are the flags.

use std::path::PathBuf;

use clap::Args;
use retain_data::dates::format_day;
use retain_pipeline::analysis::{
    analyze_contracts, analyze_log, report_data, AnalysisOptions, CampaignOptions,
    ContractAnalysisOptions, ContractColumns, ReportOptions,
};
use retain_pipeline::train::TrainInput;

use crate::args::{parse_day, TransactionArgs};
use crate::failure::with_flags;
use crate::fmt::thousands;
use crate::registry::StoreArgs;

/// Arguments of `retain analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub transactions: TransactionArgs,
    /// A contracts table instead of a log: one row per customer with their tenure, whether
    /// they left, a group and their charge (IBM's Telco table).
    #[arg(long, value_name = "FILE", conflicts_with = "files")]
    pub contracts: Option<PathBuf>,
    #[command(flatten)]
    pub contract_columns: ContractColumnArgs,
    /// What the analysis is of: analyses of one name are compared run to run (default: the
    /// first file's name).
    #[arg(long)]
    pub name: Option<String>,
    /// The day the customers are seen at (default: the last purchase in the log).
    #[arg(long, value_name = "DATE", value_parser = parse_day)]
    pub at: Option<i32>,
    /// Months of CLV and of expected purchases.
    #[arg(long, default_value_t = 12)]
    pub clv_months: u32,
    /// Monthly discount rate of the CLV.
    #[arg(long, default_value_t = 0.01)]
    pub discount: f64,
    /// Days without a purchase after which a customer counts as churned in the survival curves.
    #[arg(long, default_value_t = 180)]
    pub inactive_days: i32,
    /// A campaign to measure: a CSV of customer_id, group (treated or control), start_date and
    /// cost (of contacting the customer).
    #[arg(long, value_name = "FILE")]
    pub campaign: Option<PathBuf>,
    /// The campaign's window: days after each customer's start date in which purchases count.
    #[arg(long, default_value_t = 90)]
    pub window_days: i32,
    /// Gross margin of revenue for the campaign's ROI (default: ROI on revenue).
    #[arg(long)]
    pub margin: Option<f64>,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// The columns of `--contracts`.
#[derive(Debug, Args)]
pub struct ContractColumnArgs {
    /// Contracts: the customer id column.
    #[arg(
        long = "contract-id-col",
        value_name = "COL",
        default_value = "customer_id"
    )]
    pub id_col: String,
    /// Contracts: whole months as a customer.
    #[arg(long, value_name = "COL", default_value = "tenure")]
    pub duration_col: String,
    /// Contracts: whether the customer left (1/0, true/false, yes/no).
    #[arg(long, value_name = "COL", default_value = "churned")]
    pub churned_col: String,
    /// Contracts: the groups (a curve and a profile each), e.g. the contract type.
    #[arg(long, value_name = "COL", default_value = "contract")]
    pub group_col: String,
    /// Contracts: what the customer pays a month.
    #[arg(long, value_name = "COL", default_value = "monthly_charges")]
    pub charge_col: String,
    /// Contracts: what the customer has paid in all (default: charge × tenure).
    #[arg(long, value_name = "COL")]
    pub total_col: Option<String>,
}

pub async fn run(args: AnalyzeArgs) -> anyhow::Result<()> {
    let store = args.store.open().await?;
    if let Some(path) = &args.contracts {
        return contracts(&args, path, &store).await;
    }
    if args.transactions.files.is_empty() {
        anyhow::bail!("retain analyze needs a transaction log (-t FILE) or a contracts table (--contracts FILE)");
    }
    let log = args.transactions.source();
    let name = args.name.clone().unwrap_or_else(|| {
        args.transactions
            .provenance()
            .first()
            .and_then(|f| f.file_name())
            .map_or("transactions".into(), |f| f.to_string_lossy().into_owned())
    });
    let earlier = retain_pipeline::analysis::earlier_analyses(&store, &name).await?;
    let options = AnalysisOptions {
        at: args.at,
        clv_months: args.clv_months,
        discount: args.discount,
        inactive_days: args.inactive_days,
        earlier,
        campaign: args.campaign.as_ref().map(|path| CampaignOptions {
            window_days: args.window_days,
            margin: args.margin,
            ..CampaignOptions::new(path)
        }),
        ..AnalysisOptions::named(&name)
    };
    let analysis = tokio::task::block_in_place(|| analyze_log(&log, &options))
        .map_err(|e| with_flags(e, &[]))?;
    if let Some(report) = &analysis.ingest {
        eprintln!("{report}");
    }
    let source = args
        .transactions
        .provenance()
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let stored = store
        .write_analysis(&analysis.to_store(&source), &analysis.customers)
        .await?;
    outln!(
        "stored analysis {} of {name} as of {}: {} customers, pages {}",
        stored.analysis_id,
        format_day(analysis.as_of),
        thousands(analysis.customers.len() as u64),
        stored.pages.join(", ")
    )?;
    outln!(
        "see it with `retain serve --store {}` (http://127.0.0.1:8080/) or `retain report --store {} -o report.html`",
        args.store.store, args.store.store
    )?;
    Ok(())
}

/// `retain analyze --contracts`: the table's analysis, stored.
async fn contracts(
    args: &AnalyzeArgs,
    path: &std::path::Path,
    store: &retain_store::Store,
) -> anyhow::Result<()> {
    let c = &args.contract_columns;
    let name = args.name.clone().unwrap_or_else(|| {
        path.file_name()
            .map_or("contracts".into(), |f| f.to_string_lossy().into_owned())
    });
    let read = retain_data::CustomerTableOptions {
        id_col: Some(c.id_col.clone()),
        ..Default::default()
    };
    let options = ContractAnalysisOptions {
        name: name.clone(),
        as_of: args.at.unwrap_or_else(retain_scoring::today),
        columns: ContractColumns {
            duration_col: c.duration_col.clone(),
            churned_col: c.churned_col.clone(),
            group_col: c.group_col.clone(),
            charge_col: c.charge_col.clone(),
            total_col: c.total_col.clone(),
        },
        reasons: 3,
        earlier: retain_pipeline::analysis::earlier_analyses(store, &name).await?,
    };
    let analysis = tokio::task::block_in_place(|| {
        let input = TrainInput::read(Some((path, &read)), None)?;
        analyze_contracts(&input, &options)
    })
    .map_err(|e| {
        with_flags(
            e,
            &[
                ("duration_col", "--duration-col"),
                ("churned_col", "--churned-col"),
                ("group_col", "--group-col"),
                ("charge_col", "--charge-col"),
                ("total_col", "--total-col"),
            ],
        )
    })?;
    let stored = store
        .write_analysis(
            &analysis.to_store(&path.display().to_string()),
            &analysis.customers,
        )
        .await?;
    outln!(
        "stored analysis {} of {name}: {} customers ({} current), pages {}",
        stored.analysis_id,
        thousands(analysis.kpis.customers as u64),
        thousands(analysis.customers.len() as u64),
        stored.pages.join(", ")
    )?;
    Ok(())
}

/// Arguments of `retain report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The HTML file to write.
    #[arg(long, short = 'o', value_name = "FILE", default_value = "report.html")]
    pub output: PathBuf,
    /// Customers per analysis in the at-risk table (by value at risk).
    #[arg(long, default_value_t = 2000)]
    pub customers: i64,
    /// Customer pages per analysis (the first customers of the at-risk table).
    #[arg(long, default_value_t = 50)]
    pub customer_pages: usize,
}

pub async fn report(args: ReportArgs) -> anyhow::Result<()> {
    let store = args.store.open().await?;
    let options = ReportOptions {
        customers: args.customers,
        customer_pages: args.customer_pages,
        ..ReportOptions::default()
    };
    let data = report_data(&store, &options)
        .await
        .map_err(|e| with_flags(e, &[]))?;
    let html = retain_ui::report(&data);
    retain_data::output::write_file(&args.output, html.as_bytes())?;
    outln!(
        "wrote {} ({} KB): {} analyses; open it in a browser, no network needed",
        args.output.display(),
        html.len() / 1024,
        data["analyses"].as_array().map_or(0, Vec::len)
    )?;
    Ok(())
}
