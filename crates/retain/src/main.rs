//! retain: customer retention and lifetime value from transaction logs. This binary is the
//! command line; the work is done by the library crates (`retain-data`, ...), which know
//! nothing of terminals.

// First: the output macros are used by the modules after it.
#[macro_use]
mod out;

mod analyze;
mod args;
mod bench;
mod cluster;
mod clv;
mod cohorts;
mod demo;
mod describe;
mod diagnose;
mod drivers;
mod failure;
mod fit;
mod fmt;
mod lifecycle;
mod monitor;
mod pipeline;
mod predict;
mod progress;
mod registry;
mod score;
mod seasonality;
mod segment;
mod serve;
mod summarize;
mod survival;
mod train;

use clap::{Parser, Subcommand};

/// Customer retention and lifetime value: summaries, models, segments, served.
#[derive(Debug, Parser)]
#[command(
    name = "retain",
    version,
    about,
    long_about = None,
    propagate_version = true,
    after_help = failure::EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the pipeline on the bundled CDNOW sample and write the results to a folder.
    Demo(demo::DemoArgs),
    /// Per-customer frequency, recency, T and monetary value (lifetimes' RFM summary), with an
    /// optional calibration/holdout split.
    Summarize(summarize::SummarizeArgs),
    /// What a customer table holds: each column's type, missing and distinct values.
    Describe(describe::DescribeArgs),
    /// Fit a model by maximum likelihood: BG/NBD, Pareto/NBD, MBG/NBD, BG/BB, sBG, Gamma-Gamma.
    Fit(fit::FitArgs),
    /// Apply a fitted purchase model: P(alive) and expected purchases per customer, or a new
    /// customer's purchase distribution.
    Predict(predict::PredictArgs),
    /// Customer lifetime value from a purchase model and Gamma-Gamma spend, discounted monthly.
    Clv(clv::ClvArgs),
    /// Check a fitted purchase model against the customers: calibration vs holdout, and
    /// repeat transactions over time (actual and expected).
    Diagnose(diagnose::DiagnoseArgs),
    /// Acquisition cohorts and their retention period by period, and retention and churn
    /// rates per calendar period.
    Cohorts(cohorts::CohortArgs),
    /// How long customers stay: Kaplan-Meier curves with confidence intervals and median
    /// lifetimes, by group with the log-rank test, projected with sBG.
    Survival(survival::SurvivalArgs),
    /// What separates churned from retained customers: churn rate by each attribute's values
    /// and the attributes ranked by information value.
    Drivers(drivers::DriverArgs),
    /// Lifecycle stages (new, active, at risk, lapsed) of every customer at a date, and the
    /// moves between stages since an earlier date.
    Lifecycle(lifecycle::LifecycleArgs),
    /// Purchase and churn rates by calendar month and weekday, with the test of whether the
    /// month matters.
    Seasonality(seasonality::SeasonalityArgs),
    /// Segment customers: RFM scores and named segments, or k-means / DBSCAN clusters ordered
    /// by value, with each segment's size, revenue share, CLV and churn risk.
    Segment(segment::SegmentArgs),
    /// Train a gradient-boosted churn, value-tier or CLV model: cross-validated metrics, the
    /// saved model, and scores with their reasons.
    Train(train::TrainArgs),
    /// The model registry: register saved models as versions, list and show them, move
    /// aliases (promote, roll back).
    #[command(subcommand)]
    Registry(registry::RegistryCommand),
    /// Score a customer file with a registered model and store every prediction with its
    /// reasons as a run.
    Score(score::ScoreArgs),
    /// Stored prediction runs, a run's predictions, or a customer's predictions.
    Runs(score::RunsArgs),
    /// How a registered model fares in production: its scoring runs' drift from its training
    /// data (Evidently's tests, PSI), feature by feature.
    Monitor(monitor::MonitorArgs),
    /// Serve the JSON HTTP API: predictions with reasons, registry, batch jobs, stored
    /// predictions.
    Serve(serve::ServeArgs),
    /// API tokens for `retain serve`.
    #[command(subcommand)]
    Token(registry::TokenCommand),
    /// Everything the dashboard shows of a transaction log (segments, value, retention, churn
    /// risk with reasons, per customer and in aggregate), computed and stored as an analysis.
    Analyze(analyze::AnalyzeArgs),
    /// The stored analyses as one self-contained HTML file that opens with no network.
    Report(analyze::ReportArgs),
    /// Run a pipeline file once: read the transactions, take the cutoff, train and register
    /// its models the first time, score every customer into the store with drift, store the
    /// analysis. The same inputs run again are found, not redone.
    Run(pipeline::RunArgs),
    /// Champion and challenger: train a challenger for a pipeline's model on the latest data,
    /// measure both on the newest out-of-time window, move production only when it wins by
    /// the margins and passes the checks.
    Retrain(pipeline::RetrainArgs),
    /// Throughput and memory of the heavy steps on a given log.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Run the summary plans on an Apache DataFusion Ballista cluster: start its scheduler and
    /// executors, then pass `--engine ballista://HOST:PORT` to the commands.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    out::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Demo(args) => demo::run(args).await,
            Command::Summarize(args) => summarize::run(args).await,
            Command::Describe(args) => describe::run(args),
            Command::Fit(args) => fit::run(args).await,
            Command::Predict(args) => predict::run(args).await,
            Command::Clv(args) => clv::run(args).await,
            Command::Diagnose(args) => diagnose::run(args).await,
            Command::Cohorts(args) => cohorts::run(args),
            Command::Survival(args) => survival::run(args),
            Command::Drivers(args) => drivers::run(args),
            Command::Lifecycle(args) => lifecycle::run(args),
            Command::Seasonality(args) => seasonality::run(args),
            Command::Segment(args) => segment::run(args),
            Command::Train(args) => train::run(args),
            Command::Registry(cmd) => registry::run(cmd).await,
            Command::Token(cmd) => registry::run_token(cmd).await,
            Command::Score(args) => score::run(args).await,
            Command::Serve(args) => serve::run(args).await,
            Command::Runs(args) => score::runs(args).await,
            Command::Monitor(args) => monitor::run(args).await,
            Command::Analyze(args) => analyze::run(args).await,
            Command::Report(args) => analyze::report(args).await,
            Command::Run(args) => pipeline::run(args).await,
            Command::Retrain(args) => pipeline::retrain(args).await,
            Command::Bench(cmd) => bench::run(cmd).await,
            Command::Cluster(cmd) => cluster::run(cmd).await,
        }
    });
    // Work left on blocking threads (a cancelled batch job's scoring) must not keep the
    // process from exiting: what it would write is rolled back with its transaction.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    let result = result.and_then(|()| Ok(out::finish()?));
    let Err(error) = result else {
        return std::process::ExitCode::SUCCESS;
    };
    let failure = failure::Failure::of(&error);
    if failure != failure::Failure::ClosedPipe {
        eprintln!("error: {}", failure::message(&error));
    }
    // A failed command leaves no partial result on a stdout redirected to a file.
    out::undo();
    std::process::ExitCode::from(failure.exit_code())
}
