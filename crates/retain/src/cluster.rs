//! `retain cluster scheduler|executor`: Ballista's scheduler and executor with retain's plan
//! codecs, so `--engine ballista://HOST:PORT` runs retain's summary plans on them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use retain_data::cluster::host_port;
use retain_data::cluster::process::{
    run_executor, run_scheduler, ExecutorOptions, SchedulerOptions,
};

use crate::args::parse_size;

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Start a Ballista scheduler that plans retain's queries; clients pass
    /// `--engine ballista://HOST:PORT`.
    Scheduler(SchedulerArgs),
    /// Start a Ballista executor that runs retain's tasks; it reads the transaction files at
    /// the paths the client names, so they must be reachable there too.
    Executor(ExecutorArgs),
}

#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:50050")]
    pub bind: SocketAddr,
    /// Host that executors and clients reach this scheduler at (default: the bind address).
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    /// Seconds without a heartbeat after which an executor is lost and its tasks run elsewhere.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub executor_timeout: u64,
    /// Seconds after which a running job that has made no progress, with no task running on a
    /// live executor, is cancelled and its client told so.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub stall_timeout: u64,
}

#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The scheduler to join, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:50050", value_name = "HOST:PORT")]
    pub scheduler: String,
    /// Host to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind_host: String,
    /// Host that the scheduler and other executors reach this one at (default: --bind-host).
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    /// Arrow Flight port, from which other executors fetch this one's shuffle output.
    #[arg(long, default_value_t = 50051)]
    pub port: u16,
    /// gRPC port.
    #[arg(long, default_value_t = 50052)]
    pub grpc_port: u16,
    /// Tasks run at once (default: the machine's cores).
    #[arg(long, value_name = "N")]
    pub concurrent_tasks: Option<usize>,
    /// Folder for shuffle and spill files (default: a temporary folder).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Memory of all tasks together (e.g. 4G); past it, aggregations spill to disk.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<usize>,
}

pub async fn run(command: ClusterCommand) -> anyhow::Result<()> {
    StderrLog::install();
    match command {
        ClusterCommand::Scheduler(args) => {
            eprintln!(
                "retain cluster scheduler on {} (clients: --engine ballista://{}:{})",
                args.bind,
                args.external_host
                    .clone()
                    .unwrap_or_else(|| args.bind.ip().to_string()),
                args.bind.port()
            );
            run_scheduler(SchedulerOptions {
                bind: args.bind,
                external_host: args.external_host,
                executor_timeout: Duration::from_secs(args.executor_timeout),
                stall_timeout: Duration::from_secs(args.stall_timeout),
            })
            .await?;
        }
        ClusterCommand::Executor(args) => {
            let (host, port) = host_port(&args.scheduler).ok_or_else(|| {
                anyhow::anyhow!(
                    "--scheduler: expected HOST:PORT, found {:?}",
                    args.scheduler
                )
            })?;
            eprintln!(
                "retain cluster executor on {}:{} joining the scheduler at {host}:{port}",
                args.bind_host, args.port
            );
            run_executor(ExecutorOptions {
                scheduler_host: host,
                scheduler_port: port,
                bind_host: args.bind_host,
                external_host: args.external_host,
                flight_port: args.port,
                grpc_port: args.grpc_port,
                concurrent_tasks: args.concurrent_tasks,
                work_dir: args.work_dir,
                memory_limit: args.memory_limit.map(|m| m as u64),
            })
            .await?;
        }
    }
    Ok(())
}

/// What Ballista does (executors joining and lost, jobs, stages, failed tasks), one line per
/// event on stderr: Ballista's own crates at `info` and up, everything else at `warn` and up;
/// `RUST_LOG=debug` (or `trace`, `warn`, `error`) sets the level of all.
struct StderrLog {
    level: log::LevelFilter,
}

impl StderrLog {
    fn install() {
        let level = std::env::var("RUST_LOG")
            .ok()
            .and_then(|l| l.parse().ok())
            .unwrap_or(log::LevelFilter::Info);
        let logger = Box::leak(Box::new(StderrLog { level }));
        if log::set_logger(logger).is_ok() {
            log::set_max_level(level);
        }
    }
}

impl log::Log for StderrLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        let ours = metadata.target().starts_with("ballista");
        metadata.level() <= self.level && (ours || metadata.level() <= log::Level::Warn)
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
            eprintln!(
                "{now} {} {}: {}",
                record.level(),
                record.target(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}
