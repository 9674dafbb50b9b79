//! The writer thread: receives commands, commits batches (retrying while
//! another process holds the lock), runs retention in slices between
//! batches, beats the run's heartbeat and, at shutdown, closes the run and
//! the write-ahead log.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot, watch};

use super::batch::Batch;
use super::sketch::SketchState;
use super::statements::write_batch;
use super::{Ack, Command, WriterOptions, WriterStats};
use crate::clock;
use crate::store::checkpoint::{self, Checkpointer};
use crate::store::lifecycle::{self, HEARTBEAT_INTERVAL, RunEnd};
use crate::store::retention::{RetentionReport, RetentionRun};
use crate::store::{StoreError, file};

/// The state of the writer thread; it owns the write connection.
pub(super) struct WriterThread {
    conn: Connection,
    path: PathBuf,
    run_id: i64,
    options: WriterOptions,
    stats: Arc<WriterStats>,
    failure: Arc<watch::Sender<Option<String>>>,
    checkpointer: Checkpointer,
    workers: HashMap<Arc<str>, i64>,
    /// `hosts.id` by name, as `workers`.
    hosts: HashMap<Arc<str>, i64>,
    last_heartbeat: Instant,
    sketch: SketchState,
}

/// What the thread shares with its [`super::Writer`] handles: counters, the
/// failure it reports, and the checkpointer it stops at shutdown.
pub(super) struct Shared {
    pub(super) stats: Arc<WriterStats>,
    pub(super) failure: Arc<watch::Sender<Option<String>>>,
    pub(super) checkpointer: Checkpointer,
}

impl WriterThread {
    /// The thread's state on a connection already set up by
    /// [`writer_pragmas`]; [`WriterThread::run`] then runs it.
    pub(super) fn new(
        conn: Connection,
        path: PathBuf,
        run_id: i64,
        options: WriterOptions,
        shared: Shared,
        sketch: SketchState,
    ) -> Self {
        let Shared {
            stats,
            failure,
            checkpointer,
        } = shared;
        WriterThread {
            conn,
            path,
            run_id,
            options,
            stats,
            failure,
            checkpointer,
            workers: HashMap::new(),
            hosts: HashMap::new(),
            last_heartbeat: Instant::now(),
            sketch,
        }
    }
}

/// Wakes the writer every [`HEARTBEAT_INTERVAL`] so that an idle run still
/// shows it is alive. It holds only a weak sender: once every [`super::Writer`]
/// handle is gone the channel closes as before and this thread ends.
pub(super) fn spawn_heartbeat(tx: mpsc::WeakSender<Command>) {
    let spawned = std::thread::Builder::new()
        .name("multiagents-heartbeat".into())
        .spawn(move || {
            loop {
                std::thread::sleep(HEARTBEAT_INTERVAL);
                let Some(tx) = tx.upgrade() else { return };
                // A full queue means the writer is busy and beats on its own.
                if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(Command::Heartbeat) {
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        // Only runs from another host depend on the heartbeat.
        tracing::warn!(error = %e, "cannot start the heartbeat thread");
    }
}

/// Environment variable: the most pages the database may hold
/// (`PRAGMA max_page_count`). A testing aid that makes a full disk without
/// filling one: writes beyond it fail as they would on a full disk.
pub const MAX_PAGE_COUNT_ENV: &str = "MULTIAGENTS_MAX_PAGE_COUNT";

/// Settings of the write connection: `synchronous = NORMAL` (WAL survives a
/// process crash with it), no foreign-key checks (see below), no automatic checkpoint (the checkpointer thread
/// does it off the writer's path), a bound on the WAL file kept after a
/// restart, and [`MAX_PAGE_COUNT_ENV`] when set.
pub(super) fn writer_pragmas(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0;")?;
    // The writer makes every reference hold by construction (a batch
    // inserts workflows before their events, worker ids come from
    // `workers`, retention deletes children first), so checking each one
    // costs a b-tree seek per row for nothing; and a failed check would
    // fail the whole batch, losing every record in it for one bad row.
    conn.execute_batch("PRAGMA foreign_keys = OFF;")?;
    conn.pragma_update(
        None,
        "journal_size_limit",
        checkpoint::JOURNAL_SIZE_LIMIT_BYTES,
    )?;
    if let Some(value) = std::env::var_os(MAX_PAGE_COUNT_ENV) {
        let pages = value
            .to_str()
            .and_then(|v| v.trim().parse::<u32>().ok())
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                StoreError::WriterStopped(format!(
                    "{MAX_PAGE_COUNT_ENV}={} is not a positive whole number of pages",
                    value.to_string_lossy()
                ))
            })?;
        conn.pragma_update(None, "max_page_count", pages)?;
    }
    Ok(())
}

/// The one message a writer failure is reported with.
fn describe_failure(path: &Path, e: &rusqlite::Error) -> String {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => {
            format!("disk full writing {}: {e}", path.display())
        }
        _ => format!("writing {} failed: {e}", path.display()),
    }
}

impl WriterThread {
    /// Runs until shutdown, a failure, or every handle is gone.
    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut retention: Option<(
            RetentionRun,
            oneshot::Sender<Result<RetentionReport, String>>,
        )> = None;
        let max = self.options.max_batch.max(1);
        let mut commands: Vec<Command> = Vec::with_capacity(max);
        let mut batch = Batch::new(self.sketch.buckets());
        let mut acks: Vec<Ack> = Vec::new();
        loop {
            // Receive in bulk: one semaphore update for the whole batch
            // instead of one per record.
            commands.clear();
            if retention.is_some() {
                match rx.try_recv() {
                    Ok(command) => commands.push(command),
                    Err(mpsc::error::TryRecvError::Empty) => {
                        self.retention_slice(&mut retention);
                        continue;
                    }
                    // Every handle is gone without a shutdown: commit nothing more.
                    Err(mpsc::error::TryRecvError::Disconnected) => return,
                }
                let max = self.options.retention_max_batch.clamp(1, max);
                while commands.len() < max {
                    match rx.try_recv() {
                        Ok(command) => commands.push(command),
                        Err(_) => break,
                    }
                }
            } else if rx.blocking_recv_many(&mut commands, max) == 0 {
                return;
            }
            batch.clear();
            acks.clear();
            let mut shutdown: Option<(Ack, RunEnd)> = None;
            for command in commands.drain(..) {
                match command {
                    Command::Record(record) => batch.add(record),
                    Command::RecordAndFlush(record, ack) => {
                        batch.add(record);
                        acks.push(ack);
                    }
                    Command::Flush(ack) => acks.push(ack),
                    Command::Retention(cutoffs, reply) => {
                        if let Some((_, earlier)) = retention.take() {
                            let _ =
                                earlier.send(Err("superseded by a newer retention request".into()));
                        }
                        retention = Some((RetentionRun::new(cutoffs), reply));
                    }
                    Command::Shutdown(ack, end) => {
                        shutdown = Some((ack, end));
                        break;
                    }
                    Command::Heartbeat => {}
                }
            }
            let outcome = if batch.is_empty() {
                Ok(())
            } else {
                self.commit_with_retries(&batch)
            };
            if let Err(reason) = &outcome {
                // Reported once, by whoever waits on `Writer::failed` or gets
                // the error back; a log line here would say it twice.
                tracing::debug!(error = %reason, "database writer failed; stopping");
                self.failure.send_replace(Some(reason.clone()));
                for ack in acks.drain(..) {
                    let _ = ack.send(Err(reason.clone()));
                }
                if let Some((ack, _)) = shutdown {
                    let _ = ack.send(Err(reason.clone()));
                }
                if let Some((_, reply)) = retention.take() {
                    let _ = reply.send(Err(reason.clone()));
                }
                rx.close();
                return;
            }
            for ack in acks.drain(..) {
                let _ = ack.send(Ok(()));
            }
            if let Some((ack, end)) = shutdown {
                if let Some((_, reply)) = retention.take() {
                    let _ = reply.send(Err("the writer shut down".into()));
                }
                let ended = self.end_run(&end);
                self.close_wal();
                let _ = ack.send(ended);
                rx.close();
                return;
            }
            if self.last_heartbeat.elapsed() >= HEARTBEAT_INTERVAL {
                self.heartbeat();
            }
            if retention.is_some() {
                self.retention_slice(&mut retention);
            }
        }
    }

    fn heartbeat(&mut self) {
        self.last_heartbeat = Instant::now();
        match lifecycle::heartbeat(&self.conn, self.run_id, clock::now_us()) {
            Ok(true) => {}
            Ok(false) => tracing::error!(
                run_id = self.run_id,
                "this run was closed by another process that judged it dead"
            ),
            // Busy past the timeout: the next beat tries again.
            Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
        }
    }

    /// Closes the run in one transaction (retried like a batch: another
    /// process may hold the lock).
    fn end_run(&mut self, end: &RunEnd) -> Result<(), String> {
        let mut attempt = 0;
        loop {
            let result = (|| {
                let tx = self
                    .conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                // The minutes held in memory go to the file as they are
                // (closing would otherwise rebuild them from the raw rows,
                // as it does for a run whose process died).
                let workers = &mut self.workers;
                self.sketch.write_all(&tx, self.run_id, &mut |name| {
                    super::statements::worker_id(&tx, workers, name)
                })?;
                lifecycle::close_run(&tx, self.run_id, end, clock::now_us())?;
                tx.commit()
            })();
            match result {
                Ok(()) => return Ok(()),
                Err(e) if attempt < 5 => {
                    tracing::warn!(error = %e, attempt, "closing the run failed; retrying");
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(10 << attempt));
                }
                Err(e) => return Err(format!("closing run {}: {e}", self.run_id)),
            }
        }
    }

    /// Leaves the database file complete on its own: stops the
    /// checkpointer, then copies the whole WAL back and truncates it,
    /// waiting (up to the busy timeout) for readers still in it. A copy of
    /// the `.db` alone then holds the whole run.
    fn close_wal(&mut self) {
        self.checkpointer.stop();
        let truncated = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            });
        match truncated {
            Ok(0) => {}
            Ok(_) => tracing::warn!(
                db = %self.path.display(),
                "readers kept the write-ahead log in use; the database file alone is not complete until it is checkpointed (keep its -wal with it, or copy it with `multiagents snapshot`)"
            ),
            Err(e) => tracing::warn!(error = %e, "final checkpoint failed"),
        }
    }

    fn retention_slice(
        &mut self,
        retention: &mut Option<(
            RetentionRun,
            oneshot::Sender<Result<RetentionReport, String>>,
        )>,
    ) {
        let Some((run, _)) = retention.as_mut() else {
            return;
        };
        let started = Instant::now();
        let step = run.step(
            &mut self.conn,
            self.options.retention_slice,
            self.options.retention_slice_time,
        );
        self.add_busy(started);
        match step {
            Ok(false) => {}
            Ok(true) => {
                if let Some((run, reply)) = retention.take() {
                    let report = run.into_report();
                    tracing::info!(?report, "retention finished");
                    let _ = reply.send(Ok(report));
                }
            }
            Err(e) => {
                if let Some((_, reply)) = retention.take() {
                    tracing::warn!(error = %e, "retention failed");
                    let _ = reply.send(Err(e.to_string()));
                }
            }
        }
    }

    fn add_busy(&self, started: Instant) {
        let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.stats.busy_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Commits the batch; on an error (typically another process holding the
    /// write lock past the busy timeout) rolls back and tries again, because
    /// giving up would lose records. Only persistent failure stops the writer.
    fn commit_with_retries(&mut self, batch: &Batch) -> Result<(), String> {
        const ATTEMPTS: u32 = 8;
        if !self.options.commit_delay.is_zero() {
            std::thread::sleep(self.options.commit_delay);
        }
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            let commit_started = Instant::now();
            match self.commit(batch) {
                Ok(()) => {
                    let us =
                        u64::try_from(commit_started.elapsed().as_micros()).unwrap_or(u64::MAX);
                    self.stats.note_commit(us);
                    self.checkpointer.shared().committed();
                    self.add_busy(started);
                    self.stats
                        .records_committed
                        .fetch_add(batch.records as u64, Ordering::Relaxed);
                    self.stats.batches_committed.fetch_add(1, Ordering::Relaxed);
                    self.stats.rows_inserted.fetch_add(
                        (batch.workflows.len() + batch.events.len()) as u64,
                        Ordering::Relaxed,
                    );
                    self.stats.rows_updated.fetch_add(
                        (batch.workflow_changes.len() + batch.event_finishes.len()) as u64,
                        Ordering::Relaxed,
                    );
                    return Ok(());
                }
                // Only a lock held by someone else passes: a full disk, an
                // I/O error or a broken constraint would fail again, and
                // retrying only delays the one report the user needs.
                Err(e) if file::is_busy(&e) && attempt < ATTEMPTS => {
                    tracing::warn!(error = %e, attempt, "commit failed; retrying");
                    self.stats.commit_retries.fetch_add(1, Ordering::Relaxed);
                    // Ids cached from a rolled-back transaction may not exist.
                    self.workers.clear();
                    self.hosts.clear();
                    std::thread::sleep(Duration::from_millis(10 << attempt.min(6)));
                    attempt += 1;
                }
                Err(e) if file::is_busy(&e) => {
                    return Err(format!(
                        "{} (after {ATTEMPTS} attempts)",
                        describe_failure(&self.path, &e)
                    ));
                }
                Err(e) => return Err(describe_failure(&self.path, &e)),
            }
        }
    }

    fn commit(&mut self, batch: &Batch) -> Result<(), rusqlite::Error> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        write_batch(&tx, batch, self.run_id, &mut self.workers, &mut self.hosts)?;
        let plan = self.sketch.plan(&batch.sketch);
        let workers = &mut self.workers;
        self.sketch
            .write(&tx, plan, &batch.sketch, self.run_id, &mut |name| {
                super::statements::worker_id(&tx, workers, name)
            })?;
        tx.commit()?;
        self.sketch.committed(plan, &batch.sketch);
        Ok(())
    }
}
