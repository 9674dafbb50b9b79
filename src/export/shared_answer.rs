//! One computation per refresh interval, shared by every request that wants
//! it: what keeps `serve` answering when 200 scrapers arrive at once.
//!
//! Without it every request ran its own export on its own pooled connection;
//! 200 parallel requests waited for 8 connections and half of them ended in
//! `500 … timed out waiting for connection`, and a request whose client had
//! gone kept its connection busy until its queries finished.
//!
//! A [`SharedAnswer`] holds the last answer for `refresh`. A request that
//! finds it fresh gets it at once; otherwise it joins the computation in
//! flight, or starts one if there is none (single flight). The computation
//! runs on a blocking thread and is told, through [`Cancel`], when every
//! request that waited for it has gone (clients that disconnected): the
//! SQLite query is then interrupted by a progress handler, so abandoned work
//! stops within a few thousand VM steps instead of running to the end.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// Why an answer could not be produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// True when the cause is contention or cancellation (worth retrying),
    /// false for a real error.
    pub transient: bool,
    /// One line for the client and the log.
    pub message: String,
}

/// Tells a computation that nobody waits for its answer any more.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// Whether every waiting request has gone.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Runs `f` on `conn` with a progress handler that interrupts SQLite as
    /// soon as the computation is cancelled; the handler is removed again
    /// before the connection goes back to its pool.
    pub fn interrupting<T>(
        &self,
        conn: &rusqlite::Connection,
        f: impl FnOnce(&rusqlite::Connection) -> T,
    ) -> T {
        /// Removes the handler however `f` ends.
        struct Restore<'a>(&'a rusqlite::Connection);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                // Cannot fail on an open connection; were it to, the
                // handler would interrupt the next user of this pooled
                // connection only if this computation was cancelled.
                if let Err(e) = self.0.progress_handler(0, None::<fn() -> bool>) {
                    tracing::warn!(error = %e, "cannot remove the progress handler");
                }
            }
        }
        let flag = Arc::clone(&self.0);
        // Every 1000 VM instructions: a few microseconds between checks.
        if let Err(e) = conn.progress_handler(1000, Some(move || flag.load(Ordering::Relaxed))) {
            // Without it the answer is still right, only not cancellable.
            tracing::warn!(error = %e, "cannot install the progress handler");
        }
        let _restore = Restore(conn);
        f(conn)
    }
}

/// Counters of a [`SharedAnswer`] since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SharedAnswerStats {
    /// Requests answered.
    pub requests: u64,
    /// Computations started.
    pub computations: u64,
    /// Requests answered from a fresh answer without waiting.
    pub fresh_hits: u64,
    /// Requests that joined a computation another request had started.
    pub joined: u64,
    /// Computations cancelled because every waiting request had gone.
    pub cancelled: u64,
}

type Answer<T> = Result<T, Failure>;

struct Flight<T> {
    id: u64,
    waiters: usize,
    cancel: Cancel,
    done: watch::Receiver<Option<Answer<T>>>,
}

struct State<T> {
    fresh: Option<(Instant, T)>,
    flight: Option<Flight<T>>,
}

/// The last answer of one question, kept for a refresh interval and
/// computed by one request at a time for everyone. See the module docs.
pub struct SharedAnswer<T> {
    refresh: Duration,
    state: Mutex<State<T>>,
    next_id: AtomicU64,
    requests: AtomicU64,
    computations: AtomicU64,
    fresh_hits: AtomicU64,
    joined: AtomicU64,
    cancelled: AtomicU64,
}

impl<T> std::fmt::Debug for SharedAnswer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedAnswer")
            .field("refresh", &self.refresh)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// A request's interest in a computation: dropping the last one (the
/// clients went away) cancels it.
struct Waiter<T: Clone + Send + Sync + 'static> {
    shared: Arc<SharedAnswer<T>>,
    id: u64,
}

impl<T: Clone + Send + Sync + 'static> Drop for Waiter<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        let Some(flight) = state.flight.as_mut().filter(|f| f.id == self.id) else {
            return; // finished already
        };
        flight.waiters -= 1;
        if flight.waiters == 0 {
            flight.cancel.0.store(true, Ordering::Relaxed);
            state.flight = None;
            self.shared.cancelled.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("computation cancelled: every client waiting for it has gone");
        }
    }
}

impl<T> SharedAnswer<T> {
    /// The counters so far.
    pub fn stats(&self) -> SharedAnswerStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SharedAnswerStats {
            requests: get(&self.requests),
            computations: get(&self.computations),
            fresh_hits: get(&self.fresh_hits),
            joined: get(&self.joined),
            cancelled: get(&self.cancelled),
        }
    }

    /// A poisoned lock only means a panic elsewhere while it was held; the
    /// state is two plain fields that are always consistent.
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: Clone + Send + Sync + 'static> SharedAnswer<T> {
    /// Answers computed at most once per `refresh`. `Duration::ZERO` shares
    /// nothing: every request computes on its own (the behaviour before this
    /// module, kept as the benchmark's reference).
    pub fn new(refresh: Duration) -> Arc<Self> {
        Arc::new(SharedAnswer {
            refresh,
            state: Mutex::new(State {
                fresh: None,
                flight: None,
            }),
            next_id: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            computations: AtomicU64::new(0),
            fresh_hits: AtomicU64::new(0),
            joined: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
        })
    }

    /// The answer: fresh from the last computation, from the one in flight,
    /// or from a new one of `compute` (run on a blocking thread). Dropping
    /// the returned future withdraws this request's interest.
    pub async fn get<F>(self: &Arc<Self>, compute: F) -> Answer<T>
    where
        F: FnOnce(&Cancel) -> Answer<T> + Send + 'static,
    {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if self.refresh.is_zero() {
            self.computations.fetch_add(1, Ordering::Relaxed);
            return run_blocking(compute, Cancel::default()).await;
        }
        let (mut done, id) = {
            let mut state = self.lock();
            if let Some((at, value)) = &state.fresh
                && at.elapsed() < self.refresh
            {
                self.fresh_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(value.clone());
            }
            match state.flight.as_mut() {
                Some(flight) => {
                    flight.waiters += 1;
                    self.joined.fetch_add(1, Ordering::Relaxed);
                    (flight.done.clone(), flight.id)
                }
                None => {
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    let cancel = Cancel::default();
                    let (tx, rx) = watch::channel(None);
                    state.flight = Some(Flight {
                        id,
                        waiters: 1,
                        cancel: cancel.clone(),
                        done: rx.clone(),
                    });
                    self.computations.fetch_add(1, Ordering::Relaxed);
                    // Its own task: the computation outlives the request
                    // that started it as long as anyone else waits.
                    let shared = Arc::clone(self);
                    tokio::spawn(async move {
                        let answer = run_blocking(compute, cancel).await;
                        shared.finish(id, &answer);
                        let _ = tx.send(Some(answer));
                    });
                    (rx, id)
                }
            }
        };
        let _waiter = Waiter {
            shared: Arc::clone(self),
            id,
        };
        loop {
            if let Some(answer) = done.borrow_and_update().clone() {
                return answer;
            }
            if done.changed().await.is_err() {
                return Err(Failure {
                    transient: true,
                    message: "the computation ended without an answer".into(),
                });
            }
        }
    }

    /// Keeps a successful answer for the next `refresh` and clears the
    /// flight so that the next stale request starts a new one.
    fn finish(&self, id: u64, answer: &Answer<T>) {
        let mut state = self.lock();
        if let Ok(value) = answer {
            state.fresh = Some((Instant::now(), value.clone()));
        }
        if state.flight.as_ref().is_some_and(|f| f.id == id) {
            state.flight = None;
        }
    }
}

async fn run_blocking<T, F>(compute: F, cancel: Cancel) -> Answer<T>
where
    T: Send + 'static,
    F: FnOnce(&Cancel) -> Answer<T> + Send + 'static,
{
    tokio::task::spawn_blocking(move || compute(&cancel))
        .await
        .unwrap_or_else(|e| {
            Err(Failure {
                transient: false,
                message: format!("task failed: {e}"),
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never_fails<T>(value: T) -> Answer<T> {
        Ok(value)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_requests_shares_one_computation() {
        let shared = SharedAnswer::<u64>::new(Duration::from_secs(60));
        let runs = Arc::new(AtomicU64::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let shared = Arc::clone(&shared);
            let runs = Arc::clone(&runs);
            tasks.spawn(async move {
                shared
                    .get(move |_| {
                        // Long enough for every request to arrive meanwhile.
                        std::thread::sleep(Duration::from_millis(300));
                        never_fails(runs.fetch_add(1, Ordering::SeqCst) + 41)
                    })
                    .await
            });
        }
        while let Some(answer) = tasks.join_next().await {
            assert_eq!(answer.expect("task"), Ok(41));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // Fresh for the refresh interval: no new computation.
        assert_eq!(shared.get(|_| never_fails(7)).await, Ok(41));
        let stats = shared.stats();
        assert_eq!(stats.requests, 51);
        assert_eq!(stats.computations, 1);
        assert_eq!(stats.fresh_hits, 1);
        assert_eq!(stats.joined + stats.fresh_hits, 50);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_query_nobody_waits_for_is_interrupted() {
        let shared = SharedAnswer::<i64>::new(Duration::from_secs(60));
        let (tx, rx) = std::sync::mpsc::channel();
        // A real SQLite query that would count for a very long time.
        let request = shared.get(move |cancel| {
            let conn = rusqlite::Connection::open_in_memory().expect("open");
            let result: Result<i64, rusqlite::Error> = cancel.interrupting(&conn, |conn| {
                conn.query_row(
                    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)
                     SELECT count(*) FROM (SELECT x FROM c LIMIT 10000000000)",
                    [],
                    |r| r.get(0),
                )
            });
            let interrupted = matches!(
                &result,
                Err(rusqlite::Error::SqliteFailure(f, _))
                    if f.code == rusqlite::ErrorCode::OperationInterrupted
            );
            let _ = tx.send(interrupted);
            // The handler is gone: the same connection answers again.
            let again: i64 = conn.query_row("SELECT 1", [], |r| r.get(0)).expect("after");
            assert_eq!(again, 1);
            result.map_err(|e| Failure {
                transient: true,
                message: e.to_string(),
            })
        });
        // The client gives up.
        assert!(
            tokio::time::timeout(Duration::from_millis(200), request)
                .await
                .is_err()
        );
        let interrupted =
            tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
                .await
                .expect("join")
                .expect("the query ended");
        assert!(interrupted, "the query ran on after its only client left");
        assert_eq!(shared.stats().cancelled, 1);
        // The next request computes anew rather than joining the cancelled one.
        assert_eq!(shared.get(|_| never_fails(5)).await, Ok(5));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_a_refresh_interval_nothing_is_shared() {
        let shared = SharedAnswer::<u64>::new(Duration::ZERO);
        assert_eq!(shared.get(|_| never_fails(1)).await, Ok(1));
        assert_eq!(shared.get(|_| never_fails(2)).await, Ok(2));
        assert_eq!(shared.stats().computations, 2);
    }
}
