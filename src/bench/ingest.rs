//! Writer ingest: rows per second committed by our writer from several
//! producer tasks, against a plain rusqlite loop inserting the same rows in
//! batches of 1,000 into tables without secondary indexes (a separate file,
//! WAL, synchronous=NORMAL): the best SQLite does here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};
use serde_json::json;

use super::workload::{cpu_seconds, open_store};
use super::{BenchOptions, BenchResult, Figure, Goal, Progress, per_s};
use crate::clock;
use crate::store::{
    EventDispatched, EventFinished, EventOutcome, EventType, Record, WorkflowChanged,
    WorkflowStarted, WorkflowState, Writer,
};

/// Rows per workflow: its own and one per step.
pub(super) const STEPS: usize = 3;
pub(super) const ROWS_PER_WORKFLOW: usize = 1 + STEPS;

/// Names shared by every record, as the orchestrator shares them.
#[derive(Clone)]
pub(super) struct Names {
    workflow: Arc<str>,
    worker: Arc<str>,
    steps: [Arc<str>; STEPS],
}

impl Names {
    pub(super) fn new() -> Self {
        Names {
            workflow: Arc::from("ingest"),
            worker: Arc::from("ingest_worker"),
            steps: [Arc::from("a"), Arc::from("b"), Arc::from("c")],
        }
    }
}

/// The records of one completed 3-step workflow starting at `t0`.
pub(super) fn workflow_records(writer: &Writer, names: &Names, t0: i64) -> Vec<Record> {
    let id = writer.next_id();
    let mut records = Vec::with_capacity(2 + 2 * STEPS);
    records.push(Record::WorkflowStarted(WorkflowStarted {
        id,
        transaction_id: Arc::from(format!("{:032x}", id)),
        workflow_name: Arc::clone(&names.workflow),
        created_at_us: t0,
        started_at_us: t0,
        input_size_bytes: 17,
    }));
    for (s, step) in names.steps.iter().enumerate() {
        let eid = writer.next_id();
        let at = t0 + s as i64 * 10;
        records.push(Record::EventDispatched(EventDispatched {
            id: eid,
            workflow_id: id,
            event_type: EventType::Command,
            step: Arc::clone(step),
            worker: Arc::clone(&names.worker),
            attempt: 1,
            dispatched_at_us: at,
            payload_size_bytes: 17,
        }));
        records.push(Record::EventFinished(EventFinished {
            id: eid,
            outcome: EventOutcome::Completed,
            picked_up_at_us: Some(at + 1),
            processing_at_us: Some(at + 2),
            finished_at_us: at + 5,
            duration_us: 3,
            result_size_bytes: Some(2),
            error_type: None,
            error_message: None,
            worker: Arc::clone(&names.worker),
            event_type: EventType::Command,
            dispatched_at_us: at,
            payload_size_bytes: 17,
            host: None,
        }));
    }
    records.push(Record::WorkflowChanged(WorkflowChanged {
        id,
        state: WorkflowState::Completed,
        at_us: t0 + STEPS as i64 * 10,
        current_step: Some(Arc::clone(&names.steps[STEPS - 1])),
        error: None,
        workflow_name: Arc::clone(&names.workflow),
        created_at_us: t0,
    }));
    records
}

/// Sends `workflows` workflows' records from `producers` tasks and waits
/// until all are committed.
async fn through_writer(
    writer: &Writer,
    workflows: usize,
    producers: usize,
) -> BenchResult<Duration> {
    let names = Names::new();
    let producers = producers.max(1);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..producers {
        let share = workflows / producers + usize::from(p < workflows % producers);
        let writer = writer.clone();
        let names = names.clone();
        tasks.push(tokio::spawn(async move {
            let t0 = clock::now_us();
            for i in 0..share {
                for record in workflow_records(&writer, &names, t0 + i as i64 * 50) {
                    writer.record(record).await?;
                }
            }
            Ok::<(), anyhow::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    writer.flush().await?;
    Ok(started.elapsed())
}

/// The reference: the same columns, no secondary index, batches of 1,000
/// rows, one connection, nothing else.
fn plain_loop(path: &std::path::Path, workflows: usize) -> BenchResult<(Duration, f64)> {
    super::remove_db(path);
    let mut conn = Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE TABLE workflows (id INTEGER PRIMARY KEY, transaction_id TEXT NOT NULL,
             run_id INTEGER NOT NULL, workflow_name TEXT NOT NULL, state TEXT NOT NULL,
             current_step TEXT, created_at_us INTEGER NOT NULL, started_at_us INTEGER,
             compensating_at_us INTEGER, ended_at_us INTEGER, input_size_bytes INTEGER NOT NULL,
             error TEXT) STRICT;
         CREATE TABLE events (id INTEGER PRIMARY KEY, workflow_id INTEGER NOT NULL,
             event_type TEXT NOT NULL, step TEXT NOT NULL, worker_id INTEGER NOT NULL,
             attempt INTEGER NOT NULL, status TEXT NOT NULL, dispatched_at_us INTEGER NOT NULL,
             picked_up_at_us INTEGER, processing_at_us INTEGER, finished_at_us INTEGER,
             duration_us INTEGER, payload_size_bytes INTEGER NOT NULL, result_size_bytes INTEGER,
             error_type TEXT, error_message TEXT) STRICT;",
    )?;
    const BATCH_ROWS: usize = 1_000;
    let steps = ["a", "b", "c"];
    let started = Instant::now();
    let cpu_before = thread_cpu_seconds();
    let t0 = clock::now_us();
    let base: i64 = 1 << 40;
    let mut next_id = base;
    let mut done = 0;
    while done < workflows {
        let n = (BATCH_ROWS / ROWS_PER_WORKFLOW).min(workflows - done);
        let tx = conn.transaction()?;
        {
            let mut wf = tx.prepare_cached(
                "INSERT INTO workflows VALUES (?1, ?2, 1, 'ingest', 'completed', 'c', ?3, ?3, NULL, ?4, 17, NULL)",
            )?;
            let mut ev = tx.prepare_cached(
                "INSERT INTO events VALUES (?1, ?2, 'command', ?3, 1, 1, 'completed', ?4, ?5, ?6, ?7, 3, 17, 2, NULL, NULL)",
            )?;
            for i in done..done + n {
                next_id += 1;
                let id = next_id;
                let t = t0 + i as i64 * 50;
                wf.execute(params![id, format!("{:032x}", id), t, t + 30])?;
                for (s, step) in steps.iter().enumerate() {
                    next_id += 1;
                    let at = t + s as i64 * 10;
                    ev.execute(params![next_id, id, step, at, at + 1, at + 2, at + 5])?;
                }
            }
        }
        tx.commit()?;
        done += n;
    }
    let elapsed = started.elapsed();
    let cpu = thread_cpu_seconds() - cpu_before;
    drop(conn);
    super::remove_db(path);
    Ok((elapsed, cpu))
}

pub(super) async fn measure(
    options: &BenchOptions,
    progress: Progress<'_>,
) -> BenchResult<Vec<Figure>> {
    let workflows = (options.ingest_rows / ROWS_PER_WORKFLOW).max(1);
    let rows = workflows * ROWS_PER_WORKFLOW;
    progress(&format!("  {rows} rows, plain rusqlite loop"));
    let plain_path = options.db_path("ingest-plain");
    let (plain, plain_cpu) =
        tokio::task::spawn_blocking(move || plain_loop(&plain_path, workflows)).await??;
    progress(&format!(
        "  {rows} rows through the writer from {} producers",
        options.producers
    ));
    let path = options.db_path("ingest");
    let (_store, writer) = open_store(&path)?;
    let writer_cpu_before = cpu_seconds(Some("multiagents-wri"));
    let ours = through_writer(&writer, workflows, options.producers).await?;
    let writer_cpu = cpu_seconds(Some("multiagents-wri")) - writer_cpu_before;
    let stats = writer.stats();
    writer.shutdown().await?;
    super::remove_db(&path);
    let ours_rate = per_s(rows, ours);
    let plain_rate = per_s(rows, plain);
    Ok(vec![Figure::new(
        "writer_ingest",
        "rows/s committed by the writer (4 rows per workflow record set) vs plain rusqlite batches of 1,000, no indexes",
        ours_rate,
        "rows/s",
        Some((plain_rate, "plain rusqlite loop")),
        Goal::RatioAtLeast { min: 0.4 },
        json!({
            "rows": rows,
            "producers": options.producers,
            "writer_elapsed_s": ours.as_secs_f64(),
            "plain_elapsed_s": plain.as_secs_f64(),
            "writer": stats,
            "writer_thread_cpu_s": writer_cpu,
            "plain_thread_cpu_s": plain_cpu,
            "cpu_ratio_plain_over_writer": plain_cpu / writer_cpu.max(1e-9),
        }),
    )])
}

/// CPU time of the calling thread, seconds (Linux; 0 elsewhere).
fn thread_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/stat")
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .map_or(0.0, |t| t as f64 / 100.0)
}
