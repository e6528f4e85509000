//! `retain serve`: the JSON HTTP API over the store's models (`retain-server`).

use std::net::SocketAddr;

use anyhow::Context;
use clap::Args;
use retain_server::{serve, AppState, ServerConfig};

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
    #[arg(long, default_value_t = 16)]
    pub max_body_mib: usize,
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
    let config = ServerConfig {
        auth: !args.no_auth,
        max_body: args.max_body_mib << 20,
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
    serve(listener, state, shutdown_signal()).await?;
    eprintln!("stopped");
    Ok(())
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
