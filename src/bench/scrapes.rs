//! `serve` under concurrent scrapes: rounds of parallel `GET /metrics`
//! while no-op workflows run at full speed into the same database, through
//! the real HTTP server on a loopback socket. Measured with answers shared
//! per refresh interval (what `serve` does) and, as the reference in the
//! same run, with every request computing on its own (what it did before):
//! errors (any status but 200), p50 and p99 latency.
//!
//! The two servers take turns round by round (so both meet the database at
//! the same size as the load grows it); before each round the bench waits
//! longer than the refresh interval, so each round starts on a stale answer
//! and really computes. Last, a burst of
//! requests whose clients give up after a few milliseconds checks that
//! abandoned work is cancelled (counted in the details).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::workload::{NOOP, noop_workers, open_store, register_three_steps, run_workflows};
use super::{BenchOptions, BenchResult, Figure, Goal, Progress};
use crate::export::http::{Answers, ServeOptions, router_with_answers};
use crate::monitor::HealthThresholds;
use crate::orchestrator::Orchestrator;
use crate::store::Store;

/// How long `serve` shares one answer in the measured side (its default).
const REFRESH: Duration = Duration::from_secs(1);

/// One side's requests.
#[derive(Debug, Default)]
struct Side {
    latencies_ms: Vec<f64>,
    errors: usize,
    /// Status lines (or connection errors) of the failures, first few.
    error_samples: Vec<String>,
}

impl Side {
    fn percentile(&self, p: f64) -> f64 {
        let mut v = self.latencies_ms.clone();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    }
}

/// One `GET path` over a fresh connection: the status code, or why there
/// was none.
async fn get(addr: std::net::SocketAddr, path: &str) -> Result<u16, String> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .map_err(|e| format!("read: {e}"))?;
    let head = String::from_utf8_lossy(&response[..response.len().min(64)]).into_owned();
    head.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("no status line: {head:?}"))
}

/// A server on a free loopback port; stops when the returned sender drops.
async fn start_server(
    store: &Store,
    refresh: Duration,
) -> BenchResult<(
    std::net::SocketAddr,
    Answers,
    tokio::sync::oneshot::Sender<()>,
)> {
    let (router, answers) = router_with_answers(ServeOptions {
        window: Duration::from_secs(300),
        thresholds: HealthThresholds::default(),
        refresh,
        ..ServeOptions::new(store.clone())
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Ok((addr, answers, stop))
}

/// One round of `parallel` simultaneous scrapes of `addr`, added to `side`.
async fn scrape_round(
    addr: std::net::SocketAddr,
    parallel: usize,
    side: &mut Side,
) -> BenchResult<()> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..parallel {
        tasks.spawn(async move {
            let started = Instant::now();
            let status = get(addr, "/metrics").await;
            (started.elapsed(), status)
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (elapsed, status) = done?;
        side.latencies_ms.push(elapsed.as_secs_f64() * 1000.0);
        match status {
            Ok(200) => {}
            other => {
                side.errors += 1;
                if side.error_samples.len() < 5 {
                    side.error_samples.push(format!("{other:?}"));
                }
            }
        }
    }
    Ok(())
}

/// Requests whose clients give up after `patience`: their computation
/// should be cancelled. Returns the server's counters afterwards.
async fn abandoned(store: &Store, parallel: usize, patience: Duration) -> BenchResult<Answers> {
    let (addr, answers, _stop) = start_server(store, REFRESH).await?;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..parallel {
        tasks.spawn(async move {
            let _ = tokio::time::timeout(patience, get(addr, "/metrics")).await;
        });
    }
    while tasks.join_next().await.is_some() {}
    // Give the server a moment to notice the closed connections.
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(answers)
}

pub(super) async fn measure(
    options: &BenchOptions,
    progress: Progress<'_>,
) -> BenchResult<Vec<Figure>> {
    let path = options.db_path("scrapes");
    let (store, writer) = open_store(&path)?;
    let orch = Orchestrator::with_store(noop_workers(), store.clone(), writer.clone());
    register_three_steps(&orch, NOOP, "noop")?;
    let prefill = options.scrape_prefill_workflows;
    progress(&format!("  {prefill} no-op workflows recorded first"));
    run_workflows(&orch, NOOP, prefill, options.in_flight, 0).await?;

    // Full load for as long as the scrapes last.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let orch = orch.clone();
        let stop = Arc::clone(&stop);
        let in_flight = options.in_flight;
        tokio::spawn(async move {
            let mut next = prefill;
            let mut done = 0usize;
            while !stop.load(Ordering::Relaxed) {
                run_workflows(&orch, NOOP, 1000, in_flight, next).await?;
                next += 1000;
                done += 1000;
            }
            Ok::<usize, anyhow::Error>(done)
        })
    };

    let parallel = options.scrapes;
    let rounds = options.scrape_rounds;
    progress(&format!(
        "  {rounds} rounds of {parallel} parallel scrapes, answers shared per {REFRESH:?} and (in turns) each computed alone as before"
    ));
    let loaded = Instant::now();
    // The two servers take turns, round by round, so that both meet the
    // same database as it grows under the load.
    let (shared_addr, shared_answers, _stop_shared) = start_server(&store, REFRESH).await?;
    let (alone_addr, _, _stop_alone) = start_server(&store, Duration::ZERO).await?;
    let mut shared = Side::default();
    let mut alone = Side::default();
    for round in 1..=rounds {
        // Each round starts on a stale answer.
        tokio::time::sleep(REFRESH + Duration::from_millis(100)).await;
        scrape_round(shared_addr, parallel, &mut shared).await?;
        scrape_round(alone_addr, parallel, &mut alone).await?;
        progress(&format!(
            "    round {round}: shared {} errors so far, alone {}",
            shared.errors, alone.errors
        ));
    }
    progress("  abandoned scrapes (clients give up after 5 ms)");
    let gave_up = abandoned(&store, 50, Duration::from_millis(5)).await?;
    let load_s = loaded.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let loaded_workflows = load.await??;
    let writer_stats = writer.stats();
    drop(orch);
    writer.shutdown().await?;
    drop(store);
    super::remove_db(&path);

    let (metrics_stats, _) = shared_answers.stats();
    let (abandoned_stats, _) = gave_up.stats();
    let requests = parallel * rounds;
    let details = json!({
        "parallel": parallel,
        "rounds": rounds,
        "refresh_ms": REFRESH.as_millis(),
        "prefill_workflows": prefill,
        "workflows_during_scrapes": loaded_workflows,
        "load_workflows_per_s": loaded_workflows as f64 / load_s.max(1e-9),
        "shared": {
            "errors": shared.errors,
            "error_samples": shared.error_samples,
            "p50_ms": shared.percentile(50.0),
            "p99_ms": shared.percentile(99.0),
            "max_ms": shared.percentile(100.0),
            "answers": metrics_stats,
        },
        "alone": {
            "errors": alone.errors,
            "error_samples": alone.error_samples,
            "p50_ms": alone.percentile(50.0),
            "p99_ms": alone.percentile(99.0),
            "max_ms": alone.percentile(100.0),
        },
        "abandoned": abandoned_stats,
        "writer": writer_stats,
    });
    let description = |what: &str| {
        format!(
            "{what} of {requests} GET /metrics ({rounds} rounds of {parallel} in parallel) during full load"
        )
    };
    Ok(vec![
        Figure::new(
            "scrape_errors",
            &description("responses other than 200"),
            shared.errors as f64,
            "errors",
            Some((alone.errors as f64, "each request computing alone (before)")),
            Goal::AtMost { max: 0.0 },
            details.clone(),
        ),
        Figure::new(
            "scrape_p50_latency",
            &description("median latency"),
            shared.percentile(50.0),
            "ms",
            Some((
                alone.percentile(50.0),
                "each request computing alone (before)",
            )),
            Goal::None,
            json!({}),
        ),
        Figure::new(
            "scrape_p99_latency",
            &description("99th percentile latency"),
            shared.percentile(99.0),
            "ms",
            Some((
                alone.percentile(99.0),
                "each request computing alone (before)",
            )),
            Goal::None,
            json!({}),
        ),
    ])
}
