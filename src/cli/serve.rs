//! `multiagents serve`: `GET /metrics` (Prometheus) and `GET /health`
//! (worker health as JSON) over HTTP, read from the database on each
//! request while other processes write it.

use std::net::SocketAddr;

use anyhow::{Context as _, bail};
use clap::Args;
use multiagents::export::http::{self, ServeOptions};
use multiagents::export::prometheus::Live;
use multiagents::monitor::HealthStatus;
use multiagents::runs::RunSelector;
use multiagents::store::Store;
use multiagents::window;

use super::{Globals, Outcome};

/// Arguments of `multiagents serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port. The bound address is
    /// printed on stderr.
    #[arg(long, default_value = "127.0.0.1:9464")]
    listen: SocketAddr,
    /// Allow listening on a non-loopback address. The metrics name workers
    /// and errors: exposing them beyond this machine is a choice to make
    /// explicitly.
    #[arg(long)]
    allow_remote: bool,
    /// Window of rates, averages, health and system gauges in /metrics.
    /// Range: 1ms to 36500d.
    #[arg(short = 'w', long, value_parser = window::parse_window_option, default_value = "5m")]
    window: std::time::Duration,
    /// Serve one run (`latest` or an id) instead of every run in the file.
    #[arg(short = 'r', long)]
    run: Option<RunSelector>,
    /// How long one computed answer is served: requests within this
    /// interval share one computation, however many arrive at once.
    /// Range: 100ms to 1h.
    #[arg(long, default_value = "1s", value_parser = window::parse_refresh)]
    refresh: std::time::Duration,
    /// Worker statuses that make GET /health answer 503 (comma-separated:
    /// healthy, degraded, failing, inactive; `none` never does). The body
    /// is the same JSON either way.
    #[arg(long, default_value = "failing", value_parser = parse_unhealthy_on)]
    unhealthy_on: UnhealthyOn,
}

/// The statuses of `--unhealthy-on`.
#[derive(Debug, Clone)]
struct UnhealthyOn(Vec<HealthStatus>);

fn parse_unhealthy_on(text: &str) -> Result<UnhealthyOn, String> {
    if text.trim() == "none" {
        return Ok(UnhealthyOn(Vec::new()));
    }
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim) {
        let status = [
            HealthStatus::Healthy,
            HealthStatus::Degraded,
            HealthStatus::Failing,
            HealthStatus::Inactive,
        ]
        .into_iter()
        .find(|s| s.as_str() == part)
        .ok_or_else(|| {
            format!("unknown status {part:?}: use healthy, degraded, failing, inactive, or none")
        })?;
        if !out.contains(&status) {
            out.push(status);
        }
    }
    Ok(UnhealthyOn(out))
}

/// Runs `multiagents serve` until Ctrl-C or SIGTERM.
pub async fn run(globals: &Globals, args: ServeArgs) -> anyhow::Result<Outcome> {
    if !args.listen.ip().is_loopback() && !args.allow_remote {
        bail!(
            "refusing to listen on {}: it is not a loopback address; pass --allow-remote to expose the metrics beyond this machine",
            args.listen
        );
    }
    let store = Store::open_existing(&globals.db)?;
    let listener = bind_loopback(args.listen, true).await?;
    let options = ServeOptions {
        window: args.window,
        run: args.run,
        thresholds: multiagents::monitor::HealthThresholds::from_config(&globals.config),
        refresh: args.refresh,
        custom_buckets: multiagents::export::prometheus::custom_buckets(&globals.config),
        unhealthy_on: args.unhealthy_on.0,
        ..ServeOptions::new(store)
    };
    http::serve(listener, options, shutdown_signal())
        .await
        .context("HTTP server failed")?;
    eprintln!("multiagents serve: stopped");
    Ok(Outcome::Ok)
}

/// Binds `addr` and prints the bound address on stderr. With
/// `remote_allowed` false a non-loopback address is refused (the commands
/// that serve while they record have no `--allow-remote`).
pub async fn bind_loopback(
    addr: SocketAddr,
    remote_allowed: bool,
) -> anyhow::Result<tokio::net::TcpListener> {
    if !addr.ip().is_loopback() && !remote_allowed {
        bail!(
            "refusing to serve on {addr}: only a loopback address (127.0.0.1, ::1) is allowed here"
        );
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    eprintln!("multiagents serve: listening on http://{bound} (GET /metrics, GET /health)");
    Ok(listener)
}

/// A server running inside the recording process; [`LiveServer::stop`]
/// ends it.
pub struct LiveServer {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl LiveServer {
    /// Stops accepting, lets requests in progress finish, and waits.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Err(e)) => eprintln!("multiagents serve: {e}"),
            Err(e) => eprintln!("multiagents serve: {e}"),
            Ok(Ok(())) => {}
        }
    }
}

/// Serves `/metrics` and `/health` of the run `session` records, with the
/// recording process's own figures ([`Live::of_session`]): the writer's
/// queue, waits, commit latency and rows, and workflows in flight now.
pub fn spawn_live(
    globals: &Globals,
    listener: tokio::net::TcpListener,
    session: &multiagents::session::Session,
) -> anyhow::Result<LiveServer> {
    let store = Store::open_existing(&globals.db)?;
    let options = ServeOptions {
        // This run, not the newest: another process may start one.
        run: Some(RunSelector::Id(session.run_id())),
        thresholds: multiagents::monitor::HealthThresholds::from_config(&globals.config),
        custom_buckets: multiagents::export::prometheus::custom_buckets(&globals.config),
        live: Some(Live::of_session(session)),
        ..ServeOptions::new(store)
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(http::serve(listener, options, async move {
        let _ = stopped.await;
    }));
    Ok(LiveServer { stop, task })
}

/// Completes on Ctrl-C or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
