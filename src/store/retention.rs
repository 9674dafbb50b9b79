//! Retention: deleting rows older than the configured horizons, in bounded
//! slices that the writer thread interleaves with its insert batches.
//!
//! DESIGN.md measured one big `DELETE` of 0.5 M rows blocking other writers
//! for 3.6 s. Here the single writer deletes a slice, goes back to its queue,
//! and comes back for the next slice, so producers never wait for more than
//! one slice.

use std::collections::HashMap;

use rusqlite::{Connection, named_params};

use crate::schedule::{self, Next, Schedule};

/// How far back each kind of row is kept. `None` keeps that kind forever.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RetentionCutoffs {
    /// Workflows (and their events) that ended before this are deleted
    /// (`event_monitoring.trace_retention_hours`).
    pub traces_before_us: Option<i64>,
    /// System samples, custom metrics and resolved alerts recorded before
    /// this are deleted (`metrics_collection.retention_hours`).
    pub metrics_before_us: Option<i64>,
    /// Per-minute rollups older than this are deleted. They are tiny and
    /// answer long-range questions after the raw rows are gone, so they are
    /// kept far longer.
    pub rollups_before_us: Option<i64>,
}

/// Workflows selected (and deleted with their events) at a time within a
/// slice; between chunks the slice checks its row and time budgets.
const WORKFLOW_CHUNK: i64 = 100;

/// Rows deleted per table by one retention run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RetentionReport {
    /// `workflows` rows deleted.
    pub workflows: u64,
    /// `events` rows deleted.
    pub events: u64,
    /// `system_samples` rows deleted.
    pub system_samples: u64,
    /// `custom_metrics` rows deleted.
    pub custom_metrics: u64,
    /// `alerts` rows deleted.
    pub alerts: u64,
    /// Rollup rows deleted (all rollup tables).
    pub rollups: u64,
    /// Slices (transactions) it took.
    pub slices: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Workflows,
    Abandoned,
    Samples,
    Metrics,
    Alerts,
    Rollups,
    Done,
}

/// A retention run in progress on the writer thread.
#[derive(Debug)]
pub(crate) struct RetentionRun {
    cutoffs: RetentionCutoffs,
    phase: Phase,
    report: RetentionReport,
}

impl RetentionRun {
    pub(crate) fn new(cutoffs: RetentionCutoffs) -> Self {
        RetentionRun {
            cutoffs,
            phase: Phase::Workflows,
            report: RetentionReport::default(),
        }
    }

    pub(crate) fn into_report(self) -> RetentionReport {
        self.report
    }

    /// Deletes at most about `slice` rows in one transaction, and stops
    /// early once `budget` has passed (checked between chunks of
    /// [`WORKFLOW_CHUNK`] workflows). Returns true when nothing is left to
    /// delete.
    ///
    /// A workflow costs its own row plus one per event, so a slice of
    /// workflows is counted in rows, not workflows: a slice of "2,000" used
    /// to delete ~8,000 rows and took longer than a producer should wait.
    pub(crate) fn step(
        &mut self,
        conn: &mut Connection,
        slice: usize,
        budget: std::time::Duration,
    ) -> Result<bool, rusqlite::Error> {
        let started = std::time::Instant::now();
        let slice = slice.max(1) as i64;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut exhausted = false;
        // What this slice deleted, per run and kind: committed with it.
        let mut watermarks = Watermarks::default();
        let deleted = match self.phase {
            Phase::Workflows | Phase::Abandoned => match self.cutoffs.traces_before_us {
                Some(cutoff) => {
                    let mut rows = 0i64;
                    loop {
                        let ids: Vec<i64> = if self.phase == Phase::Workflows {
                            let mut select =
                                tx.prepare_cached(crate::sql::retention::EXPIRED_WORKFLOWS)?;
                            select
                                .query_map(
                                    named_params! {":cutoff_us": cutoff, ":limit": WORKFLOW_CHUNK},
                                    |r| r.get(0),
                                )?
                                .collect::<Result<_, _>>()?
                        } else {
                            let mut select =
                                tx.prepare_cached(crate::sql::retention::ABANDONED_WORKFLOWS)?;
                            select
                                .query_map(
                                    named_params! {":cutoff_us": cutoff, ":limit": WORKFLOW_CHUNK},
                                    |r| r.get(0),
                                )?
                                .collect::<Result<_, _>>()?
                        };
                        let mut delete_events =
                            tx.prepare_cached(crate::sql::retention::DELETE_WORKFLOW_EVENTS)?;
                        let mut delete_workflow =
                            tx.prepare_cached(crate::sql::retention::DELETE_WORKFLOW)?;
                        for id in &ids {
                            let event_times: Vec<i64> = delete_events
                                .query_map(named_params! {":workflow_id": id}, |r| r.get(0))?
                                .collect::<Result<_, _>>()?;
                            let deleted: Vec<(i64, i64)> = delete_workflow
                                .query_map(named_params! {":workflow_id": id}, |r| {
                                    Ok((r.get(0)?, r.get(1)?))
                                })?
                                .collect::<Result<_, _>>()?;
                            for &(run_id, at) in &deleted {
                                let latest = event_times.iter().copied().fold(at, i64::max);
                                watermarks.raise(run_id, "traces", latest);
                            }
                            let (events, workflows) = (event_times.len(), deleted.len());
                            self.report.events += events as u64;
                            self.report.workflows += workflows as u64;
                            rows += (events + workflows) as i64;
                        }
                        if (ids.len() as i64) < WORKFLOW_CHUNK {
                            exhausted = true;
                            break;
                        }
                        if rows >= slice || started.elapsed() >= budget {
                            break;
                        }
                    }
                    rows as usize
                }
                None => {
                    exhausted = true;
                    0
                }
            },
            Phase::Samples => self.delete_metrics_slice(
                &tx,
                crate::sql::retention::DELETE_SYSTEM_SAMPLES,
                slice,
                &mut watermarks,
            )?,
            Phase::Metrics => self.delete_metrics_slice(
                &tx,
                crate::sql::retention::DELETE_CUSTOM_METRICS,
                slice,
                &mut watermarks,
            )?,
            Phase::Alerts => self.delete_metrics_slice(
                &tx,
                crate::sql::retention::DELETE_ALERTS,
                slice,
                &mut watermarks,
            )?,
            Phase::Rollups => {
                if let Some(cutoff) = self.cutoffs.rollups_before_us {
                    for sql in [
                        crate::sql::retention::DELETE_WORKER_ROLLUPS,
                        crate::sql::retention::DELETE_WORKER_HISTOGRAM,
                        crate::sql::retention::DELETE_WORKFLOW_ROLLUPS,
                        crate::sql::retention::DELETE_LATENCY_HISTOGRAM,
                        crate::sql::retention::DELETE_WORKER_MINUTE_SKETCH,
                        crate::sql::retention::DELETE_WORKER_HOUR_SKETCH,
                        crate::sql::retention::DELETE_ERROR_ROLLUPS,
                        crate::sql::retention::DELETE_WORKER_HOUR_ROLLUPS,
                        crate::sql::retention::DELETE_WORKER_HOUR_HISTOGRAM,
                        crate::sql::retention::DELETE_ERROR_HOUR_ROLLUPS,
                    ] {
                        let deleted = delete_returning(
                            &tx,
                            sql,
                            named_params! {":cutoff_us": cutoff},
                            "rollups",
                            &mut watermarks,
                        )?;
                        self.report.rollups += deleted as u64;
                    }
                }
                0
            }
            Phase::Done => 0,
        };
        watermarks.write(&tx)?;
        tx.commit()?;
        self.report.slices += 1;
        // A phase is over when a slice found less than it could take (the
        // workflow phases say so themselves: they may stop early on time).
        if exhausted
            || (!matches!(self.phase, Phase::Workflows | Phase::Abandoned)
                && (deleted as i64) < slice)
        {
            self.phase = match self.phase {
                Phase::Workflows => Phase::Abandoned,
                Phase::Abandoned => Phase::Samples,
                Phase::Samples => Phase::Metrics,
                Phase::Metrics => Phase::Alerts,
                Phase::Alerts => Phase::Rollups,
                Phase::Rollups | Phase::Done => Phase::Done,
            };
        }
        Ok(self.phase == Phase::Done)
    }

    fn delete_metrics_slice(
        &mut self,
        tx: &rusqlite::Transaction<'_>,
        sql: &str,
        slice: i64,
        watermarks: &mut Watermarks,
    ) -> Result<usize, rusqlite::Error> {
        let Some(cutoff) = self.cutoffs.metrics_before_us else {
            return Ok(0);
        };
        let n = delete_returning(
            tx,
            sql,
            named_params! {":cutoff_us": cutoff, ":limit": slice},
            "metrics",
            watermarks,
        )?;
        match self.phase {
            Phase::Samples => self.report.system_samples += n as u64,
            Phase::Metrics => self.report.custom_metrics += n as u64,
            _ => self.report.alerts += n as u64,
        }
        Ok(n)
    }
}

/// The latest time of what a slice deleted, per run and kind of row
/// (`traces`, `metrics`, `rollups`): written to `retention_watermarks` with
/// the slice, so that a reader can tell which part of a window lost its raw
/// rows (and answer it from the rollups) and never reads a silent zero.
#[derive(Debug, Default)]
struct Watermarks {
    latest: HashMap<(i64, &'static str), i64>,
}

impl Watermarks {
    fn raise(&mut self, run_id: i64, kind: &'static str, at_us: i64) {
        let slot = self.latest.entry((run_id, kind)).or_insert(at_us);
        *slot = (*slot).max(at_us);
    }

    /// Raises each run's watermark to one past the latest deleted time.
    fn write(&self, tx: &rusqlite::Transaction<'_>) -> Result<(), rusqlite::Error> {
        if self.latest.is_empty() {
            return Ok(());
        }
        let mut raise = tx.prepare_cached(crate::sql::retention::RAISE_WATERMARK)?;
        for (&(run_id, kind), &at_us) in &self.latest {
            raise.execute(named_params! {
                ":run_id": run_id,
                ":kind": kind,
                ":deleted_before_us": at_us.saturating_add(1),
            })?;
        }
        Ok(())
    }
}

/// Runs a `DELETE … RETURNING run_id, time` and notes each deleted row's run
/// and time under `kind`; returns how many rows it deleted.
fn delete_returning(
    tx: &rusqlite::Transaction<'_>,
    sql: &str,
    params: impl rusqlite::Params,
    kind: &'static str,
    watermarks: &mut Watermarks,
) -> Result<usize, rusqlite::Error> {
    let mut stmt = tx.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut n = 0;
    while let Some(row) = rows.next()? {
        // Rollups from before version 4 may belong to no run (0).
        watermarks.raise(row.get(0)?, kind, row.get(1)?);
        n += 1;
    }
    Ok(n)
}

/// How long per-minute rollups are kept: far longer than raw rows, because
/// they are what long-range questions are answered from after retention.
pub const ROLLUP_RETENTION: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

fn before(now_us: i64, age: std::time::Duration) -> Option<i64> {
    let age_us = i64::try_from(age.as_micros()).ok()?;
    Some(now_us.saturating_sub(age_us))
}

impl RetentionCutoffs {
    /// The cutoffs the configuration asks for at `now_us`:
    /// `event_monitoring.trace_retention_hours` for workflows and events,
    /// `metrics_collection.retention_hours` for samples, metrics and alerts,
    /// and [`ROLLUP_RETENTION`] for rollups.
    pub fn from_config(config: &crate::config::MonitoringConfig, now_us: i64) -> Self {
        RetentionCutoffs {
            traces_before_us: before(now_us, config.trace_retention()),
            metrics_before_us: before(now_us, config.metrics_retention()),
            rollups_before_us: before(now_us, ROLLUP_RETENTION),
        }
    }

    /// Everything older than `age` except rollups, which keep their own
    /// horizon (`multiagents cleanup --older-than`).
    pub fn older_than(age: std::time::Duration, now_us: i64) -> Self {
        RetentionCutoffs {
            traces_before_us: before(now_us, age),
            metrics_before_us: before(now_us, age),
            rollups_before_us: before(now_us, ROLLUP_RETENTION.max(age)),
        }
    }
}

/// One round of the retention job at `now_us`: deletes what the
/// configuration's horizons ([`RetentionCutoffs::from_config`]) put before
/// that time, in slices on the writer's thread, and reports what went.
/// Tests call it with a chosen time instead of waiting for rows to age.
pub async fn tick(
    writer: &super::Writer,
    config: &crate::config::MonitoringConfig,
    now_us: i64,
) -> Result<RetentionReport, super::StoreError> {
    writer
        .run_retention(RetentionCutoffs::from_config(config, now_us))
        .await
}

/// [`tick`] as a scheduled job runs it: logs what each round removed; a
/// failure ends the job ([`Next::Stop`]), quietly when the writer failed
/// (that is reported once, by whoever watches it: `Writer::failed`).
pub async fn scheduled_tick(
    writer: &super::Writer,
    config: &crate::config::MonitoringConfig,
    now_us: i64,
) -> Next {
    match tick(writer, config, now_us).await {
        Ok(report) => {
            tracing::info!(
                workflows = report.workflows,
                events = report.events,
                system_samples = report.system_samples,
                custom_metrics = report.custom_metrics,
                alerts = report.alerts,
                rollups = report.rollups,
                "retention removed old rows"
            );
            Next::Again
        }
        Err(e) => {
            if writer.failure().is_none() {
                tracing::warn!(error = %e, "retention stopped");
            }
            Next::Stop
        }
    }
}

/// Runs retention every `event_monitoring.cleanup_interval_minutes`, the
/// first round at once (old rows from earlier runs go early), until `stop`
/// turns true. A session runs the same tick on its one schedule of
/// background jobs.
pub fn spawn_retention_job(
    writer: super::Writer,
    config: crate::config::MonitoringConfig,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let jobs = Schedule::new().every((), config.cleanup_interval(), crate::clock::now_us());
    schedule::spawn(jobs, stop, move |(), now_us| {
        let (writer, config) = (writer.clone(), config.clone());
        async move { scheduled_tick(&writer, &config, now_us).await }
    })
}
