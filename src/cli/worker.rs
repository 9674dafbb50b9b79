//! `multiagents worker`: serve the demo's workers to orchestrators on other
//! processes or hosts, through Redis Streams (see `transport::host`).

use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use multiagents::loadtest::load_test_workers;
use multiagents::transport::host::{self, HostOptions, default_host_name};
use multiagents::transport::redact_url;
use multiagents::transport::redis::DEFAULT_NAMESPACE;
use multiagents::workload::DemoSettings;
use tokio::signal::unix::{SignalKind, signal};

use super::{Globals, Outcome};

/// Arguments of `multiagents worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The Redis the orchestrators use: redis://[:password@]host:port[/db],
    /// or rediss:// for TLS. The password is never printed or logged.
    #[arg(long, env = "MULTIAGENTS_REDIS", hide_env_values = true)]
    redis: String,
    /// Prefix of the keys in Redis (the orchestrators' --redis-namespace).
    #[arg(long, default_value = DEFAULT_NAMESPACE)]
    redis_namespace: String,
    /// With a rediss:// URL: the PEM file of the certificate authority that
    /// signed the server's certificate, when the system does not trust it.
    #[arg(long, env = "MULTIAGENTS_REDIS_CA")]
    redis_ca: Option<std::path::PathBuf>,
    /// Workers to serve, comma-separated [default: every demo worker].
    #[arg(long, value_delimiter = ',')]
    workers: Vec<String>,
    /// Steps run at once. Range: 1 to 1000000.
    #[arg(long, default_value = "16", value_parser = multiagents::loadtest::parse_concurrency)]
    concurrency: usize,
    /// This host's name, unique among the hosts [default: machine:pid].
    #[arg(long)]
    name: Option<String>,
    /// A step held this long by a host that stopped answering (killed, its
    /// machine lost) is taken over by another host. Range: 1ms to 30d.
    #[arg(long, default_value = "30s", value_parser = multiagents::window::parse_run_length)]
    visibility_timeout: Duration,
    /// After Ctrl-C or SIGTERM, how long running steps get to finish before
    /// they are handed back for another host; a second signal stops at
    /// once. Range: 1ms to 30d.
    #[arg(long, default_value = "10s", value_parser = multiagents::window::parse_run_length)]
    grace: Duration,
    /// Seed of the demo workers' durations and failures. Range: 0 to
    /// 18446744073709551615.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Multiplies the demo workers' sleeps (the quick demo's are 0.1).
    /// Range: 0 to 1000.
    #[arg(long, default_value = "1.0", value_parser = multiagents::loadtest::parse_time_scale)]
    time_scale: f64,
}

/// Runs `multiagents worker` until a signal.
pub async fn run(_globals: &Globals, args: WorkerArgs) -> anyhow::Result<Outcome> {
    let registry = load_test_workers(DemoSettings {
        seed: args.seed,
        time_scale: args.time_scale,
        ..DemoSettings::default()
    });
    let workers = if args.workers.is_empty() {
        registry.names()
    } else {
        args.workers.clone()
    };
    let mut options = HostOptions::new(args.redis.clone(), workers);
    options.namespace = args.redis_namespace.clone();
    options.ca_cert = args.redis_ca.clone();
    options.name = args.name.clone().unwrap_or_else(default_host_name);
    options.concurrency = args.concurrency;
    options.visibility_timeout = args.visibility_timeout;
    options.grace = args.grace;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<u8>();
    let grace = args.grace;
    tokio::spawn(async move {
        let first = tokio::select! {
            _ = int.recv() => ("SIGINT", 130u8),
            _ = term.recv() => ("SIGTERM", 143u8),
        };
        eprintln!(
            "multiagents: {} received: reading no new steps, giving the running ones up to {:.1} s, then handing the rest back (send it again to stop at once)",
            first.0,
            grace.as_secs_f64()
        );
        let _ = stop_tx.send(first.1);
        let second = tokio::select! {
            _ = int.recv() => 130,
            _ = term.recv() => 143,
        };
        eprintln!(
            "multiagents: stopping at once; steps still held are reclaimed by another host after the visibility timeout"
        );
        std::process::exit(second);
    });
    eprintln!(
        "multiagents: worker host {} serving {} through {} ({} at once)",
        options.name,
        options.workers.join(", "),
        redact_url(&options.url),
        options.concurrency
    );
    let code = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(0));
    let stopped = {
        let code = std::sync::Arc::clone(&code);
        async move {
            if let Ok(c) = stop_rx.await {
                code.store(c, std::sync::atomic::Ordering::Release);
            }
        }
    };
    let summary = host::serve(registry, options, stopped).await?;
    eprintln!(
        "multiagents: worker host stopped: {} steps run ({} failed), {} reclaimed from lost hosts, {} handed back, {} dropped (their orchestrator was gone)",
        summary.executed, summary.failed, summary.reclaimed, summary.handed_back, summary.orphaned
    );
    Ok(match code.load(std::sync::atomic::Ordering::Acquire) {
        0 => Outcome::Ok,
        c => Outcome::Interrupted(c),
    })
}
