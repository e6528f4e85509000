//! The Ballista scheduler and executor processes of `retain cluster`: Ballista's own, with
//! retain's codecs installed so that plans holding retain's log scan and `arg_min` aggregate
//! can be planned and run. Each runs until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service};
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

use super::codec::{RetainLogicalCodec, RetainPhysicalCodec};
use crate::error::{DataError, Result};

/// How a scheduler listens and when it gives an executor up.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    pub bind: SocketAddr,
    /// The host executors and clients are told to reach this scheduler at (default: the bind
    /// address's host).
    pub external_host: Option<String>,
    /// An executor silent this long is taken as lost and its tasks run elsewhere.
    pub executor_timeout: Duration,
    /// A running job whose progress has not changed this long, with no task running on a live
    /// executor, is cancelled (see [`super::watchdog`]).
    pub stall_timeout: Duration,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        SchedulerOptions {
            bind: SocketAddr::from(([127, 0, 0, 1], 50050)),
            external_host: None,
            executor_timeout: Duration::from_secs(30),
            stall_timeout: Duration::from_secs(120),
        }
    }
}

/// Runs a scheduler until a shutdown signal.
pub async fn run_scheduler(options: SchedulerOptions) -> Result<()> {
    let timeout = options.executor_timeout.as_secs().max(1);
    let config = SchedulerConfig {
        bind_host: options.bind.ip().to_string(),
        bind_port: options.bind.port(),
        external_host: options
            .external_host
            .unwrap_or_else(|| options.bind.ip().to_string()),
        executor_timeout_seconds: timeout,
        expire_dead_executor_interval_seconds: (timeout / 4).clamp(1, 15),
        no_executors_grace_period_seconds: timeout,
        override_logical_codec: Some(Arc::new(RetainLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(RetainPhysicalCodec::default())),
        ..Default::default()
    };
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| DataError::Cluster(format!("starting the scheduler: {e}")))?;
    let failed = |e| DataError::Cluster(format!("scheduler on {}: {e}", options.bind));
    log::info!(
        "retain's Ballista scheduler (Ballista {}) listening on {}",
        ballista_core::BALLISTA_VERSION,
        options.bind
    );
    config.validate().map_err(failed)?;
    let scheduler =
        create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::new(config))
            .await
            .map_err(failed)?;
    let watchdog = tokio::spawn(super::watchdog::watch(
        scheduler.clone(),
        options.stall_timeout,
        Duration::from_secs(timeout),
    ));
    let outcome = tokio::select! {
        served = start_grpc_service(options.bind, scheduler) => served.map_err(failed),
        _ = shutdown() => Ok(()),
    };
    watchdog.abort();
    outcome
}

/// Where an executor serves, which scheduler it joins, and what it may use.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    pub scheduler_host: String,
    pub scheduler_port: u16,
    pub bind_host: String,
    /// The host the scheduler and other executors reach this one at (default: `bind_host`).
    pub external_host: Option<String>,
    /// Arrow Flight port (shuffle data) and gRPC port.
    pub flight_port: u16,
    pub grpc_port: u16,
    /// Tasks run at once (default: this machine's cores).
    pub concurrent_tasks: Option<usize>,
    /// Where shuffle files are written (default: a temporary folder).
    pub work_dir: Option<PathBuf>,
    /// Memory of all tasks together; past it, aggregations spill to `work_dir`.
    pub memory_limit: Option<u64>,
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        ExecutorOptions {
            scheduler_host: "127.0.0.1".into(),
            scheduler_port: 50050,
            bind_host: "127.0.0.1".into(),
            external_host: None,
            flight_port: 50051,
            grpc_port: 50052,
            concurrent_tasks: None,
            work_dir: None,
            memory_limit: None,
        }
    }
}

/// Runs an executor until a shutdown signal (Ballista's executor handles the signal itself and
/// tells the scheduler it is leaving).
pub async fn run_executor(options: ExecutorOptions) -> Result<()> {
    let mut config = ExecutorProcessConfig {
        scheduler_host: options.scheduler_host.clone(),
        scheduler_port: options.scheduler_port,
        bind_host: options.bind_host.clone(),
        external_host: options.external_host.clone(),
        port: options.flight_port,
        grpc_port: options.grpc_port,
        work_dir: options
            .work_dir
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned()),
        memory_pool_size: options.memory_limit,
        // Often enough that a scheduler with a short executor timeout keeps live executors.
        executor_heartbeat_interval_seconds: 5,
        override_logical_codec: Some(Arc::new(RetainLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(RetainPhysicalCodec::default())),
        ..Default::default()
    };
    if let Some(n) = options.concurrent_tasks {
        config.vcores = n.max(1);
    }
    start_executor_process(Arc::new(config)).await.map_err(|e| {
        DataError::Cluster(format!(
            "executor (scheduler {}:{}): {e}",
            options.scheduler_host, options.scheduler_port
        ))
    })
}

async fn shutdown() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
