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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, params};
use tokio::sync::{mpsc, oneshot, watch};

use super::checkpoint::{self, Checkpointer};
use super::lifecycle::HEARTBEAT_INTERVAL;
use super::records::{
    AlertFired, EventDispatched, EventFinished, EventOutcome, EventType, MetricObservation, Record,
    SystemSample, WorkflowChanged, WorkflowStarted, WorkflowState,
};
use super::retention::{RetentionCutoffs, RetentionReport, RetentionRun};
use super::{StoreError, file};
use crate::clock;

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
}

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
            checkpoints: 0,
            wal_restarts: 0,
            wal_frames_max: 0,
        }
    }

    fn note_wait(&self, waited: Duration) {
        let us = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
        self.producer_waits.fetch_add(1, Ordering::Relaxed);
        self.producer_wait_us_total.fetch_add(us, Ordering::Relaxed);
        self.producer_wait_us_max.fetch_max(us, Ordering::Relaxed);
    }
}

type Ack = oneshot::Sender<Result<(), String>>;

/// FxHash (rustc's hasher): the batch's maps are keyed by row ids and short
/// names built in this process, so a DoS-resistant hash buys nothing, and
/// SipHash was ~6 % of the writer thread's time.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl FxHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_i64(&mut self, i: i64) {
        self.add(i as u64);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;

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
    Shutdown(Ack, super::RunEnd),
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
                    WriterThread {
                        conn,
                        path,
                        run_id,
                        options,
                        stats,
                        failure,
                        checkpointer,
                        workers: HashMap::new(),
                        last_heartbeat: Instant::now(),
                    }
                    .run(rx)
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
        self.close(super::RunEnd::completed()).await
    }

    /// Commits what is queued, closes the run as `end` says (see
    /// `lifecycle::close_run`: firing alerts resolve with the reason; an
    /// interrupted run's workflows and events still in flight end
    /// `cancelled`) and stops the thread.
    pub async fn close(&self, end: super::RunEnd) -> Result<(), StoreError> {
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
            .blocking_send(Command::Shutdown(ack, super::RunEnd::completed()))
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

/// A workflow row as it will be inserted: the start merged with any changes
/// that arrived in the same batch.
struct WorkflowRow {
    start: WorkflowStarted,
    state: WorkflowState,
    compensating_at_us: Option<i64>,
    ended_at_us: Option<i64>,
    current_step: Option<Arc<str>>,
    error: Option<String>,
}

/// An event row as it will be inserted: the start merged with its end when
/// both arrived in the same batch.
struct EventRow {
    start: EventDispatched,
    end: Option<EventFinished>,
}

#[derive(Default)]
struct WorkerRollup {
    completed: i64,
    failed: i64,
    timeout: i64,
    cancelled: i64,
    duration_sum_us: i64,
    duration_min_us: Option<i64>,
    duration_max_us: Option<i64>,
    latency_sum_us: i64,
    latency_max_us: Option<i64>,
    payload_sum_bytes: i64,
}

#[derive(Default)]
struct WorkflowRollup {
    completed: i64,
    failed: i64,
    compensated: i64,
    cancelled: i64,
    latency_sum_us: i64,
    latency_max_us: Option<i64>,
}

/// Upper bounds (ms) of the duration histogram buckets kept per worker and
/// minute; the last bucket (`-1`) is everything slower.
pub const HISTOGRAM_BOUNDS_MS: &[i64] = &[1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/// The histogram bucket (its `le_ms`) a duration falls into.
pub fn histogram_bucket(duration_us: i64) -> i64 {
    HISTOGRAM_BOUNDS_MS
        .iter()
        .copied()
        .find(|&le| duration_us <= le * 1000)
        .unwrap_or(-1)
}

#[derive(Default)]
struct Batch {
    records: usize,
    workflows: Vec<WorkflowRow>,
    workflow_index: FastMap<i64, usize>,
    workflow_changes: Vec<WorkflowChanged>,
    events: Vec<EventRow>,
    event_index: FastMap<i64, usize>,
    event_finishes: Vec<EventFinished>,
    samples: Vec<SystemSample>,
    metrics: Vec<MetricObservation>,
    alerts: Vec<AlertFired>,
    alert_resolutions: Vec<(i64, i64)>,
    worker_rollups: FastMap<(Arc<str>, EventType, i64), WorkerRollup>,
    histogram: FastMap<(Arc<str>, i64, i64), i64>,
    /// Event latency histogram: (minute, bucket) -> count.
    latency_histogram: FastMap<(i64, i64), i64>,
    workflow_rollups: FastMap<(Arc<str>, i64), WorkflowRollup>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Empties the batch, keeping its allocations for the next one.
    fn clear(&mut self) {
        self.records = 0;
        self.workflows.clear();
        self.workflow_index.clear();
        self.workflow_changes.clear();
        self.events.clear();
        self.event_index.clear();
        self.event_finishes.clear();
        self.samples.clear();
        self.metrics.clear();
        self.alerts.clear();
        self.alert_resolutions.clear();
        self.worker_rollups.clear();
        self.histogram.clear();
        self.latency_histogram.clear();
        self.workflow_rollups.clear();
    }

    fn add(&mut self, record: Record) {
        self.records += 1;
        match record {
            Record::WorkflowStarted(start) => {
                self.workflow_index.insert(start.id, self.workflows.len());
                self.workflows.push(WorkflowRow {
                    start,
                    state: WorkflowState::Running,
                    compensating_at_us: None,
                    ended_at_us: None,
                    current_step: None,
                    error: None,
                });
            }
            Record::WorkflowChanged(change) => {
                self.roll_up_workflow(&change);
                match self.workflow_index.get(&change.id) {
                    Some(&i) => {
                        let row = &mut self.workflows[i];
                        row.state = change.state;
                        if change.state == WorkflowState::Compensating {
                            row.compensating_at_us = Some(change.at_us);
                        }
                        if change.state.is_terminal() {
                            row.ended_at_us = Some(change.at_us);
                        }
                        if change.current_step.is_some() {
                            row.current_step = change.current_step;
                        }
                        if change.error.is_some() {
                            row.error = change.error;
                        }
                    }
                    None => self.workflow_changes.push(change),
                }
            }
            Record::EventDispatched(start) => {
                self.event_index.insert(start.id, self.events.len());
                self.events.push(EventRow { start, end: None });
            }
            Record::EventFinished(end) => {
                self.roll_up_event(&end);
                match self.event_index.get(&end.id) {
                    Some(&i) => self.events[i].end = Some(end),
                    None => self.event_finishes.push(end),
                }
            }
            Record::SystemSample(sample) => self.samples.push(sample),
            Record::Metric(metric) => self.metrics.push(metric),
            Record::AlertFired(alert) => self.alerts.push(alert),
            Record::AlertResolved { id, resolved_at_us } => {
                self.alert_resolutions.push((id, resolved_at_us))
            }
        }
    }

    fn roll_up_event(&mut self, end: &EventFinished) {
        let minute = clock::minute_start_us(end.finished_at_us);
        let r = self
            .worker_rollups
            .entry((Arc::clone(&end.worker), end.event_type, minute))
            .or_default();
        match end.outcome {
            EventOutcome::Completed => r.completed += 1,
            EventOutcome::Failed => r.failed += 1,
            EventOutcome::Timeout => r.timeout += 1,
            EventOutcome::Cancelled => r.cancelled += 1,
        }
        r.duration_sum_us += end.duration_us;
        r.duration_min_us = Some(
            r.duration_min_us
                .map_or(end.duration_us, |m| m.min(end.duration_us)),
        );
        r.duration_max_us = Some(
            r.duration_max_us
                .map_or(end.duration_us, |m| m.max(end.duration_us)),
        );
        let latency = end.finished_at_us - end.dispatched_at_us;
        r.latency_sum_us += latency;
        r.latency_max_us = Some(r.latency_max_us.map_or(latency, |m| m.max(latency)));
        r.payload_sum_bytes += end.payload_size_bytes;
        *self
            .histogram
            .entry((
                Arc::clone(&end.worker),
                minute,
                histogram_bucket(end.duration_us),
            ))
            .or_default() += 1;
        *self
            .latency_histogram
            .entry((minute, histogram_bucket(latency)))
            .or_default() += 1;
    }

    fn roll_up_workflow(&mut self, change: &WorkflowChanged) {
        if !change.state.is_terminal() {
            return;
        }
        let minute = clock::minute_start_us(change.at_us);
        let r = self
            .workflow_rollups
            .entry((Arc::clone(&change.workflow_name), minute))
            .or_default();
        match change.state {
            WorkflowState::Completed => r.completed += 1,
            WorkflowState::Failed => r.failed += 1,
            WorkflowState::Compensated => r.compensated += 1,
            WorkflowState::Cancelled => r.cancelled += 1,
            _ => {}
        }
        let latency = change.at_us - change.created_at_us;
        r.latency_sum_us += latency;
        r.latency_max_us = Some(r.latency_max_us.map_or(latency, |m| m.max(latency)));
    }
}

fn opt_str(s: &Option<Arc<str>>) -> Option<&str> {
    s.as_deref()
}

struct WriterThread {
    conn: Connection,
    path: PathBuf,
    run_id: i64,
    options: WriterOptions,
    stats: Arc<WriterStats>,
    failure: Arc<watch::Sender<Option<String>>>,
    checkpointer: Checkpointer,
    workers: HashMap<Arc<str>, i64>,
    last_heartbeat: Instant,
}

/// Wakes the writer every [`HEARTBEAT_INTERVAL`] so that an idle run still
/// shows it is alive. It holds only a weak sender: once every [`Writer`]
/// handle is gone the channel closes as before and this thread ends.
fn spawn_heartbeat(tx: mpsc::WeakSender<Command>) {
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
/// process crash with it), no automatic checkpoint (the checkpointer thread
/// does it off the writer's path), a bound on the WAL file kept after a
/// restart, and [`MAX_PAGE_COUNT_ENV`] when set.
fn writer_pragmas(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0;")?;
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
    fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut retention: Option<(
            RetentionRun,
            oneshot::Sender<Result<RetentionReport, String>>,
        )> = None;
        let max = self.options.max_batch.max(1);
        let mut commands: Vec<Command> = Vec::with_capacity(max);
        let mut batch = Batch::default();
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
            let mut shutdown: Option<(Ack, super::RunEnd)> = None;
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
        match super::lifecycle::heartbeat(&self.conn, self.run_id, clock::now_us()) {
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
    fn end_run(&mut self, end: &super::RunEnd) -> Result<(), String> {
        let mut attempt = 0;
        loop {
            let result = (|| {
                let tx = self
                    .conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                super::lifecycle::close_run(&tx, self.run_id, end, clock::now_us())?;
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
                    self.stats.commit_us_max.fetch_max(us, Ordering::Relaxed);
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
        write_batch(&tx, batch, self.run_id, &mut self.workers)?;
        tx.commit()
    }
}

fn worker_id(
    tx: &Transaction<'_>,
    cache: &mut HashMap<Arc<str>, i64>,
    name: &Arc<str>,
) -> Result<i64, rusqlite::Error> {
    if let Some(&id) = cache.get(name) {
        return Ok(id);
    }
    tx.prepare_cached(include_str!("../../queries/write/insert_worker.sql"))?
        .execute([name.as_ref()])?;
    let id: i64 = tx
        .prepare_cached(include_str!("../../queries/write/select_worker_id.sql"))?
        .query_row([name.as_ref()], |row| row.get(0))?;
    cache.insert(Arc::clone(name), id);
    Ok(id)
}

fn write_batch(
    tx: &Transaction<'_>,
    batch: &Batch,
    run_id: i64,
    workers: &mut HashMap<Arc<str>, i64>,
) -> Result<(), rusqlite::Error> {
    if !batch.workflows.is_empty() {
        let mut insert =
            tx.prepare_cached(include_str!("../../queries/write/insert_workflow.sql"))?;
        for row in &batch.workflows {
            let s = &row.start;
            insert.execute(params![
                s.id,
                s.transaction_id.as_ref(),
                run_id,
                s.workflow_name.as_ref(),
                row.state.as_str(),
                opt_str(&row.current_step),
                s.created_at_us,
                s.started_at_us,
                row.compensating_at_us,
                row.ended_at_us,
                s.input_size_bytes,
                row.error.as_deref(),
            ])?;
        }
    }
    if !batch.events.is_empty() {
        let mut insert = tx.prepare_cached(include_str!("../../queries/write/insert_event.sql"))?;
        for row in &batch.events {
            let s = &row.start;
            let worker = worker_id(tx, workers, &s.worker)?;
            let e = row.end.as_ref();
            insert.execute(params![
                s.id,
                s.workflow_id,
                s.event_type.as_str(),
                s.step.as_ref(),
                worker,
                s.attempt,
                e.map_or("dispatched", |e| e.outcome.as_str()),
                s.dispatched_at_us,
                e.and_then(|e| e.picked_up_at_us),
                e.and_then(|e| e.processing_at_us),
                e.map(|e| e.finished_at_us),
                e.map(|e| e.duration_us),
                s.payload_size_bytes,
                e.and_then(|e| e.result_size_bytes),
                e.and_then(|e| e.error_type.as_deref()),
                e.and_then(|e| e.error_message.as_deref()),
            ])?;
        }
    }
    if !batch.event_finishes.is_empty() {
        let mut update = tx.prepare_cached(include_str!("../../queries/write/finish_event.sql"))?;
        for e in &batch.event_finishes {
            update.execute(params![
                e.id,
                e.outcome.as_str(),
                e.picked_up_at_us,
                e.processing_at_us,
                e.finished_at_us,
                e.duration_us,
                e.result_size_bytes,
                e.error_type.as_deref(),
                e.error_message.as_deref(),
            ])?;
        }
    }
    if !batch.workflow_changes.is_empty() {
        let mut update =
            tx.prepare_cached(include_str!("../../queries/write/update_workflow.sql"))?;
        for c in &batch.workflow_changes {
            update.execute(params![
                c.id,
                c.state.as_str(),
                c.at_us,
                opt_str(&c.current_step),
                c.error.as_deref(),
            ])?;
        }
    }
    write_rollups(tx, batch, run_id, workers)?;
    if !batch.samples.is_empty() {
        let mut insert =
            tx.prepare_cached(include_str!("../../queries/write/insert_system_sample.sql"))?;
        for s in &batch.samples {
            insert.execute(params![
                run_id,
                s.sampled_at_us,
                s.cpu_usage_percent,
                s.memory_usage_percent,
                s.memory_used_bytes,
                s.memory_total_bytes,
                s.load_avg_1m,
                s.load_avg_5m,
                s.load_avg_15m,
                s.process_cpu_percent,
                s.process_rss_bytes,
                s.active_connections,
                s.active_workflows,
            ])?;
        }
    }
    if !batch.metrics.is_empty() {
        let mut insert =
            tx.prepare_cached(include_str!("../../queries/write/insert_metric.sql"))?;
        for m in &batch.metrics {
            insert.execute(params![
                run_id,
                m.name,
                m.metric_type.as_str(),
                m.labels_json,
                m.value,
                m.recorded_at_us
            ])?;
        }
    }
    if !batch.alerts.is_empty() {
        let mut insert = tx.prepare_cached(include_str!("../../queries/write/insert_alert.sql"))?;
        for a in &batch.alerts {
            insert.execute(params![
                a.id,
                run_id,
                a.alert_type,
                a.subject,
                a.severity,
                a.message,
                a.value,
                a.threshold,
                a.fired_at_us,
                a.details_json
            ])?;
        }
    }
    if !batch.alert_resolutions.is_empty() {
        let mut update =
            tx.prepare_cached(include_str!("../../queries/write/resolve_alert.sql"))?;
        for (id, at) in &batch.alert_resolutions {
            update.execute(params![id, at])?;
        }
    }
    Ok(())
}

/// Adds the batch's per-minute figures to this run's rollup rows (every row
/// carries the run, so runs writing one file at once never share a row).
fn write_rollups(
    tx: &Transaction<'_>,
    batch: &Batch,
    run_id: i64,
    workers: &mut HashMap<Arc<str>, i64>,
) -> Result<(), rusqlite::Error> {
    if !batch.worker_rollups.is_empty() {
        let mut upsert =
            tx.prepare_cached(include_str!("../../queries/write/upsert_worker_rollup.sql"))?;
        for ((worker, event_type, minute), r) in &batch.worker_rollups {
            let worker = worker_id(tx, workers, worker)?;
            upsert.execute(params![
                worker,
                event_type.as_str(),
                minute,
                r.completed,
                r.failed,
                r.timeout,
                r.cancelled,
                r.duration_sum_us,
                r.duration_min_us,
                r.duration_max_us,
                r.latency_sum_us,
                r.latency_max_us,
                r.payload_sum_bytes,
                run_id,
            ])?;
        }
    }
    if !batch.histogram.is_empty() {
        let mut upsert = tx.prepare_cached(include_str!(
            "../../queries/write/upsert_worker_histogram.sql"
        ))?;
        for ((worker, minute, le), count) in &batch.histogram {
            let worker = worker_id(tx, workers, worker)?;
            upsert.execute(params![worker, minute, le, count, run_id])?;
        }
    }
    if !batch.latency_histogram.is_empty() {
        let mut upsert = tx.prepare_cached(include_str!(
            "../../queries/write/upsert_latency_histogram.sql"
        ))?;
        for ((minute, le), count) in &batch.latency_histogram {
            upsert.execute(params![run_id, minute, le, count])?;
        }
    }
    if !batch.workflow_rollups.is_empty() {
        let mut upsert = tx.prepare_cached(include_str!(
            "../../queries/write/upsert_workflow_rollup.sql"
        ))?;
        for ((name, minute), r) in &batch.workflow_rollups {
            upsert.execute(params![
                name.as_ref(),
                minute,
                r.completed,
                r.failed,
                r.compensated,
                r.cancelled,
                r.latency_sum_us,
                r.latency_max_us,
                run_id,
            ])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_upper_inclusive() {
        assert_eq!(histogram_bucket(0), 1);
        assert_eq!(histogram_bucket(1_000), 1);
        assert_eq!(histogram_bucket(1_001), 5);
        assert_eq!(histogram_bucket(10_000_000), 10_000);
        assert_eq!(histogram_bucket(10_000_001), -1);
    }
}
