//! Keeping the write-ahead log small: a checkpointer thread beside the
//! writer.
//!
//! SQLite's automatic checkpoint runs inside the writer's commit, so copying
//! a large WAL back into the database stalls the writer for as long as the
//! copy takes — seconds after a reader held an old snapshot for a while. And
//! the WAL file only starts over (is reused from its beginning) when every
//! frame has been copied back *and* no reader still uses one at the moment
//! the writer next commits, which under continuous load and regular
//! readers rarely happens by chance: the file grew to hundreds of megabytes.
//!
//! So the writer's connection never checkpoints (`wal_autocheckpoint = 0`),
//! and this thread, on its own connection:
//!
//! - copies frames back with `PASSIVE` checkpoints, which never block the
//!   writer or readers, as soon as the writer reports commits;
//! - once the copy has caught up to within [`CATCH_UP_FRAMES`] of the end
//!   and the WAL holds more than [`RESTART_FRAMES`], asks for a `RESTART`:
//!   that briefly takes the write lock, copies the last frames and waits (at
//!   most [`LOCK_WAIT`]) for readers still in the WAL, after which the
//!   writer's next commit starts the log over, and `journal_size_limit`
//!   trims the file;
//! - when the writer has been idle for [`IDLE`], `TRUNCATE`s the WAL to 0
//!   bytes, so a file at rest is complete on its own.
//!
//! The writer itself truncates the WAL when it shuts down (see
//! `writer.rs`). A reader holding a transaction open stops any checkpoint
//! from copying frames it may still need: the WAL then grows for as long as
//! that reader lasts, and is caught up from here without stalling the
//! writer once it ends.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

/// Frames (pages) the WAL may hold before a restart is attempted: 4 MiB at
/// the default 4 KiB page.
pub const RESTART_FRAMES: i64 = 1_024;

/// Frames the copy may lag behind the end of the WAL for a restart to be
/// attempted: the restart copies them while holding the write lock, so this
/// bounds how long the writer waits for it.
pub const CATCH_UP_FRAMES: i64 = 2_048;

/// Longest wait of a restart or truncation for the write lock and for
/// readers to leave the WAL; past it the attempt gives up until next time,
/// so the writer is never held up longer.
pub const LOCK_WAIT: Duration = Duration::from_millis(20);

/// No commit for this long counts as idle: the WAL is truncated to 0 bytes.
pub const IDLE: Duration = Duration::from_millis(500);

/// How often the checkpointer looks, commits or not.
const TICK: Duration = Duration::from_millis(100);

/// `journal_size_limit`: after a restart, the WAL file is trimmed to this
/// size at the next commit instead of keeping its largest size forever.
pub const JOURNAL_SIZE_LIMIT_BYTES: i64 = 16 << 20;

/// What the checkpointer did, for the benchmark and `WriterStatsSnapshot`.
#[derive(Debug, Default)]
pub struct CheckpointStats {
    /// Checkpoints run (any mode).
    pub checkpoints: AtomicU64,
    /// Restarts and truncations that succeeded: the WAL started over.
    pub restarts: AtomicU64,
    /// Most frames the WAL held at one checkpoint.
    pub wal_frames_max: AtomicU64,
}

#[derive(Debug, Default)]
struct Signal {
    commits: u64,
    stop: bool,
}

/// Shared between the writer (which reports commits) and the checkpointer.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    signal: Mutex<Signal>,
    wake: Condvar,
    pub(crate) stats: CheckpointStats,
}

impl Shared {
    /// The writer committed a transaction.
    pub(crate) fn committed(&self) {
        if let Ok(mut s) = self.signal.lock() {
            s.commits += 1;
        }
        self.wake.notify_one();
    }

    fn stop(&self) {
        if let Ok(mut s) = self.signal.lock() {
            s.stop = true;
        }
        self.wake.notify_one();
    }
}

/// The running checkpointer; stopped (and joined) on drop.
pub(crate) struct Checkpointer {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens a connection of its own on `path` and starts the thread. A
    /// failure to start is not fatal to recording: the WAL is then only
    /// checkpointed at shutdown, which the log says.
    pub(crate) fn start(path: &Path) -> Checkpointer {
        let shared = Arc::new(Shared::default());
        let thread = match open(path) {
            Ok(conn) => {
                let shared = Arc::clone(&shared);
                let path = path.to_path_buf();
                std::thread::Builder::new()
                    .name("multiagents-checkpoint".into())
                    .spawn(move || run(conn, &path, &shared))
                    .map_err(|e| tracing::warn!(error = %e, "cannot start the checkpointer"))
                    .ok()
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot open the checkpointer's connection");
                None
            }
        };
        Checkpointer { shared, thread }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops the thread and waits for it.
    pub(crate) fn stop(&mut self) {
        self.shared.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn open(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open_with_flags(
        super::file::not_a_uri(path),
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(LOCK_WAIT)?;
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0; PRAGMA query_only = OFF;",
    )?;
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT_BYTES)?;
    Ok(conn)
}

/// `(busy, frames in the WAL, frames copied back)` of one checkpoint.
fn checkpoint(conn: &Connection, mode: &str) -> Result<(bool, i64, i64), rusqlite::Error> {
    let sql = match mode {
        "RESTART" => "PRAGMA wal_checkpoint(RESTART)",
        "TRUNCATE" => "PRAGMA wal_checkpoint(TRUNCATE)",
        _ => "PRAGMA wal_checkpoint(PASSIVE)",
    };
    conn.query_row(sql, [], |r| {
        Ok((r.get::<_, i64>(0)? != 0, r.get(1)?, r.get(2)?))
    })
}

fn run(conn: Connection, path: &Path, shared: &Shared) {
    let started = Instant::now();
    let mut ticker = Ticker::default();
    loop {
        let commits = {
            let Ok(guard) = shared.signal.lock() else {
                return;
            };
            let Ok((guard, _)) = shared
                .wake
                .wait_timeout_while(guard, TICK, |s| !s.stop && s.commits == ticker.seen_commits)
            else {
                return;
            };
            if guard.stop {
                return;
            }
            guard.commits
        };
        let now_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        if let Err(e) = ticker.tick(&conn, shared, commits, now_us) {
            tracing::debug!(error = %e, db = %path.display(), "checkpoint failed; trying again later");
        }
    }
}

/// What one tick of the checkpointer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checkpointed {
    /// Nothing: idle, and the WAL already truncated since the last commit.
    Nothing,
    /// A `PASSIVE` copy (and a `RESTART` if the copy had caught up).
    Passive,
    /// Idle for [`IDLE`]: a `TRUNCATE`.
    Truncate,
}

/// The checkpointer's memory between ticks; [`Ticker::tick`] is one round,
/// called by the thread with the time on its own clock, and by tests with
/// a chosen one.
#[derive(Debug, Default)]
pub(crate) struct Ticker {
    /// Commits the writer had reported at the last tick.
    seen_commits: u64,
    /// When the last new commit was seen (µs on the caller's clock).
    last_commit_us: u64,
    /// The WAL was truncated and nothing was committed since.
    truncated_since_commit: bool,
}

impl Ticker {
    /// One round at `now_us`, the writer having reported `commits` commits
    /// so far: copies frames back without blocking anyone while commits
    /// come in, and truncates the WAL once none came for [`IDLE`].
    pub(crate) fn tick(
        &mut self,
        conn: &Connection,
        shared: &Shared,
        commits: u64,
        now_us: u64,
    ) -> Result<Checkpointed, rusqlite::Error> {
        if commits != self.seen_commits {
            self.seen_commits = commits;
            self.truncated_since_commit = false;
            self.last_commit_us = now_us;
        }
        let idle_for = Duration::from_micros(now_us.saturating_sub(self.last_commit_us));
        if idle_for < IDLE {
            step(conn, shared, "PASSIVE")?;
            return Ok(Checkpointed::Passive);
        }
        if self.truncated_since_commit {
            return Ok(Checkpointed::Nothing);
        }
        if !step(conn, shared, "TRUNCATE")? {
            self.truncated_since_commit = true;
        }
        Ok(Checkpointed::Truncate)
    }
}

/// One checkpoint, and a restart when the copy has caught up. Returns
/// whether the WAL still holds frames afterwards (busy or not caught up).
fn step(conn: &Connection, shared: &Shared, mode: &str) -> Result<bool, rusqlite::Error> {
    let stats = &shared.stats;
    let (busy, log, copied) = checkpoint(conn, mode)?;
    stats.checkpoints.fetch_add(1, Ordering::Relaxed);
    stats
        .wal_frames_max
        .fetch_max(u64::try_from(log).unwrap_or(0), Ordering::Relaxed);
    if mode == "TRUNCATE" {
        if !busy {
            stats.restarts.fetch_add(1, Ordering::Relaxed);
        }
        return Ok(busy);
    }
    if log >= RESTART_FRAMES && log - copied <= CATCH_UP_FRAMES {
        let (busy, _, _) = checkpoint(conn, "RESTART")?;
        stats.checkpoints.fetch_add(1, Ordering::Relaxed);
        if !busy {
            stats.restarts.fetch_add(1, Ordering::Relaxed);
        }
        return Ok(busy);
    }
    Ok(busy || log > copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wal_len(db: &Path) -> u64 {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
    }

    #[test]
    fn ticks_copy_while_commits_come_and_truncate_once_idle() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let writer = Connection::open(&db).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
                 CREATE TABLE t (x INTEGER);
                 WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000)
                 INSERT INTO t SELECT x FROM c;",
            )
            .unwrap();
        assert!(wal_len(&db) > 0);
        let conn = open(&db).unwrap();
        let shared = Shared::default();
        let mut ticker = Ticker::default();
        let idle_us = u64::try_from(IDLE.as_micros()).unwrap();
        // A commit just came: frames are copied back, the WAL stays.
        assert_eq!(
            ticker.tick(&conn, &shared, 1, 1_000).unwrap(),
            Checkpointed::Passive
        );
        assert!(wal_len(&db) > 0);
        // No commit since for IDLE: truncated to nothing, and only once.
        let later = 1_000 + idle_us;
        assert_eq!(
            ticker.tick(&conn, &shared, 1, later).unwrap(),
            Checkpointed::Truncate
        );
        assert_eq!(wal_len(&db), 0);
        assert_eq!(
            ticker.tick(&conn, &shared, 1, later + 1).unwrap(),
            Checkpointed::Nothing
        );
        // A new commit starts the cycle again.
        writer.execute("INSERT INTO t VALUES (4)", []).unwrap();
        assert_eq!(
            ticker.tick(&conn, &shared, 2, later + 2).unwrap(),
            Checkpointed::Passive
        );
        let stats = &shared.stats;
        assert_eq!(stats.checkpoints.load(Ordering::Relaxed), 3);
        assert!(stats.restarts.load(Ordering::Relaxed) >= 1);
    }
}
