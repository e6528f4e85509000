//! `retain serve`: the JSON HTTP API over the store's models (`retain-server`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use retain_server::{serve, AppState, DataDir, Limits, ServerConfig};

use crate::registry::StoreArgs;

/// Arguments of `retain serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "HOST:PORT")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Answer without tokens: every caller may do everything (a trusted network only).
    #[arg(long)]
    pub no_auth: bool,
    /// Largest request body in MiB (larger: 413).
    #[arg(long, default_value_t = ServerConfig::default().max_body >> 20)]
    pub max_body_mib: usize,
    /// The folder batch jobs may read customer files from (by paths relative to it; links
    /// that lead out of it are refused). Without it, jobs take customers in the request only.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Largest customer file a batch job reads, in MiB.
    #[arg(long, default_value_t = 1024)]
    pub max_job_mib: u64,
    /// Seconds a client has to send a request's headers (also how long an idle connection
    /// stays open).
    #[arg(long, default_value_t = Limits::default().header_timeout.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_secs: u64,
    /// Seconds a client has to send a request's body (408 after).
    #[arg(long, default_value_t = Limits::default().body_timeout.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout_secs: u64,
    /// Seconds the server takes at most to answer a request (503 after).
    #[arg(long, default_value_t = Limits::default().request_timeout.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_secs: u64,
    /// Run the pipeline files (*.toml) of this folder on their schedules while serving; each
    /// run is recorded in the store (GET /v1/pipeline-runs, the dashboard).
    #[arg(long, value_name = "DIR")]
    pub schedule: Option<PathBuf>,
    /// Connections open at once (one more is answered 503 and closed); at most what the
    /// process's file limit allows.
    #[arg(long, default_value_t = Limits::default().max_connections as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let store = args.store.open().await?;
    if !args.no_auth && !store.has_tokens().await? {
        anyhow::bail!(
            "the store has no API tokens, so no request could be answered: make one with \
             `retain token create NAME --scope admin --store {}`, or serve with --no-auth on a \
             trusted network",
            args.store.store
        );
    }
    let data_dir = match &args.data_dir {
        Some(dir) => Some(
            DataDir::new(dir, args.max_job_mib << 20)
                .with_context(|| format!("--data-dir {}", dir.display()))?,
        ),
        None => None,
    };
    let max_connections = usize::try_from(args.max_connections).unwrap_or(usize::MAX);
    let allowed = connections_the_file_limit_allows();
    if max_connections > allowed {
        eprintln!(
            "retain serve: --max-connections {max_connections} lowered to {allowed}, what the \
             process's open-file limit allows (raise it with `ulimit -n`)"
        );
    }
    let schedule = args
        .schedule
        .as_deref()
        .map(retain_server::schedule::Schedule::read_dir)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--schedule: {e}"))?;
    if let Some(schedule) = &schedule {
        for p in &schedule.pipelines {
            eprintln!(
                "retain serve: pipeline {} runs on \"{}\" (UTC), next at {}",
                p.name,
                p.spec.schedule.as_deref().unwrap_or_default(),
                p.next_due(chrono::Utc::now()).map_or("never".into(), |t| t
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string())
            );
        }
    }
    let config = ServerConfig {
        schedule,
        auth: !args.no_auth,
        max_body: args.max_body_mib << 20,
        data_dir,
        limits: Limits {
            header_timeout: Duration::from_secs(args.header_timeout_secs),
            body_timeout: Duration::from_secs(args.body_timeout_secs),
            request_timeout: Duration::from_secs(args.request_timeout_secs),
            max_connections: max_connections.min(allowed),
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    let models = store.models().await?;
    let state = AppState::new(store, config)
        .await
        .map_err(|e| anyhow::anyhow!(e.detail.message))?;
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("listening on {}", args.addr))?;
    eprintln!(
        "retain serves {} model{} from {} on http://{}{} (API: /openapi.json; Ctrl-C stops)",
        models.len(),
        if models.len() == 1 { "" } else { "s" },
        args.store.store,
        listener.local_addr()?,
        if args.no_auth { ", without tokens" } else { "" }
    );
    match &args.data_dir {
        Some(dir) => eprintln!("batch jobs read files under {}", dir.display()),
        None => eprintln!("batch jobs take customers in the request (no --data-dir)"),
    }
    serve(listener, state, shutdown_signal()).await?;
    eprintln!("stopped");
    Ok(())
}

/// Descriptors kept for the store, the listener and files besides connections.
const RESERVED_FILES: u64 = 64;

/// Connections the open-file limit leaves room for, after raising the soft limit to the hard
/// one (most systems start processes at 1,024 with a far higher hard limit).
fn connections_the_file_limit_allows() -> usize {
    #[cfg(unix)]
    {
        // SAFETY: getrlimit/setrlimit only read and write the struct passed.
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
            if limit.rlim_cur < limit.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: limit.rlim_max,
                    rlim_max: limit.rlim_max,
                };
                if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                    limit = raised;
                }
            }
            // rlim_t is u64 on Linux, other widths elsewhere.
            #[allow(clippy::useless_conversion)]
            let soft = u64::try_from(limit.rlim_cur).unwrap_or(u64::MAX);
            return usize::try_from(soft.saturating_sub(RESERVED_FILES).max(1))
                .unwrap_or(usize::MAX);
        }
    }
    usize::MAX
}

/// Ctrl-C or SIGTERM: stop taking connections, finish the requests in flight.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
