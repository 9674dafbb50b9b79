//! The single writer: one thread owns the write connection and commits
//! records in batches (group commit).
//!
//! Producers hand records over a bounded channel. When it is full they wait
//! (backpressure) — nothing is ever dropped — and the wait is measured. The
//! thread waits for the first record, drains whatever else is queued (up to
//! [`WriterOptions::max_batch`]), commits it all in one `BEGIN IMMEDIATE`
//! transaction and then acknowledges the flushes that were queued behind those
//! records. Under light load a batch is a single record and commits at once;
//! under heavy load batches grow by themselves, which is what keeps up.
//!
//! Within a batch, the start and the end of the same workflow or event are
//! merged into one INSERT, so a fast step costs one row write instead of an
//! insert and an update; a slow one is inserted while in flight (visible to
//! the dashboard) and updated when it ends.
//!
//! Retention runs on this same thread, in small slices between insert
//! batches, so deleting old rows never holds a lock another writer waits on.

mod batch;
mod fxhash;
mod sketch;
mod statements;
mod thread;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot, watch};

pub use thread::MAX_PAGE_COUNT_ENV;

use super::checkpoint::{self, Checkpointer};
use super::records::Record;
use super::retention::{RetentionCutoffs, RetentionReport};
use super::{RunEnd, StoreError};
use thread::{WriterThread, spawn_heartbeat, writer_pragmas};

/// Tuning of the writer.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Records the channel holds before producers wait.
    pub queue_capacity: usize,
    /// Most records committed in one transaction. DESIGN.md measured ~10 k as
    /// the sweet spot: smaller costs throughput, unbounded makes everything
    /// move in lock-step.
    pub max_batch: usize,
    /// Rows one retention slice deletes (a workflow with its events counts
    /// as all its rows) before the writer looks at its queue again.
    pub retention_slice: usize,
    /// A retention slice also stops after this long (checked every 100
    /// workflows), so a slow disk cannot stretch it.
    pub retention_slice_time: Duration,
    /// Most records committed in one transaction while retention runs: a
    /// producer that finds the queue full waits for about one batch plus one
    /// slice, so both are kept short then.
    pub retention_max_batch: usize,
    /// Artificial delay before each commit. Zero in production; tests use it
    /// to prove that a slow writer makes producers wait rather than drop.
    pub commit_delay: Duration,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            queue_capacity: 65_536,
            max_batch: 10_000,
            retention_slice: 2_000,
            retention_slice_time: Duration::from_millis(5),
            retention_max_batch: 2_000,
            commit_delay: Duration::ZERO,
        }
    }
}

/// Counters the writer and its producers keep, readable at any time.
#[derive(Debug, Default)]
pub struct WriterStats {
    records_committed: AtomicU64,
    batches_committed: AtomicU64,
    producer_waits: AtomicU64,
    producer_wait_us_total: AtomicU64,
    producer_wait_us_max: AtomicU64,
    commit_retries: AtomicU64,
    busy_us: AtomicU64,
    rows_inserted: AtomicU64,
    rows_updated: AtomicU64,
    commit_us_max: AtomicU64,
    commit_us_total: AtomicU64,
    commit_buckets: [AtomicU64; COMMIT_BUCKETS],
}

/// Upper bounds (inclusive, microseconds) of the commit-time histogram
/// ([`WriterStatsSnapshot::commit_buckets`]); a last bucket holds the rest
/// (+Inf). From 0.5 ms (a small batch on a fast disk) to 5 s (a commit
/// held up behind another process's lock).
pub const COMMIT_BOUNDS_US: [u64; 12] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    5_000_000,
];

/// Buckets of the commit-time histogram: one per bound and +Inf.
pub const COMMIT_BUCKETS: usize = COMMIT_BOUNDS_US.len() + 1;

/// A copy of [`WriterStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct WriterStatsSnapshot {
    /// Records committed since the writer started.
    pub records_committed: u64,
    /// Transactions committed.
    pub batches_committed: u64,
    /// Times a producer found the queue full and waited.
    pub producer_waits: u64,
    /// Total time producers waited, microseconds.
    pub producer_wait_us_total: u64,
    /// Longest single wait of a producer, microseconds.
    pub producer_wait_us_max: u64,
    /// Commits retried after an error (e.g. another process held the lock).
    pub commit_retries: u64,
    /// Time the writer thread spent applying and committing, microseconds.
    pub busy_us: u64,
    /// `workflows` and `events` rows inserted (a start merged with its end
    /// when both were in one batch).
    pub rows_inserted: u64,
    /// `workflows` and `events` rows updated: an end whose start was
    /// committed in an earlier batch.
    pub rows_updated: u64,
    /// Longest single commit (waiting for the write lock included),
    /// microseconds, since the writer started or
    /// [`Writer::take_longest_commit_us`] last read it.
    pub commit_us_max: u64,
    /// WAL checkpoints the checkpointer ran.
    pub checkpoints: u64,
    /// Times the WAL started over (restart or truncation).
    pub wal_restarts: u64,
    /// Most frames (pages) the WAL held at a checkpoint.
    pub wal_frames_max: u64,
    /// Time of every successful commit (waiting for the write lock
    /// included) added up, microseconds; with `batches_committed` the mean.
    pub commit_us_total: u64,
    /// Commits by time, not cumulative: `commit_buckets[i]` counts those
    /// above `COMMIT_BOUNDS_US[i-1]` and at most `COMMIT_BOUNDS_US[i]`
    /// ([`COMMIT_BOUNDS_US`]); the last, those above every bound.
    pub commit_buckets: [u64; COMMIT_BUCKETS],
}

impl WriterStats {
    fn snapshot(&self) -> WriterStatsSnapshot {
        WriterStatsSnapshot {
            records_committed: self.records_committed.load(Ordering::Relaxed),
            batches_committed: self.batches_committed.load(Ordering::Relaxed),
            producer_waits: self.producer_waits.load(Ordering::Relaxed),
            producer_wait_us_total: self.producer_wait_us_total.load(Ordering::Relaxed),
            producer_wait_us_max: self.producer_wait_us_max.load(Ordering::Relaxed),
            commit_retries: self.commit_retries.load(Ordering::Relaxed),
            busy_us: self.busy_us.load(Ordering::Relaxed),
            rows_inserted: self.rows_inserted.load(Ordering::Relaxed),
            rows_updated: self.rows_updated.load(Ordering::Relaxed),
            commit_us_max: self.commit_us_max.load(Ordering::Relaxed),
            commit_us_total: self.commit_us_total.load(Ordering::Relaxed),
            commit_buckets: std::array::from_fn(|i| self.commit_buckets[i].load(Ordering::Relaxed)),
            checkpoints: 0,
            wal_restarts: 0,
            wal_frames_max: 0,
        }
    }

    /// Counts one successful commit that took `us` microseconds.
    fn note_commit(&self, us: u64) {
        self.commit_us_max.fetch_max(us, Ordering::Relaxed);
        self.commit_us_total.fetch_add(us, Ordering::Relaxed);
        let bucket = COMMIT_BOUNDS_US
            .iter()
            .position(|&bound| us <= bound)
            .unwrap_or(COMMIT_BOUNDS_US.len());
        self.commit_buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }

    fn note_wait(&self, waited: Duration) {
        let us = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
        self.producer_waits.fetch_add(1, Ordering::Relaxed);
        self.producer_wait_us_total.fetch_add(us, Ordering::Relaxed);
        self.producer_wait_us_max.fetch_max(us, Ordering::Relaxed);
    }
}

type Ack = oneshot::Sender<Result<(), String>>;

enum Command {
    Record(Record),
    /// A record, and an acknowledgement once it (and everything queued
    /// before it) is committed: one message instead of two for a
    /// workflow's terminal record.
    RecordAndFlush(Record, Ack),
    Flush(Ack),
    Retention(
        RetentionCutoffs,
        oneshot::Sender<Result<RetentionReport, String>>,
    ),
    Shutdown(Ack, RunEnd),
    /// Wakes an idle writer so that it updates its run's heartbeat.
    Heartbeat,
}

/// Handle to the writer thread; cheap to clone and share between tasks.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Command>,
    stats: Arc<WriterStats>,
    run_id: i64,
    ids: Arc<super::IdAllocator>,
    failure: Arc<watch::Sender<Option<String>>>,
    checkpoints: Arc<checkpoint::Shared>,
    thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
    stopped: Arc<AtomicBool>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("run_id", &self.run_id)
            .finish()
    }
}

impl Writer {
    /// Starts the writer thread on an open, migrated connection.
    pub(crate) fn start(
        conn: Connection,
        path: &Path,
        run_id: i64,
        options: WriterOptions,
    ) -> Result<Writer, StoreError> {
        writer_pragmas(&conn)?;
        let sketch = sketch::SketchState::new(
            crate::store::sketch::SketchBuckets::load(&conn)?,
            super::lifecycle::sketched_until(&conn, run_id)?.unwrap_or(i64::MAX),
        );
        let (tx, rx) = mpsc::channel(options.queue_capacity.max(1));
        let stats = Arc::new(WriterStats::default());
        let failure = Arc::new(watch::Sender::new(None));
        let checkpointer = Checkpointer::start(path);
        let checkpoints = Arc::clone(checkpointer.shared());
        spawn_heartbeat(tx.downgrade());
        let thread = {
            let stats = Arc::clone(&stats);
            let failure = Arc::clone(&failure);
            let path = path.to_path_buf();
            std::thread::Builder::new()
                .name("multiagents-writer".into())
                .spawn(move || {
                    let shared = thread::Shared {
                        stats,
                        failure,
                        checkpointer,
                    };
                    WriterThread::new(conn, path, run_id, options, shared, sketch).run(rx)
                })
                .map_err(|e| StoreError::WriterStopped(format!("cannot start thread: {e}")))?
        };
        Ok(Writer {
            tx,
            stats,
            run_id,
            ids: Arc::new(super::IdAllocator::new(run_id)),
            failure,
            checkpoints,
            thread: Arc::new(Mutex::new(Some(thread))),
            stopped: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The `runs.id` of this process run.
    pub fn run_id(&self) -> i64 {
        self.run_id
    }

    /// A new row id for a workflow, event or alert: time-ordered and unique
    /// across processes (see [`super::IdAllocator`]).
    pub fn next_id(&self) -> i64 {
        self.ids.next()
    }

    /// Counters of the writer, its producers and its checkpointer.
    pub fn stats(&self) -> WriterStatsSnapshot {
        let c = &self.checkpoints.stats;
        WriterStatsSnapshot {
            checkpoints: c.checkpoints.load(Ordering::Relaxed),
            wal_restarts: c.restarts.load(Ordering::Relaxed),
            wal_frames_max: c.wal_frames_max.load(Ordering::Relaxed),
            ..self.stats.snapshot()
        }
    }

    /// Commands queued for the writer thread and not yet taken: the
    /// backlog. Producers wait when it reaches [`Writer::queue_capacity`].
    pub fn queue_depth(&self) -> usize {
        self.tx.max_capacity().saturating_sub(self.tx.capacity())
    }

    /// How many commands the queue holds before producers wait.
    pub fn queue_capacity(&self) -> usize {
        self.tx.max_capacity()
    }

    /// The longest single commit since the last call (or the start),
    /// microseconds, and starts measuring afresh: how long the writer was
    /// held up at worst over a stretch of time.
    pub fn take_longest_commit_us(&self) -> u64 {
        self.stats.commit_us_max.swap(0, Ordering::Relaxed)
    }

    /// Why the writer stopped, if it failed.
    pub fn failure(&self) -> Option<String> {
        self.failure.borrow().clone()
    }

    /// Completes when the writer fails (never, if it does not): the moment
    /// to stop starting work, since nothing more can be recorded. The reason
    /// is the one clear message to report.
    pub async fn failed(&self) -> String {
        let mut changes = self.failure.subscribe();
        // The borrow is released before any other await, so the future is
        // `Send` and can be spawned.
        let reason = changes.wait_for(|f| f.is_some()).await.map(|r| r.clone());
        match reason {
            Ok(reason) => reason.unwrap_or_default(),
            // The sender lives as long as this handle: unreachable, but
            // never a reason to report a failure.
            Err(_) => std::future::pending().await,
        }
    }

    fn stopped_error(&self) -> StoreError {
        let reason = self.failure().unwrap_or_else(|| "shut down".to_string());
        StoreError::WriterStopped(reason)
    }

    async fn send(&self, command: Command) -> Result<(), StoreError> {
        match self.tx.try_send(command) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(command)) => {
                let started = Instant::now();
                let sent = self.tx.send(command).await;
                self.stats.note_wait(started.elapsed());
                sent.map_err(|_| self.stopped_error())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(self.stopped_error()),
        }
    }

    /// Queues a record. Waits while the queue is full; never drops.
    ///
    /// Returning `Ok` means the record is queued, not committed: call
    /// [`Writer::flush`] to know it is on disk.
    pub async fn record(&self, record: Record) -> Result<(), StoreError> {
        self.send(Command::Record(record)).await
    }

    /// Queues a record and waits until it, and every record this handle
    /// queued before it, is committed: [`Writer::record`] then
    /// [`Writer::flush`] in one message (a workflow's terminal record).
    pub async fn record_and_flush(&self, record: Record) -> Result<(), StoreError> {
        let (ack, done) = oneshot::channel();
        self.send(Command::RecordAndFlush(record, ack)).await?;
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(StoreError::WriterStopped(reason)),
            Err(_) => Err(self.stopped_error()),
        }
    }

    /// [`Writer::record`] for threads outside the async runtime.
    pub fn blocking_record(&self, record: Record) -> Result<(), StoreError> {
        match self.tx.try_send(Command::Record(record)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(command)) => {
                let started = Instant::now();
                let sent = self.tx.blocking_send(command);
                self.stats.note_wait(started.elapsed());
                sent.map_err(|_| self.stopped_error())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(self.stopped_error()),
        }
    }

    /// Waits until every record this handle queued before the call is
    /// committed.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (ack, done) = oneshot::channel();
        self.send(Command::Flush(ack)).await?;
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(StoreError::WriterStopped(reason)),
            Err(_) => Err(self.stopped_error()),
        }
    }

    /// [`Writer::flush`] for threads outside the async runtime.
    pub fn blocking_flush(&self) -> Result<(), StoreError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .blocking_send(Command::Flush(ack))
            .map_err(|_| self.stopped_error())?;
        match done.blocking_recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(StoreError::WriterStopped(reason)),
            Err(_) => Err(self.stopped_error()),
        }
    }

    /// Deletes rows older than the cutoffs, in slices between insert batches,
    /// and reports how many rows each table lost.
    pub async fn run_retention(
        &self,
        cutoffs: RetentionCutoffs,
    ) -> Result<RetentionReport, StoreError> {
        let (reply, done) = oneshot::channel();
        self.send(Command::Retention(cutoffs, reply)).await?;
        match done.await {
            Ok(Ok(report)) => Ok(report),
            Ok(Err(reason)) => Err(StoreError::WriterStopped(reason)),
            Err(_) => Err(self.stopped_error()),
        }
    }

    /// Commits what is queued, marks the run as ended normally and stops
    /// the thread. Later calls on any clone fail with
    /// [`StoreError::WriterStopped`].
    pub async fn shutdown(&self) -> Result<(), StoreError> {
        self.close(RunEnd::completed()).await
    }

    /// Commits what is queued, closes the run as `end` says (see
    /// `lifecycle::close_run`: firing alerts resolve with the reason; an
    /// interrupted run's workflows and events still in flight end
    /// `cancelled`) and stops the thread.
    pub async fn close(&self, end: RunEnd) -> Result<(), StoreError> {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let (ack, done) = oneshot::channel();
        self.send(Command::Shutdown(ack, end)).await?;
        let result = match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(StoreError::WriterStopped(reason)),
            Err(_) => Err(self.stopped_error()),
        };
        let handle = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(handle) = handle {
            // The thread has acknowledged; joining only reaps it.
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
        result
    }

    /// [`Writer::shutdown`] for threads outside the async runtime.
    pub fn blocking_shutdown(&self) -> Result<(), StoreError> {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let (ack, done) = oneshot::channel();
        self.tx
            .blocking_send(Command::Shutdown(ack, RunEnd::completed()))
            .map_err(|_| self.stopped_error())?;
        let result = match done.blocking_recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(StoreError::WriterStopped(reason)),
            Err(_) => Err(self.stopped_error()),
        };
        if let Some(handle) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = handle.join();
        }
        result
    }
}
