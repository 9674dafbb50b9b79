//! `multiagents soak` (hidden): a steady load for crash tests.
//!
//! The crash tests (`tests/crash.rs`) run this as a child process and kill it
//! with SIGKILL at arbitrary moments. Whatever it printed before the kill is
//! what it promised was durable:
//!
//! - `--mode workflows` (default): small workflows (a few quick steps, some
//!   failing, some retried, some compensated) run through an orchestrator
//!   recording into `--db`. Each transaction id is printed on its own line
//!   the moment `wait()` reports it terminal.
//! - `--mode writer`: raw records straight through the writer; after each
//!   acknowledged `flush()` the number of records written so far is printed.
//!   Record `n` (from 0) is a system sample with `sampled_at_us = n`.
//!
//! `--with-retention` (workflow mode) keeps the writer busy with retention
//! too: it first writes workflows that ended two days ago, then repeatedly
//! deletes them (`older than 1h`) and writes more, so that a kill often lands
//! in the middle of a retention slice. Retention passes are reported on
//! stderr (`soak: retention started`, `soak: retention finished …`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use multiagents::clock;
use multiagents::orchestrator::Orchestrator;
use multiagents::store::{
    EventDispatched, EventFinished, EventOutcome, EventType, Record, RetentionCutoffs, RunInfo,
    Store, SystemSample, WorkflowChanged, WorkflowStarted, WorkflowState, Writer, WriterOptions,
};
use multiagents::window;
use multiagents::worker::{Context, WorkerError, WorkerRegistry};
use multiagents::workflow::{RetryPolicy, Step, WorkflowBuilder};
use serde_json::json;

use super::output;
use super::{Globals, Outcome};

/// What the soak drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Workflows through an orchestrator; prints transaction ids.
    Workflows,
    /// Raw records through the writer; prints acknowledged record counts.
    Writer,
}

/// Arguments of the hidden `multiagents soak`.
#[derive(Debug, Args)]
pub struct SoakArgs {
    /// What to drive.
    #[arg(long, value_enum, default_value_t = Mode::Workflows)]
    mode: Mode,
    /// How long to run before shutting down cleanly (e.g. 10s, 2m).
    /// Range: 1ms to 30d.
    #[arg(long, default_value = "10s", value_parser = window::parse_run_length)]
    duration: Duration,
    /// Workflows in flight at once (workflow mode). Range: 1 to 10000.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    concurrency: u32,
    /// Records written between two flushes (writer mode). Range: 1 to 1000000.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    batch: u32,
    /// Keep retention running on old rows generated for it (workflow mode).
    #[arg(long)]
    with_retention: bool,
}

/// Runs `multiagents soak`.
pub async fn run(globals: &Globals, args: SoakArgs) -> anyhow::Result<Outcome> {
    let run = RunInfo::from_env(globals.config.to_json().to_string());
    let (store, writer) = Store::open(&globals.db, &run, WriterOptions::default())?;
    let deadline = Instant::now() + args.duration;
    let result = match args.mode {
        Mode::Writer => soak_writer(&writer, deadline, args.batch).await,
        Mode::Workflows => {
            soak_workflows(
                store,
                &writer,
                deadline,
                args.concurrency,
                args.with_retention,
            )
            .await
        }
    };
    writer.shutdown().await?;
    result.map(|()| Outcome::Ok)
}

async fn soak_writer(writer: &Writer, deadline: Instant, batch: u32) -> anyhow::Result<()> {
    let mut written: i64 = 0;
    while Instant::now() < deadline {
        for _ in 0..batch {
            let sample = SystemSample {
                sampled_at_us: written,
                ..Default::default()
            };
            writer.record(Record::SystemSample(sample)).await?;
            written += 1;
        }
        writer.flush().await?;
        output::print(&written.to_string())?;
    }
    Ok(())
}

fn workers() -> WorkerRegistry {
    let mut workers = WorkerRegistry::new();
    workers.register("noop", |_ctx: Context| async { Ok(json!({})) });
    workers.register("nap", |_ctx: Context| async {
        tokio::time::sleep(Duration::from_micros(500)).await;
        Ok(json!({ "napped": true }))
    });
    // Fails every other call: retried steps mostly succeed on a later attempt.
    let calls = Arc::new(AtomicU64::new(0));
    workers.register("flaky", move |_ctx: Context| {
        let n = calls.fetch_add(1, Ordering::Relaxed);
        async move {
            if n.is_multiple_of(2) {
                Err(WorkerError::new("NetworkError: soak flake"))
            } else {
                Ok(json!({ "call": n }))
            }
        }
    });
    workers.register("broken", |_ctx: Context| async {
        Err(WorkerError::new("ServiceUnavailable: soak outage"))
    });
    workers.register("invalid", |_ctx: Context| async {
        Err(WorkerError::fatal("ValidationError: soak bad input"))
    });
    workers.register("undo", |_ctx: Context| async {
        Ok(json!({ "undone": true }))
    });
    workers
}

/// Workflow names in the order they are started, round robin.
const WORKFLOWS: [&str; 5] = [
    "soak_steps",
    "soak_parallel",
    "soak_retry",
    "soak_compensated",
    "soak_failed",
];

fn register_workflows(orchestrator: &Orchestrator) -> anyhow::Result<()> {
    let quick_retry = |attempts| {
        RetryPolicy::attempts(attempts).with_backoff(
            Duration::from_millis(1),
            2.0,
            Duration::from_millis(4),
        )
    };
    let definitions = [
        WorkflowBuilder::new("soak_steps")
            .step("first", "noop")
            .step("second", "nap")
            .step("third", "noop")
            .build()?,
        WorkflowBuilder::new("soak_parallel")
            .step("prepare", "noop")
            .parallel([
                Step::new("left", "nap"),
                Step::new("middle", "noop"),
                Step::new("right", "nap"),
            ])
            .step("combine", "noop")
            .build()?,
        WorkflowBuilder::new("soak_retry")
            .step("flaky", "flaky")
            .retry(quick_retry(4))
            .step("after", "noop")
            .build()?,
        WorkflowBuilder::new("soak_compensated")
            .step("reserve", "noop")
            .compensation("undo")
            .step("charge", "broken")
            .retry(quick_retry(2))
            .build()?,
        WorkflowBuilder::new("soak_failed")
            .step("validate", "invalid")
            .retry(quick_retry(3))
            .build()?,
    ];
    for workflow in definitions {
        orchestrator.register_workflow(workflow)?;
    }
    Ok(())
}

async fn soak_workflows(
    store: Store,
    writer: &Writer,
    deadline: Instant,
    concurrency: u32,
    with_retention: bool,
) -> anyhow::Result<()> {
    let retention = if with_retention {
        // Old rows first, so the very first pass has work to do.
        write_old_workflows(writer, 5_000).await?;
        Some(tokio::spawn(keep_retention_busy(writer.clone(), deadline)))
    } else {
        None
    };
    let orchestrator = Orchestrator::with_store(workers(), store, writer.clone());
    register_workflows(&orchestrator)?;
    let started = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for _ in 0..concurrency {
        let orchestrator = orchestrator.clone();
        let started = Arc::clone(&started);
        clients.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let n = started.fetch_add(1, Ordering::Relaxed) as usize;
                let name = WORKFLOWS[n % WORKFLOWS.len()];
                let id = orchestrator
                    .execute_workflow(name, json!({ "n": n }))
                    .await?;
                let status = orchestrator.wait(&id).await?;
                anyhow::ensure!(
                    status.state.is_terminal(),
                    "wait() returned {id} in state {}",
                    status.state
                );
                if let Some(error) = &status.error {
                    anyhow::ensure!(
                        !error.contains("recording failed"),
                        "{id} was not recorded: {error}"
                    );
                }
                output::print(&id)?;
            }
            anyhow::Ok(())
        }));
    }
    for client in clients {
        client.await.context("a soak client panicked")??;
    }
    if let Some(retention) = retention {
        retention.await.context("the retention task panicked")??;
    }
    Ok(())
}

/// Writes, deletes and rewrites old workflows until the deadline.
async fn keep_retention_busy(writer: Writer, deadline: Instant) -> anyhow::Result<()> {
    let mut passes = 0u64;
    while Instant::now() < deadline {
        eprintln!("soak: retention started");
        let cutoffs = RetentionCutoffs::older_than(Duration::from_secs(3600), clock::now_us());
        let report = writer.run_retention(cutoffs).await?;
        passes += 1;
        eprintln!(
            "soak: retention finished pass={passes} workflows={} events={} slices={}",
            report.workflows, report.events, report.slices
        );
        write_old_workflows(&writer, 5_000).await?;
    }
    Ok(())
}

/// Records `count` three-step workflows that ended two days ago.
async fn write_old_workflows(writer: &Writer, count: usize) -> anyhow::Result<()> {
    let name: Arc<str> = Arc::from("soak_old");
    let worker: Arc<str> = Arc::from("noop");
    let t0 = clock::now_us() - 2 * 24 * 3600 * 1_000_000;
    for i in 0..count {
        let id = writer.next_id();
        let at = t0 + i as i64 * 100;
        writer
            .record(Record::WorkflowStarted(WorkflowStarted {
                id,
                transaction_id: Arc::from(format!("old-{id:x}")),
                workflow_name: Arc::clone(&name),
                created_at_us: at,
                started_at_us: at,
                input_size_bytes: 2,
            }))
            .await?;
        for step in ["a", "b", "c"] {
            let event = writer.next_id();
            writer
                .record(Record::EventDispatched(EventDispatched {
                    id: event,
                    workflow_id: id,
                    event_type: EventType::Command,
                    step: Arc::from(step),
                    worker: Arc::clone(&worker),
                    attempt: 1,
                    dispatched_at_us: at,
                    payload_size_bytes: 2,
                }))
                .await?;
            writer
                .record(Record::EventFinished(EventFinished {
                    id: event,
                    outcome: EventOutcome::Completed,
                    picked_up_at_us: Some(at + 1),
                    processing_at_us: Some(at + 2),
                    finished_at_us: at + 3,
                    duration_us: 1,
                    result_size_bytes: Some(2),
                    error_type: None,
                    error_message: None,
                    worker: Arc::clone(&worker),
                    event_type: EventType::Command,
                    dispatched_at_us: at,
                    payload_size_bytes: 2,
                    host: None,
                }))
                .await?;
        }
        writer
            .record(Record::WorkflowChanged(WorkflowChanged {
                id,
                state: WorkflowState::Completed,
                at_us: at + 10,
                current_step: None,
                error: None,
                workflow_name: Arc::clone(&name),
                created_at_us: at,
            }))
            .await?;
    }
    writer.flush().await?;
    Ok(())
}
