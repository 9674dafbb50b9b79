//! Retention under load: expired rows are deleted by the writer while
//! producers keep sending records as fast as they can. The figure is the
//! longest single wait of a producer on the writer during retention (each
//! send timed here, and the writer's own `producer_wait_us_max`); the
//! reference is the same measured before retention started. Ingest must
//! never fail.

use super::BenchResult;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};
use serde_json::json;

use super::ingest::{Names, STEPS, workflow_records};
use super::workload::open_store;
use super::{BenchOptions, Figure, Goal, Progress};
use crate::clock;
use crate::store::{IdAllocator, RetentionCutoffs, RunInfo, Store, WriterOptions};

/// The goal: no producer waits longer than this, milliseconds.
pub const GOAL_MAX_WAIT_MS: f64 = 50.0;

/// Inserts `workflows` completed workflows (and `STEPS` events each) that
/// ended two days ago, straight into the file, under run `run_id`.
fn insert_expired(path: &std::path::Path, run_id: i64, workflows: usize) -> BenchResult<()> {
    let mut conn = Connection::open(path)?;
    conn.execute_batch("PRAGMA synchronous = NORMAL;")?;
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO workers (name) VALUES ('expired_worker') ON CONFLICT (name) DO NOTHING",
        [],
    )?;
    let worker: i64 = tx.query_row(
        "SELECT id FROM workers WHERE name = 'expired_worker'",
        [],
        |r| r.get(0),
    )?;
    let (first_id, _) = IdAllocator::run_range(run_id);
    let t0 = clock::now_us() - 2 * 24 * 3600 * 1_000_000;
    {
        let mut wf = tx.prepare(
            "INSERT INTO workflows (id, transaction_id, run_id, workflow_name, state, current_step,
                 created_at_us, started_at_us, ended_at_us, input_size_bytes, last_event_id)
             VALUES (?1, ?2, ?3, 'expired', 'completed', 'c', ?4, ?4, ?5, 17, ?6)",
        )?;
        let mut ev = tx.prepare(
            "INSERT INTO event_rows (id, workflow_id, compensation, step, worker_id, attempt,
                 status_code, dispatched_at_us, picked_up_after_us, processing_after_us,
                 finished_at_us, duration_us, payload_size_bytes, result_size_bytes)
             VALUES (?1, ?2, 0, ?3, ?4, 1, 1, ?5, 0, 0, ?6, 3, 17, 2)",
        )?;
        let mut id = first_id;
        for i in 0..workflows {
            id += 1;
            let wid = id;
            let t = t0 + i as i64 * 10;
            // Its events take the next STEPS ids.
            let last_event_id = wid + STEPS as i64;
            wf.execute(params![
                wid,
                format!("{wid:032x}"),
                run_id,
                t,
                t + 30,
                last_event_id
            ])?;
            for s in 0..STEPS {
                id += 1;
                let at = t + s as i64 * 10;
                ev.execute(params![id, wid, ["a", "b", "c"][s], worker, at, at + 5])?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

#[derive(Default)]
struct Waits {
    during_retention: AtomicBool,
    max_before_us: AtomicU64,
    max_during_us: AtomicU64,
    sends: AtomicU64,
    failures: AtomicU64,
}

pub(super) async fn measure(
    options: &BenchOptions,
    progress: Progress<'_>,
) -> BenchResult<Vec<Figure>> {
    let expired_workflows = (options.retention_rows / (1 + STEPS)).max(1);
    let rows = expired_workflows * (1 + STEPS);
    let path = options.db_path("retention");
    let (_store, writer) = open_store(&path)?;
    let old_run = writer.run_id();
    writer.shutdown().await?;
    progress(&format!("  inserting {rows} expired rows"));
    let insert_path = path.clone();
    tokio::task::spawn_blocking(move || insert_expired(&insert_path, old_run, expired_workflows))
        .await??;

    let run = RunInfo {
        command: "multiagents bench (retention)".into(),
        config_json: "{}".into(),
    };
    let (_store, writer) = Store::open(&path, &run, WriterOptions::default())?;
    let waits = Arc::new(Waits::default());
    let stop = Arc::new(AtomicBool::new(false));
    let names = Names::new();
    let mut producers = Vec::new();
    for _ in 0..options.producers.max(1) {
        let writer = writer.clone();
        let waits = Arc::clone(&waits);
        let stop = Arc::clone(&stop);
        let names = names.clone();
        producers.push(tokio::spawn(async move {
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for record in workflow_records(&writer, &names, clock::now_us()) {
                    let started = Instant::now();
                    let outcome = writer.record(record).await;
                    let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                    if outcome.is_err() {
                        waits.failures.fetch_add(1, Ordering::Relaxed);
                    }
                    sent += 1;
                    if waits.during_retention.load(Ordering::Relaxed) {
                        waits.max_during_us.fetch_max(us, Ordering::Relaxed);
                    } else {
                        waits.max_before_us.fetch_max(us, Ordering::Relaxed);
                    }
                }
            }
            waits.sends.fetch_add(sent, Ordering::Relaxed);
        }));
    }
    progress("  ingest alone for 1 s (reference)");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stats_before = writer.stats();
    progress("  retention while ingest continues");
    waits.during_retention.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let report = writer
        .run_retention(RetentionCutoffs::older_than(
            Duration::from_secs(3600),
            clock::now_us(),
        ))
        .await;
    let retention_elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for p in producers {
        p.await?;
    }
    let flushed = writer.flush().await;
    let stats = writer.stats();
    writer.shutdown().await?;
    super::remove_db(&path);
    let report = report?;

    let failures = waits.failures.load(Ordering::Relaxed) + u64::from(flushed.is_err());
    let deleted = report.workflows + report.events;
    let during_ms = waits.max_during_us.load(Ordering::Relaxed) as f64 / 1000.0;
    let before_ms = waits.max_before_us.load(Ordering::Relaxed) as f64 / 1000.0;
    // The writer's maximum covers the whole run, so it bounds both phases.
    let writer_max_ms = stats.producer_wait_us_max as f64 / 1000.0;
    let mut figure = Figure::new(
        "retention_max_wait",
        &format!(
            "longest producer wait while retention deletes {rows} expired rows under full ingest"
        ),
        during_ms,
        "ms",
        Some((before_ms, "same, before retention")),
        Goal::AtMost {
            max: GOAL_MAX_WAIT_MS,
        },
        json!({
            "expired_rows": rows,
            "deleted_rows": deleted,
            "retention": report,
            "retention_elapsed_s": retention_elapsed.as_secs_f64(),
            "deleted_rows_per_s": deleted as f64 / retention_elapsed.as_secs_f64().max(1e-9),
            "writer_producer_wait_ms_max": writer_max_ms,
            "writer_before": stats_before,
            "writer": stats,
            "records_sent": waits.sends.load(Ordering::Relaxed),
            "ingest_failures": failures,
        }),
    );
    // Ingest must never fail, and everything expired must be gone.
    if failures > 0 || deleted < rows as u64 {
        figure.met = Some(false);
    }
    Ok(vec![figure])
}
