//! `retain demo`: the pipeline on the bundled CDNOW sample (Fader, Hardie & Lee 2005), and the
//! survival of the bundled Telco contracts, with no set-up: the data are compiled into the
//! binary, the results go to a folder.

use std::path::PathBuf;

use clap::Args;
use retain_data::dates::{days_from_civil, format_day, TimeUnit};
use retain_data::output::{write_file, write_table};
use retain_data::{
    activity, summarize, AmountSpec, ReadOptions, SummaryOptions, TransactionColumns,
};

use retain_models::btyd::gamma_gamma::SpendData;
use retain_models::btyd::{
    calibration_vs_holdout, score_customers, BgNbd, ClvOptions, FitOptions, GammaGamma, MbgNbd,
    Named, ParetoNbd, RfmData, SavedPurchaseModel,
};
use retain_models::supervised::{Attribution, Task};

use retain_data::{purchase_cohorts, CustomerTableOptions, Period, PurchaseHistory};

use crate::cohorts::{cohort_matrix, rate_table, Show};
use crate::diagnose::{holdout_table, tracking_table};
use crate::fmt::{money, percent, table, thousands};
use crate::lifecycle::{stage_table, transition_table};
use crate::segment::profile_report;
use crate::survival::summary_table;
use crate::train::cv_line;
use anyhow::Context;
use retain_pipeline::diagnose::tracking_rows;
use retain_pipeline::lifecycle::{lifecycle, LifecycleOptions, StageModel};
use retain_pipeline::segment::{segment, SegmentMethod, SegmentOptions};
use retain_pipeline::source::Log;
use retain_pipeline::survival::{survival, DurationColumns, Lifespans, SurvivalOptions};
use retain_pipeline::train::{predictions_batch, train, TrainInput, TrainOptions, Trained};

/// The CDNOW 1/10 sample: master id, customer id, date (YYYYMMDD), CDs, dollars; whitespace
/// separated, no header. Source: data/cdnow/README.md.
const CDNOW_SAMPLE: &[u8] = include_bytes!("../../../data/cdnow/CDNOW_sample.txt");

/// IBM's Telco customer churn table (7,043 contracts). Source: data/README.md.
const TELCO: &[u8] = include_bytes!("../../../data/telco_churn/Telco-Customer-Churn.csv");

/// Arguments of `retain demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder for the outputs (created if missing).
    #[arg(long, short = 'o', default_value = "retain-demo")]
    pub out: PathBuf,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)?;
    let data = args.out.join("cdnow_transactions.txt");
    write_file(&data, CDNOW_SAMPLE)?;

    let (calibration_end, observation_end) =
        (days_from_civil(1997, 9, 30), days_from_civil(1998, 6, 30));
    let read = ReadOptions {
        columns: TransactionColumns {
            customer: "2".into(),
            date: "3".into(),
            amount: AmountSpec::Column("5".into()),
        },
        ..Default::default()
    };
    let options = SummaryOptions {
        calibration_end: Some(calibration_end),
        observation_end: Some(observation_end),
        unit: TimeUnit::Weeks,
        ..Default::default()
    };
    let read_for_activity = ReadOptions {
        last_day: Some(observation_end),
        ..read.clone()
    };
    let log = Log {
        files: vec![data.clone()],
        read: read.clone(),
        ..Log::default()
    };
    let summary = summarize(std::slice::from_ref(&data), read, &options, None).await?;
    let summary_path = args.out.join("summary.csv");
    write_table(&summary.batch, &summary_path)?;

    let r = &summary.report;
    let frequency = summary.column_i64("frequency").expect("frequency column");
    let repeaters = frequency.iter().flatten().filter(|&f| f > 0).count() as u64;
    let holdout = summary
        .column_i64("frequency_holdout")
        .expect("holdout column");
    let holdout_customers = holdout.iter().flatten().filter(|&f| f > 0).count() as u64;
    let monetary = summary
        .column_f64("monetary_value")
        .expect("monetary column");
    let repeat_spend: f64 = monetary
        .values()
        .iter()
        .zip(frequency.values())
        .map(|(m, &f)| m * f as f64)
        .sum();

    outln!("retain demo: the CDNOW 1/10 sample (customers who first bought in Q1 1997)")?;
    outln!(
        "calibration {} .. {}, holdout to {}, time in weeks, same-day purchases merged\n",
        format_day(r.ingest.first_day.unwrap_or(calibration_end)),
        format_day(calibration_end),
        format_day(observation_end)
    )?;
    let rows = vec![
        vec!["customers".to_string(), thousands(r.customers)],
        vec!["transaction rows".into(), thousands(r.ingest.rows_read)],
        vec![
            "purchase days, calibration".into(),
            thousands(r.calibration_transactions),
        ],
        vec![
            "purchase days, holdout".into(),
            thousands(r.holdout_transactions),
        ],
        vec![
            "repeat customers (calibration)".into(),
            format!(
                "{} ({})",
                thousands(repeaters),
                percent(repeaters, r.customers)
            ),
        ],
        vec![
            "customers buying in holdout".into(),
            format!(
                "{} ({})",
                thousands(holdout_customers),
                percent(holdout_customers, r.customers)
            ),
        ],
        vec![
            "revenue, all periods ($)".into(),
            money(r.ingest.amount_total),
        ],
        vec![
            "mean repeat purchase ($)".into(),
            money(repeat_spend / frequency.values().iter().sum::<i64>().max(1) as f64),
        ],
    ];
    out!("{}", table(&["", "value"], &rows))?;

    outln!(
        "\nper-customer summary (first 8 of {}):",
        thousands(r.customers)
    )?;
    let ids = summary.customer_ids();
    let recency = summary.column_f64("recency").expect("recency");
    let t = summary.column_f64("T").expect("T");
    let head: Vec<Vec<String>> = (0..summary.batch.num_rows().min(8))
        .map(|i| {
            vec![
                ids.value(i).to_string(),
                frequency.value(i).to_string(),
                format!("{:.2}", recency.value(i)),
                format!("{:.2}", t.value(i)),
                format!("{:.2}", monetary.value(i)),
                holdout.value(i).to_string(),
            ]
        })
        .collect();
    out!(
        "{}",
        table(
            &[
                "customer",
                "frequency",
                "recency",
                "T",
                "monetary_value",
                "frequency_holdout"
            ],
            &head
        )
    )?;
    let (btyd, bg) = btyd_section(&summary, &data, read_for_activity.clone(), &args.out)?;
    let telco = retention_section(&data, read_for_activity, &bg, &args.out)?;
    let models = models_section(&log, &telco, &args.out)?;
    let mut store = serving_section(&telco, &args.out).await?;
    store.extend(dashboard_section(&log, &telco, &args.out).await?);
    outln!("\noutputs in {}/:", args.out.display())?;
    outln!("  {}  the bundled transactions", data.display())?;
    outln!("  {}  the bundled Telco churn table", telco.display())?;
    outln!("  {}  the per-customer summary", summary_path.display())?;
    for (path, what) in btyd.into_iter().chain(models).chain(store) {
        outln!("  {}  {what}", path.display())?;
    }
    Ok(())
}

/// The models as a service: registered in a store in the output folder, the Telco customers
/// scored into it as a run, and the commands that serve and query them.
async fn serving_section(
    telco: &std::path::Path,
    out: &std::path::Path,
) -> anyhow::Result<Vec<(PathBuf, &'static str)>> {
    let db = out.join("retain.db");
    // A fresh store each run: the demo's versions, run and token are its own.
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", db.display()));
        if file.exists() {
            std::fs::remove_file(&file).with_context(|| format!("removing {}", file.display()))?;
        }
    }
    let url = format!("sqlite://{}", db.display());
    let store = retain_store::Store::open(&url).await?;
    let mut registered = Vec::new();
    for (name, file) in [
        ("telco-churn", "telco_churn_model.json"),
        ("cdnow-bgnbd", "bgnbd.json"),
        ("cdnow-rfm", "rfm_segments.json"),
    ] {
        let bytes = std::fs::read(out.join(file))?;
        let info = retain_scoring::Artifact::from_bytes(&bytes)?.describe();
        let (version, _) = store
            .register_as(name, &bytes, &info, Some("production"))
            .await?;
        registered.push(format!(
            "{name} version {} ({}) → production",
            version.version, info.kind
        ));
    }
    let model: retain_scoring::batch::ModelRef =
        "telco-churn".parse().map_err(anyhow::Error::msg)?;
    let scored = retain_scoring::batch::score_file(
        &store,
        &model,
        telco,
        &retain_scoring::batch::BatchOptions::default(),
    )
    .await?;
    let run = scored.outcome.run();
    let token = store
        .create_token("demo", retain_store::Scope::Admin)
        .await?;
    let riskiest = store
        .predictions_of_run(&run.run_id, None, i64::MAX)
        .await?;
    let mut riskiest: Vec<_> = riskiest.iter().collect();
    riskiest.sort_by(|a, b| b.score.total_cmp(&a.score));
    outln!("\nthe models as a service (`retain registry`, `retain score`, `retain serve`), store {url}:")?;
    for line in &registered {
        outln!("  registered {line}")?;
    }
    outln!(
        "  `retain score --model telco-churn -c telco_churn.csv` stored run {} ({} customers with their reasons); the riskiest:",
        run.run_id,
        thousands(run.customers as u64)
    )?;
    let rows: Vec<Vec<String>> = riskiest
        .iter()
        .take(5)
        .map(|p| {
            vec![
                p.customer_id.clone(),
                format!("{:.0}%", 100.0 * p.score),
                crate::score::reasons_text(&p.reasons),
            ]
        })
        .collect();
    out!(
        "{}",
        table(&["customer", "churn risk", "reasons (log-odds)"], &rows)
    )?;
    let first = first_customer(telco, &store, &model).await?;
    outln!("  serve the models, then ask for a customer's churn risk with its reasons (admin token `demo`, shown once):")?;
    outln!("    retain serve --store {url} &")?;
    outln!(
        "    curl -s http://127.0.0.1:8080/v1/models/telco-churn/predict -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' -d '{{\"customers\": [{first}]}}'"
    )?;
    outln!("    curl -s http://127.0.0.1:8080/v1/customers/7590-VHVEG/predictions -H 'Authorization: Bearer {token}'")?;
    Ok(vec![(
        db,
        "the store: registered models, the scored run, the demo token",
    )])
}

/// A campaign file for the demo: every customer who bought in 1997's last quarter, split into
/// treated and control by a hash of their id (as a random draw would, and the same every run),
/// contacted on 1998-01-15 at 0.50 each. No one was contacted in fact: the campaigns page must
/// find no effect.
fn write_campaign(log: &Log, path: &std::path::Path) -> anyhow::Result<()> {
    let (history, _) = log.history()?;
    let (from, to) = (days_from_civil(1997, 10, 1), days_from_civil(1997, 12, 31));
    let mut text = String::from("customer_id,group,start_date,cost\n");
    for k in 0..history.len() {
        if history.days(k).iter().any(|&d| d >= from && d <= to) {
            let id = history.id(k);
            let treated = retain_store::sha256_hex(id.as_bytes()).as_bytes()[1].is_multiple_of(2);
            let (group, cost) = if treated {
                ("treated", "0.50")
            } else {
                ("control", "")
            };
            text.push_str(&format!("{id},{group},1998-01-15,{cost}\n"));
        }
    }
    write_file(path, text.as_bytes())?;
    Ok(())
}

/// The production loop on CDNOW: a pipeline run at the end of 1997 and again half a year
/// later, which measures the first run's predictions against what happened and decides
/// between the champions and challengers.
async fn production_loop(store: &retain_store::Store, out: &std::path::Path) -> anyhow::Result<()> {
    use retain_pipeline::pipeline::{run_pipeline, Pipeline, RunOptions};
    let path = out.join("cdnow_pipeline.toml");
    outln!(
        "\nthe production loop (`retain run {}`, at two cutoffs):",
        path.display()
    )?;
    for cutoff in ["1997-12-31", "1998-06-30"] {
        let text = format!(
            "name = \"cdnow-monitored\"\n\n[source]\ntransactions = [\"cdnow_transactions.txt\"]\n\
             customer_col = \"2\"\ndate_col = \"3\"\namount_col = \"5\"\ndate_format = \"%Y%m%d\"\n\n\
             [cutoff]\ndate = \"{cutoff}\"\n\n[[models]]\nname = \"cdnow-monitored-churn\"\nkind = \"churn\"\n\
             horizon_days = 90\n\n[[models]]\nname = \"cdnow-monitored-clv\"\nkind = \"bgnbd\"\n\
             horizon_days = 90\n"
        );
        write_file(&path, text.as_bytes())?;
        let pipeline = Pipeline::parse(&path, &text)?;
        let report = run_pipeline(store, &pipeline, &RunOptions::default()).await?;
        let steps: Vec<String> = report
            .steps
            .iter()
            .filter_map(|s| {
                let o = &s.output;
                if let Some(reason) = o["reason"].as_str() {
                    Some(format!(
                        "{} {} ({reason})",
                        s.step,
                        o["action"].as_str().unwrap_or("")
                    ))
                } else if let Some(n) = o["evaluated"].as_array().filter(|e| !e.is_empty()) {
                    let m = &n[0]["metrics"];
                    Some(match m["auc"].as_f64() {
                        Some(auc) => format!(
                            "{}: realised AUC {auc:.3}, churn {:.1}% (predicted {:.1}%)",
                            s.step,
                            100.0 * m["churn_rate"].as_f64().unwrap_or(f64::NAN),
                            100.0 * m["mean_predicted"].as_f64().unwrap_or(f64::NAN)
                        ),
                        None => format!(
                            "{}: {:.0} purchases expected, {:.0} made",
                            s.step,
                            m["predicted_purchases"].as_f64().unwrap_or(f64::NAN),
                            m["actual_purchases"].as_f64().unwrap_or(f64::NAN)
                        ),
                    })
                } else {
                    o["dataset_drift"].as_bool().map(|drift| {
                        format!(
                            "{}: {} of {} features drifted{}",
                            s.step,
                            o["drifted_features"],
                            o["features"],
                            if drift { " (data set drift)" } else { "" }
                        )
                    })
                }
            })
            .collect();
        outln!(
            "  cutoff {cutoff}: run {} {}",
            report.run.run_id,
            report.run.status.as_str()
        )?;
        for step in steps {
            outln!("    {step}")?;
        }
    }
    Ok(())
}

/// The analyst's view: the CDNOW analysis stored for the dashboard, and the report.
async fn dashboard_section(
    log: &Log,
    telco: &std::path::Path,
    out: &std::path::Path,
) -> anyhow::Result<Vec<(PathBuf, &'static str)>> {
    use retain_pipeline::analysis::{analyze_log, report_data, AnalysisOptions, ReportOptions};
    let url = format!("sqlite://{}", out.join("retain.db").display());
    let store = retain_store::Store::open(&url).await?;
    let name = "CDNOW sample";
    let campaign = out.join("campaign.csv");
    write_campaign(log, &campaign)?;
    let options = AnalysisOptions {
        earlier: retain_pipeline::analysis::earlier_analyses(&store, name).await?,
        campaign: Some(retain_pipeline::analysis::CampaignOptions {
            margin: Some(0.3),
            ..retain_pipeline::analysis::CampaignOptions::new(&campaign)
        }),
        ..AnalysisOptions::named(name)
    };
    let analysis = tokio::task::block_in_place(|| analyze_log(log, &options))?;
    let stored = store
        .write_analysis(&analysis.to_store("CDNOW_sample.txt"), &analysis.customers)
        .await?;
    // IBM's Telco contracts: survival by contract, churn risk from a classifier with reasons.
    let telco_name = "IBM Telco";
    let telco_options = retain_pipeline::analysis::ContractAnalysisOptions {
        name: telco_name.into(),
        as_of: retain_scoring::today(),
        columns: retain_pipeline::analysis::ContractColumns::default(),
        reasons: REASONS,
        earlier: retain_pipeline::analysis::earlier_analyses(&store, telco_name).await?,
    };
    let telco_read = CustomerTableOptions {
        id_col: Some("customerID".into()),
        ..CustomerTableOptions::default()
    };
    let contracts = tokio::task::block_in_place(|| {
        let input = TrainInput::read(Some((telco, &telco_read)), None)?;
        retain_pipeline::analysis::analyze_contracts(&input, &telco_options)
    })?;
    let telco_stored = store
        .write_analysis(&contracts.to_store("telco_churn.csv"), &contracts.customers)
        .await?;
    production_loop(&store, out).await?;
    let report = out.join("report.html");
    let html = retain_ui::report(&report_data(&store, &ReportOptions::default()).await?);
    retain_data::output::write_file(&report, html.as_bytes())?;
    let k = &analysis.kpis;
    outln!("\nthe analyst's view (`retain analyze`, `retain serve`, `retain report`):")?;
    outln!(
        "  stored analysis {} of the {name} at its last day (MBG/NBD, Gamma-Gamma): {} customers, {} active, {} at risk, predicted 12-month CLV {:.2}",
        stored.analysis_id,
        thousands(k.customers as u64),
        thousands(k.active as u64),
        thousands(k.at_risk as u64),
        k.clv.unwrap_or(f64::NAN)
    )?;
    let t = &contracts.kpis;
    outln!(
        "  stored analysis {} of {telco_name}: {} customers, {} current, {} at risk (churn risk >= 50%)",
        telco_stored.analysis_id,
        thousands(t.customers as u64),
        thousands(t.active as u64),
        thousands(t.at_risk as u64)
    )?;
    outln!("  the dashboard: `retain serve --store {url}` and open http://127.0.0.1:8080/ (sign in with the demo token)")?;
    outln!(
        "  the same views in one file that opens with no network: {} ({} KB)",
        report.display(),
        html.len() / 1024
    )?;
    Ok(vec![
        (
            campaign,
            "a made-up campaign split at random (the campaigns page finds no effect)",
        ),
        (
            report,
            "the report: every page of both analyses in one HTML file",
        ),
    ])
}

/// The Telco table's first customer as the API takes it: every feature the model reads.
async fn first_customer(
    telco: &std::path::Path,
    store: &retain_store::Store,
    model: &retain_scoring::batch::ModelRef,
) -> anyhow::Result<serde_json::Value> {
    let version = model.resolve(store).await?;
    let scorer = retain_scoring::Scorer::from_bytes(&store.artifact(&model.name, version).await?)?;
    let table = retain_data::read_customer_table(
        telco,
        &CustomerTableOptions {
            id_col: Some("customerID".into()),
            ..CustomerTableOptions::default()
        },
    )?;
    let frame = retain_scoring::batch::frame_of_table(&table, scorer.schema())?;
    let mut customer = serde_json::Map::new();
    customer.insert(
        "customer_id".into(),
        table.ids().context("ids")?.value(0).into(),
    );
    for column in &frame.columns {
        let value = match &column.values {
            retain_models::supervised::ColumnValues::Numbers(v) => serde_json::json!(v[0]),
            retain_models::supervised::ColumnValues::Categories { levels, codes } => {
                match codes[0] {
                    0 => serde_json::Value::Null,
                    code => levels[code as usize - 1].clone().into(),
                }
            }
        };
        customer.insert(column.name.clone(), value);
    }
    Ok(customer.into())
}

/// Reasons shown with each churn prediction (`retain train --reasons`).
const REASONS: usize = 3;

/// Trains as `retain train` does, its notes on stderr.
fn train_noting(input: &TrainInput, options: &TrainOptions) -> anyhow::Result<Trained> {
    let trained = train(input, options)?;
    for note in &trained.notes {
        eprintln!("note: {note}");
    }
    Ok(trained)
}

/// Supervised models and segments: Telco's churn model, CDNOW's segments, and a churn model on
/// CDNOW's log whose riskiest valuable customers are shown with their reasons.
fn models_section(
    log: &Log,
    telco: &std::path::Path,
    out: &std::path::Path,
) -> anyhow::Result<Vec<(PathBuf, &'static str)>> {
    let telco_model = out.join("telco_churn_model.json");
    let telco_table = CustomerTableOptions {
        id_col: Some("customerID".into()),
        ..CustomerTableOptions::default()
    };
    let telco_input = TrainInput::read(Some((telco, &telco_table)), None)?;
    let telco_options = TrainOptions {
        label: Some("Churn".into()),
        ..TrainOptions::new(Task::Churn)
    };
    let trained = train_noting(&telco_input, &telco_options)?;
    outln!(
        "\nchurn model on Telco (`retain train churn --customers telco_churn.csv --label Churn --id-col customerID`):"
    )?;
    outln!(
        "{} customers, {} features, 5-fold cross-validation: {}",
        thousands(trained.data.frame.rows as u64),
        trained.data.frame.columns.len(),
        cv_line(&trained.cv)
    )?;
    outln!(
        "strongest features: {}",
        trained
            .model
            .importance()
            .iter()
            .take(5)
            .map(|i| format!("{} {:.0}%", i.feature, 100.0 * i.share))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    let artifact = trained.artifact(&telco_options, &telco_input)?;
    write_file(&telco_model, &serde_json::to_vec(&artifact)?)?;
    eprintln!("saved the model to {}", telco_model.display());

    let end = days_from_civil(1998, 6, 30);
    let (history, _) = log.history()?;
    let rfm = SegmentOptions {
        at: Some(end),
        ..SegmentOptions::default()
    };
    let segments = segment(&history, &rfm)?;
    let rfm_path = out.join("rfm_segments.json");
    crate::segment::save(&rfm_path, &segments, &log.files)?;
    outln!("\nRFM segments on 1998-06-30 (`retain segment --method rfm`; CLV and churn risk from MBG/NBD and Gamma-Gamma):")?;
    out!("{}", profile_report(&segments, rfm.months))?;
    let kmeans = SegmentOptions {
        method: SegmentMethod::Kmeans,
        ..rfm
    };
    let clusters = segment(&history, &kmeans)?;
    outln!("\nk-means clusters ({}):", clusters.note)?;
    out!("{}", profile_report(&clusters, kmeans.months))?;

    // Churn in the 90 days after 1998-04-01 from the behaviour before it; then everyone scored on
    // their behaviour at the end of the log.
    let churn_input = TrainInput::read(None, Some(log))?;
    let churn_options = TrainOptions {
        cutoff: Some(days_from_civil(1998, 4, 1)),
        horizon_days: 90,
        btyd: true,
        ..TrainOptions::new(Task::Churn)
    };
    let trained = train_noting(&churn_input, &churn_options)?;
    let (ids, explained) = trained.score(
        &churn_input,
        &churn_options,
        None,
        REASONS,
        Attribution::Path,
    )?;
    outln!(
        "\nchurn model on CDNOW's log (`retain train churn -t … --cutoff 1998-04-01 --horizon-days 90 --btyd`): \
         {} customers, {}",
        thousands(trained.data.frame.rows as u64),
        cv_line(&trained.cv)
    )?;
    // Valuable: the top fifth by 12-month CLV; riskiest: highest churn probability among them.
    let valued = &segments.customers;
    let clv_of: std::collections::HashMap<&str, f64> = valued
        .ids
        .iter()
        .map(String::as_str)
        .zip(valued.clv.iter().copied())
        .collect();
    let mut clv_sorted: Vec<f64> = valued.clv.clone();
    clv_sorted.sort_by(|a, b| b.total_cmp(a));
    let threshold = clv_sorted[clv_sorted.len() / 5];
    let mut valuable: Vec<usize> = (0..ids.len())
        .filter(|&i| clv_of.get(ids[i].as_str()).is_some_and(|&c| c >= threshold))
        .collect();
    valuable.sort_by(|&a, &b| explained[b].score.total_cmp(&explained[a].score));
    outln!(
        "the ten riskiest of the {} most valuable customers (top fifth by CLV, CLV >= {}), with their reasons (log-odds):",
        thousands(valuable.len() as u64),
        money(threshold)
    )?;
    let rows: Vec<Vec<String>> = valuable
        .iter()
        .take(10)
        .map(|&i| {
            let e = &explained[i];
            vec![
                ids[i].clone(),
                money(clv_of[ids[i].as_str()]),
                format!("{:.0}%", 100.0 * e.score),
                e.reasons
                    .iter()
                    .map(|r| format!("{} = {} ({:+.2})", r.feature, r.value, r.contribution))
                    .collect::<Vec<_>>()
                    .join(", "),
            ]
        })
        .collect();
    out!(
        "{}",
        table(&["customer", "CLV 12m", "churn risk", "reasons"], &rows)
    )?;
    let predictions = out.join("cdnow_churn_predictions.csv");
    write_table(
        &predictions_batch(trained.task, &ids, &explained, REASONS)?,
        &predictions,
    )?;
    Ok(vec![
        (telco_model, "Telco churn model (schema, metadata, trees)"),
        (rfm_path, "CDNOW's RFM segmentation (cut points, profiles)"),
        (
            predictions,
            "CDNOW churn risk of every customer with its top reasons",
        ),
    ])
}

/// Retention: CDNOW's monthly cohorts and quarterly retention, its customers' lifecycle stages
/// (BG/NBD's P(alive) marks the at-risk), and the survival of Telco's contracts by type.
fn retention_section(
    data: &std::path::Path,
    read: ReadOptions,
    bg: &StageModel,
    out: &std::path::Path,
) -> anyhow::Result<PathBuf> {
    let history = PurchaseHistory::read(std::slice::from_ref(&data.to_path_buf()), read)?;
    let end = days_from_civil(1998, 6, 30);
    let monthly = purchase_cohorts(&history, Period::Month, Some(end)).expect("purchases");
    outln!("\ncohorts (`retain cohorts`):")?;
    out!("{}", cohort_matrix(&monthly, Show::Share, 10))?;
    let quarterly = purchase_cohorts(&history, Period::Quarter, Some(end)).expect("purchases");
    out!("{}", rate_table(&quarterly))?;

    let calibration_end = days_from_civil(1997, 9, 30);
    let stages = lifecycle(
        &history,
        &LifecycleOptions {
            at: Some(end),
            compare: Some(calibration_end),
            model: Some(bg.clone()),
            ..LifecycleOptions::default()
        },
    )?;
    let moves = &stages.transitions;
    outln!("\nlifecycle (`retain lifecycle --model bgnbd.json`):")?;
    out!(
        "{}",
        stage_table(moves, stages.at, &stages.rules, stages.with_model)
    )?;
    if let Some(caution) = &stages.caution {
        outln!("caution: {caution}")?;
    }
    out!("{}", transition_table(moves, calibration_end, stages.at))?;

    let telco = out.join("telco_churn.csv");
    write_file(&telco, TELCO)?;
    let options = CustomerTableOptions {
        id_col: Some("customerID".into()),
        ..Default::default()
    };
    let columns = DurationColumns {
        duration_col: "tenure".into(),
        event_col: "Churn".into(),
        by: Some("Contract".into()),
    };
    let lifespans = Lifespans::from_table(
        &retain_data::read_customer_table(&telco, &options)?,
        &columns,
    )?;
    let report = survival(&lifespans, &SurvivalOptions::default())?;
    outln!(
        "\nsurvival of IBM's Telco customers (7,043 contracts, tenure in months; `retain survival`):"
    )?;
    out!("{}", summary_table(&report))?;
    Ok(telco)
}

/// BG/NBD and Gamma-Gamma on the calibration summary: the fits, the holdout check, and the
/// customers worth most over the next year.
fn btyd_section(
    summary: &retain_data::Summary,
    data: &std::path::Path,
    read: ReadOptions,
    out: &std::path::Path,
) -> anyhow::Result<(Vec<(PathBuf, &'static str)>, StageModel)> {
    let column = |name: &str| summary.values(name).expect("summary column");
    let (f, r, t, m) = (
        column("frequency"),
        column("recency"),
        column("T"),
        column("monetary_value"),
    );
    let options = FitOptions::default();
    let purchases = BgNbd::fit(&RfmData::new(&f, &r, &t, None)?, &options)?;
    let spend = GammaGamma::fit(&SpendData::from_repeat_customers(&f, &m, None)?, &options)?;
    let (bg, gg) = (purchases.params, spend.params);

    outln!("\nBG/NBD (purchases; Fader, Hardie & Lee 2005 publish r 0.243, alpha 4.414, a 0.793, b 2.426) and")?;
    outln!("Gamma-Gamma (spend; published p 6.25, q 3.74, v 15.44):")?;
    let mut rows = vec![];
    for (model, named, errors) in [
        (
            "BG/NBD",
            bg.named(),
            purchases.std_errors.map(|e| e.named()),
        ),
        (
            "Gamma-Gamma",
            gg.named(),
            spend.std_errors.map(|e| e.named()),
        ),
    ] {
        for (i, (name, value)) in named.iter().enumerate() {
            let se = errors
                .as_ref()
                .map_or("-".to_string(), |e| format!("{:.4}", e[i].1));
            rows.push(vec![
                model.to_string(),
                name.to_string(),
                format!("{value:.4}"),
                se,
            ]);
        }
    }
    out!(
        "{}",
        table(&["model", "parameter", "estimate", "std. error"], &rows)
    )?;
    outln!(
        "  log-likelihood: BG/NBD {:.2}, Gamma-Gamma {:.2}",
        purchases.log_likelihood,
        spend.log_likelihood
    )?;

    // The other purchase models on the same customers, for comparison.
    let data_rfm = RfmData::new(&f, &r, &t, None)?;
    let pareto = ParetoNbd::fit(&data_rfm, &options)?;
    let mbg = MbgNbd::fit(&data_rfm, &options)?;
    outln!("\nthe purchase models side by side (Pareto/NBD published: r 0.553, alpha 10.58, s 0.606, beta 11.67, LL -9595.0):")?;
    let side = |name: &str, params: Vec<(&str, f64)>, ll: f64| {
        let shown: Vec<String> = params.iter().map(|(n, v)| format!("{n} {v:.3}")).collect();
        vec![name.to_string(), shown.join(", "), format!("{ll:.2}")]
    };
    let rows = vec![
        side("BG/NBD", bg.named(), purchases.log_likelihood),
        side("Pareto/NBD", pareto.params.named(), pareto.log_likelihood),
        side("MBG/NBD", mbg.params.named(), mbg.log_likelihood),
    ];
    out!(
        "{}",
        table(&["model", "parameters", "log-likelihood"], &rows)
    )?;

    let holdout = calibration_vs_holdout(
        &bg,
        (&f, &r, &t),
        (&column("frequency_holdout"), &column("duration_holdout")),
        7,
    )?;
    outln!("\nholdout check: mean purchases in the 39 holdout weeks by calibration purchases:")?;
    out!("{}", holdout_table(&holdout, "BG/NBD"))?;

    let log = activity(&[data.to_path_buf()], read)?;
    let (calibration_end, observation_end) = (
        summary.report.calibration_end,
        summary.report.observation_end,
    );
    let tracking = tracking_rows(
        &bg,
        &log,
        TimeUnit::Weeks,
        13.0,
        (calibration_end, observation_end),
    )?;
    outln!("\ntracking: repeat purchases of all customers, actual and BG/NBD, every 13 weeks (`retain diagnose` for every week):")?;
    out!("{}", tracking_table(&tracking, "weeks"))?;

    let clv_options = ClvOptions {
        months: 12,
        monthly_discount: 0.01,
        units_per_month: retain_models::btyd::WEEKS_PER_MONTH,
    };
    let ids = summary.customer_ids();
    let scores = score_customers(&bg, (&f, &r, &t), 39.0, Some((&gg, &m, &clv_options)))?;
    let clv = scores.clv.unwrap_or_default();
    let mut order: Vec<usize> = (0..f.len()).collect();
    order.sort_unstable_by(|&a, &b| clv[b].total_cmp(&clv[a]));
    outln!(
        "\ncustomer lifetime value, next 12 months at 1% a month: {} in all; the ten most valuable:",
        money(clv.iter().sum())
    )?;
    let rows: Vec<Vec<String>> = order
        .iter()
        .take(10)
        .map(|&i| {
            vec![
                ids.value(i).to_string(),
                f[i].to_string(),
                format!("{:.2}", m[i]),
                format!("{:.3}", scores.p_alive[i]),
                money(clv[i]),
            ]
        })
        .collect();
    out!(
        "{}",
        table(
            &[
                "customer",
                "repeat purchases",
                "mean spend",
                "P(alive)",
                "CLV ($)"
            ],
            &rows
        )
    )?;

    let bg_path = out.join("bgnbd.json");
    let gg_path = out.join("gamma_gamma.json");
    write_file(
        &bg_path,
        serde_json::to_string_pretty(&purchases)?.as_bytes(),
    )?;
    write_file(&gg_path, serde_json::to_string_pretty(&spend)?.as_bytes())?;
    Ok((
        vec![
            (bg_path, "the fitted BG/NBD model (retain predict --model)"),
            (gg_path, "the fitted Gamma-Gamma model"),
        ],
        // What `retain lifecycle --model bgnbd.json` reads of the saved fit.
        StageModel {
            model: SavedPurchaseModel::BgNbd(bg),
            unit: TimeUnit::Weeks,
            warnings: purchases.warnings,
        },
    ))
}
