//! The drill-down views: one worker (its error patterns, slowest executions
//! and its own trend) or one active workflow (its live trace), read from
//! the same monitors the `query` commands use.

use std::time::Duration;

use super::collect::{elapsed_part, recording_start};
use super::snapshot::TrendPoint;
use crate::monitor::event::{error_patterns, transaction_trace};
use crate::monitor::executions::{Execution, worker_executions};
use crate::monitor::series::bucket_width_us;
use crate::monitor::{ErrorPattern, MonitorError, RunScope, TraceStage};
use crate::store::Store;
use crate::window::TimeWindow;

/// What a drill-down view is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Focus {
    /// A worker, by name.
    Worker(String),
    /// A workflow, by transaction id.
    Workflow(String),
}

/// The slowest executions a worker view lists.
pub const SLOWEST_ROWS: usize = 10;

/// At most this many of a worker's latest executions are read for its
/// slowest ones and its trend.
pub const EXECUTIONS_READ: i64 = 20_000;

/// One worker, over the elapsed part of the window.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct WorkerDetail {
    /// The worker.
    pub worker: String,
    /// Its errors grouped by type, most frequent first.
    pub error_patterns: Vec<ErrorPattern>,
    /// Its slowest executions, slowest first.
    pub slowest: Vec<Execution>,
    /// Its executions per second, p95 duration and error rate per bucket
    /// (`p95_latency_ms` is the worker's execution duration here).
    pub trend: Vec<TrendPoint>,
    /// Width of a trend bucket, seconds.
    pub bucket_s: f64,
    /// Executions read; when it is [`EXECUTIONS_READ`], older ones of the
    /// window were left out of the slowest list and the trend.
    pub executions_read: usize,
}

/// One workflow's trace: every stage so far, oldest first.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct WorkflowDetail {
    /// Its transaction id.
    pub transaction_id: String,
    /// Its stages.
    pub stages: Vec<TraceStage>,
}

/// A drill-down view's data.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum Detail {
    /// A worker's view.
    Worker(WorkerDetail),
    /// A workflow's trace.
    Workflow(WorkflowDetail),
    /// The view's data could not be read (say, the worker or workflow is
    /// gone from the file): why, in one sentence.
    Unavailable(String),
}

/// Reads the data of the view on `focus`, over the window of length
/// `window` ending at `now_us` (the same window as the snapshot's).
pub fn collect_detail(
    store: &Store,
    scope: RunScope,
    window: Duration,
    now_us: i64,
    focus: &Focus,
) -> Result<Detail, MonitorError> {
    let conn = store.reader()?;
    match focus {
        Focus::Workflow(id) => Ok(Detail::Workflow(WorkflowDetail {
            transaction_id: id.clone(),
            stages: transaction_trace(&conn, id)?,
        })),
        Focus::Worker(name) => {
            let span = TimeWindow::ending_at(now_us, window);
            let elapsed = elapsed_part(span, recording_start(&conn, scope, span)?);
            let error_patterns = error_patterns(&conn, elapsed, scope, Some(name.as_str()))?;
            let executions = worker_executions(&conn, elapsed, scope, name, EXECUTIONS_READ)?;
            let bucket_us = bucket_width_us(elapsed.length_us());
            Ok(Detail::Worker(WorkerDetail {
                worker: name.clone(),
                error_patterns,
                slowest: slowest(&executions, SLOWEST_ROWS),
                trend: worker_trend(&executions, elapsed, bucket_us),
                bucket_s: bucket_us as f64 / 1e6,
                executions_read: executions.len(),
            }))
        }
    }
}

/// The `n` slowest of `executions`, slowest first (the latest first among
/// equal durations).
pub fn slowest(executions: &[Execution], n: usize) -> Vec<Execution> {
    let mut sorted: Vec<&Execution> = executions.iter().collect();
    sorted.sort_by(|a, b| {
        b.duration_ms
            .total_cmp(&a.duration_ms)
            .then(b.finished_at_us.cmp(&a.finished_at_us))
    });
    sorted.into_iter().take(n).cloned().collect()
}

/// Per bucket of `bucket_us` from the start of `window`: executions ended
/// per second (of the bucket's part inside the window), the nearest-rank
/// p95 duration and the error rate, as the window's series counts them.
pub fn worker_trend(
    executions: &[Execution],
    window: TimeWindow,
    bucket_us: i64,
) -> Vec<TrendPoint> {
    let span = window.length_us();
    if span <= 0 || bucket_us <= 0 {
        return Vec::new();
    }
    let n = usize::try_from(span / bucket_us + i64::from(span % bucket_us != 0)).unwrap_or(0);
    let mut durations: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut errors = vec![0u64; n];
    for e in executions {
        let k = (e.finished_at_us - window.start_us) / bucket_us;
        if let Ok(k) = usize::try_from(k)
            && k < n
        {
            durations[k].push(e.duration_ms);
            errors[k] += u64::from(e.is_error());
        }
    }
    (0..n)
        .map(|k| {
            let start = window.start_us + k as i64 * bucket_us;
            let seconds = ((window.end_us.min(start + bucket_us) - start) as f64 / 1e6).max(0.0);
            let d = &mut durations[k];
            d.sort_by(f64::total_cmp);
            let count = d.len();
            // Nearest rank: the ceil(0.95 n)-th smallest.
            let p95 = (count > 0).then(|| d[(count * 95).div_ceil(100).max(1) - 1]);
            TrendPoint {
                offset_s: (start - window.start_us) as f64 / 1e6,
                throughput_per_s: if seconds > 0.0 {
                    count as f64 / seconds
                } else {
                    0.0
                },
                p95_latency_ms: p95,
                error_rate: if count == 0 {
                    0.0
                } else {
                    errors[k] as f64 * 100.0 / count as f64
                },
            }
        })
        .collect()
}

impl Detail {
    /// A copy with every text from the database escaped for a terminal
    /// (see [`super::DashboardSnapshot::for_terminal`]).
    pub fn for_terminal(&self) -> Detail {
        let e = |s: &str| crate::terminal::escape(s).into_owned();
        let o = |s: &Option<String>| s.as_deref().map(e);
        match self {
            Detail::Worker(w) => Detail::Worker(WorkerDetail {
                worker: e(&w.worker),
                error_patterns: w
                    .error_patterns
                    .iter()
                    .map(|p| ErrorPattern {
                        error_type: e(&p.error_type),
                        workers: p.workers.iter().map(|w| e(w)).collect(),
                        example: o(&p.example),
                        example_transaction: o(&p.example_transaction),
                        ..p.clone()
                    })
                    .collect(),
                slowest: w
                    .slowest
                    .iter()
                    .map(|x| Execution {
                        status: e(&x.status),
                        step: e(&x.step),
                        error_type: o(&x.error_type),
                        transaction_id: o(&x.transaction_id),
                        ..x.clone()
                    })
                    .collect(),
                ..w.clone()
            }),
            Detail::Workflow(w) => Detail::Workflow(WorkflowDetail {
                transaction_id: e(&w.transaction_id),
                stages: w
                    .stages
                    .iter()
                    .map(|s| TraceStage {
                        event_type: e(&s.event_type),
                        stage: e(&s.stage),
                        worker: o(&s.worker),
                        step: o(&s.step),
                        ..s.clone()
                    })
                    .collect(),
            }),
            Detail::Unavailable(why) => Detail::Unavailable(e(why)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(finished_at_us: i64, duration_ms: f64, status: &str) -> Execution {
        Execution {
            finished_at_us,
            duration_ms,
            status: status.into(),
            step: "s".into(),
            attempt: 1,
            error_type: None,
            transaction_id: None,
        }
    }

    #[test]
    fn the_trend_counts_each_bucket_and_its_nearest_rank_p95() {
        let window = TimeWindow {
            start_us: 1_000_000,
            end_us: 3_500_000,
        };
        let mut rows: Vec<Execution> = (1..=20)
            .map(|i| exec(1_000_000 + i * 10, i as f64, "completed"))
            .collect();
        rows.push(exec(2_500_000, 7.0, "failed"));
        rows.push(exec(3_400_000, 1.0, "cancelled"));
        let t = worker_trend(&rows, window, 1_000_000);
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].throughput_per_s, 20.0);
        assert_eq!(t[0].p95_latency_ms, Some(19.0));
        assert_eq!(t[1].error_rate, 100.0);
        // The last bucket is half inside the window: one per half second.
        assert_eq!(t[2].throughput_per_s, 2.0);
        assert_eq!(t[2].error_rate, 0.0);
    }

    #[test]
    fn slowest_first() {
        let rows = vec![
            exec(1, 5.0, "completed"),
            exec(2, 50.0, "failed"),
            exec(3, 7.0, "completed"),
        ];
        let s = slowest(&rows, 2);
        assert_eq!(
            s.iter().map(|e| e.duration_ms).collect::<Vec<_>>(),
            vec![50.0, 7.0]
        );
    }
}
