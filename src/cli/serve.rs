//! `multiagents serve`: `GET /metrics` (Prometheus) and `GET /health`
//! (worker health as JSON) over HTTP, read from the database on each
//! request while other processes write it.

use std::net::SocketAddr;

use anyhow::{Context as _, bail};
use clap::Args;
use multiagents::export::http::{self, ServeOptions};
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
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let bound = listener.local_addr()?;
    eprintln!("multiagents serve: listening on http://{bound} (GET /metrics, GET /health)");
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
