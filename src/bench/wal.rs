//! The write-ahead log under live readers (`bench --only wal`).
//!
//! Workflows are recorded at a steady rate (5,000 a second by default, as
//! in the report that found the WAL growing to hundreds of megabytes) while
//! a dashboard-like reader collects a snapshot every second and a
//! Prometheus scrape runs every 5 seconds. Two figures:
//!
//! - **WAL peak**: the largest size of the `-wal` file, sampled every
//!   50 ms, against `journal_size_limit` (what the file is trimmed back to
//!   after every restart).
//! - **Writer stall after a long reader**: a reader holds one read
//!   transaction for 30 s (the WAL cannot be copied back past its snapshot,
//!   so it grows); when it ends, the checkpointer catches up. The figure is
//!   the longest single commit of the writer in the 10 s after the reader
//!   ended, against the longest in the 10 s of the same load before the
//!   reader started.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::ingest::{Names, workflow_records};
use super::workload::open_store;
use super::{BenchOptions, BenchResult, Figure, Goal, Progress};
use crate::clock;
use crate::export::prometheus::{self, ExportOptions};
use crate::monitor::{HealthThresholds, RunScope};
use crate::store::checkpoint::JOURNAL_SIZE_LIMIT_BYTES;
use crate::store::{Store, Writer};

/// The WAL peak must stay under this many MiB.
pub const GOAL_WAL_PEAK_MIB: f64 = 64.0;

/// The longest commit after the long reader ends may be at most this many
/// times the longest before it started (and see [`STALL_FLOOR_MS`]).
pub const GOAL_STALL_RATIO: f64 = 5.0;

/// Stalls below this are not counted against the ratio: a few
/// milliseconds of fsync jitter on a shared machine are not a stall.
pub const STALL_FLOOR_MS: f64 = 50.0;

fn wal_size(path: &Path) -> u64 {
    let mut name = path.as_os_str().to_os_string();
    name.push("-wal");
    std::fs::metadata(PathBuf::from(name)).map_or(0, |m| m.len())
}

/// Shared by the load, the readers and the sampler.
#[derive(Default)]
struct State {
    stop: AtomicBool,
    workflows: AtomicU64,
    failures: AtomicU64,
    wal_peak: AtomicU64,
    dashboards: AtomicU64,
    scrapes: AtomicU64,
    reader_errors: AtomicU64,
}

/// Sends `rate` workflows a second in bursts every 10 ms until stopped.
async fn load(writer: Writer, rate: u64, state: Arc<State>) {
    let names = Names::new();
    let per_tick = (rate / 100).max(1);
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !state.stop.load(Ordering::Relaxed) {
        ticker.tick().await;
        for _ in 0..per_tick {
            for record in workflow_records(&writer, &names, clock::now_us()) {
                if writer.record(record).await.is_err() {
                    state.failures.fetch_add(1, Ordering::Relaxed);
                }
            }
            state.workflows.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The dashboard's refresh and the scrapes, on a thread of their own.
fn readers(store: Store, state: Arc<State>) {
    let thresholds = HealthThresholds::default();
    let mut last_scrape = Instant::now();
    while !state.stop.load(Ordering::Relaxed) {
        let snapshot = crate::dashboard::collect(
            &store,
            &thresholds,
            RunScope::AllRuns,
            Duration::from_secs(60),
            clock::now_us(),
        );
        match snapshot {
            Ok(_) => state.dashboards.fetch_add(1, Ordering::Relaxed),
            Err(_) => state.reader_errors.fetch_add(1, Ordering::Relaxed),
        };
        if last_scrape.elapsed() >= Duration::from_secs(5) {
            last_scrape = Instant::now();
            match prometheus::export(&store, &ExportOptions::now()) {
                Ok(_) => state.scrapes.fetch_add(1, Ordering::Relaxed),
                Err(_) => state.reader_errors.fetch_add(1, Ordering::Relaxed),
            };
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn sampler(path: PathBuf, state: Arc<State>) {
    while !state.stop.load(Ordering::Relaxed) {
        state.wal_peak.fetch_max(wal_size(&path), Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Holds one read transaction open for `hold`; returns the WAL size when
/// it ended.
fn long_reader(path: &Path, hold: Duration) -> BenchResult<u64> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let tx = conn.unchecked_transaction()?;
    // The snapshot is taken at the first read.
    let _: i64 = tx.query_row("SELECT count(*) FROM runs", [], |r| r.get(0))?;
    std::thread::sleep(hold);
    let size = wal_size(path);
    tx.commit()?;
    Ok(size)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

pub(super) async fn measure(
    options: &BenchOptions,
    progress: Progress<'_>,
) -> BenchResult<Vec<Figure>> {
    let path = options.db_path("wal");
    super::remove_db(&path);
    let (store, writer) = open_store(&path)?;
    let state = Arc::new(State::default());
    let load_task = tokio::spawn(load(writer.clone(), options.wal_rate, Arc::clone(&state)));
    let readers_thread = {
        let (store, state) = (store.clone(), Arc::clone(&state));
        std::thread::spawn(move || readers(store, state))
    };
    let sampler_thread = {
        let (path, state) = (path.clone(), Arc::clone(&state));
        std::thread::spawn(move || sampler(path, state))
    };

    let load_secs = options.wal_load.as_secs_f64();
    progress(&format!(
        "  {} workflows/s for {load_secs:.0} s with a dashboard every 1 s and a scrape every 5 s",
        options.wal_rate
    ));
    let started = Instant::now();
    tokio::time::sleep(options.wal_load).await;
    let load_elapsed = started.elapsed().as_secs_f64();
    let wal_peak = state.wal_peak.load(Ordering::Relaxed);
    let workflows_phase1 = state.workflows.load(Ordering::Relaxed);
    let stats_phase1 = writer.stats();

    progress(&format!(
        "  same load: {:.0} s before a reader holds a transaction for {:.0} s, {:.0} s after",
        options.wal_settle.as_secs_f64(),
        options.wal_reader_hold.as_secs_f64(),
        options.wal_settle.as_secs_f64()
    ));
    writer.take_longest_commit_us();
    tokio::time::sleep(options.wal_settle).await;
    let longest_before_us = writer.take_longest_commit_us();
    let hold = options.wal_reader_hold;
    let reader_path = path.clone();
    state.wal_peak.store(0, Ordering::Relaxed);
    let wal_at_reader_end =
        tokio::task::spawn_blocking(move || long_reader(&reader_path, hold)).await??;
    let peak_during_reader = state.wal_peak.load(Ordering::Relaxed);
    let reader_ended = Instant::now();
    writer.take_longest_commit_us();
    // How long until the WAL file is back under its limit.
    let mut caught_up_s = None;
    while reader_ended.elapsed() < options.wal_settle {
        if caught_up_s.is_none() && wal_size(&path) <= JOURNAL_SIZE_LIMIT_BYTES as u64 {
            caught_up_s = Some(reader_ended.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let longest_after_us = writer.take_longest_commit_us();

    state.stop.store(true, Ordering::Relaxed);
    let _ = load_task.await;
    let _ = readers_thread.join();
    let _ = sampler_thread.join();
    let stats = writer.stats();
    let db_bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    writer.shutdown().await?;
    let wal_after_close = wal_size(&path);
    drop(store);
    super::remove_db(&path);

    let achieved_rate = workflows_phase1 as f64 / load_elapsed.max(1e-9);
    let details = json!({
        "target_workflows_per_s": options.wal_rate,
        "achieved_workflows_per_s_phase1": achieved_rate,
        "load_s": load_elapsed,
        "dashboard_refreshes": state.dashboards.load(Ordering::Relaxed),
        "scrapes": state.scrapes.load(Ordering::Relaxed),
        "reader_errors": state.reader_errors.load(Ordering::Relaxed),
        "record_failures": state.failures.load(Ordering::Relaxed),
        "db_bytes_at_end": db_bytes,
        "wal_bytes_after_close": wal_after_close,
        "writer_phase1": stats_phase1,
        "writer_end": stats,
        "reader_hold_s": options.wal_reader_hold.as_secs_f64(),
        "wal_mib_at_reader_end": mib(wal_at_reader_end),
        "wal_peak_mib_during_reader": mib(peak_during_reader),
        "wal_back_under_limit_after_s": caught_up_s,
    });
    let peak = Figure::new(
        "wal_peak_mib",
        "largest -wal file during the load with a dashboard and scrapes",
        mib(wal_peak),
        "MiB",
        Some((mib(JOURNAL_SIZE_LIMIT_BYTES as u64), "journal_size_limit")),
        Goal::AtMost {
            max: GOAL_WAL_PEAK_MIB,
        },
        details.clone(),
    );
    let before_ms = ms(longest_before_us).max(STALL_FLOOR_MS);
    let stall = Figure::new(
        "writer_stall_after_long_reader_ms",
        "longest writer commit in the seconds after a long reader transaction ended",
        ms(longest_after_us),
        "ms",
        Some((before_ms, "longest before the reader (floor 50 ms)")),
        Goal::RatioAtMost {
            max: GOAL_STALL_RATIO,
        },
        json!({
            "longest_commit_before_ms": ms(longest_before_us),
            "longest_commit_after_ms": ms(longest_after_us),
            "wal_mib_at_reader_end": mib(wal_at_reader_end),
            "wal_back_under_limit_after_s": caught_up_s,
        }),
    );
    Ok(vec![peak, stall])
}
