//! Totals over a window, as the Prometheus exposition and the run reports
//! publish them: per-worker totals and duration histograms (from the
//! rollups for every run, or from raw events for one run), throughput per
//! minute and workflow outcome counts. Each is one `queries/*.sql` file and
//! one typed function here.

use rusqlite::Connection;
use serde::Serialize;

use super::scope::WindowParams;
use crate::sql;
use crate::window::TimeWindow;

/// Where per-worker totals and histograms are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The per-minute rollups of one run (`Some(run_id)`) or of every run in
    /// the file (`None`): cheap, exact counts, and kept after retention
    /// deleted the raw events (minutes whose start is in the window count).
    Rollups {
        /// One run, or every run.
        run_id: Option<i64>,
    },
    /// The raw events of the id range `[first, last]` (one run, or every
    /// run with the whole `i64` range): exact per run, gone after retention.
    Events {
        /// First row id.
        first: i64,
        /// Last row id.
        last: i64,
    },
}

/// Terminal executions of one worker and event type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerTotals {
    /// The worker.
    pub worker: String,
    /// `command` or `compensation`.
    pub event_type: String,
    /// Completed executions.
    pub completed: u64,
    /// Failed executions (an error or a panic).
    pub failed: u64,
    /// Executions stopped by the step's timeout.
    pub timeout: u64,
    /// Executions cancelled with their workflow.
    pub cancelled: u64,
    /// Sum of the worker's own time (processing → finished), µs.
    pub duration_sum_us: i64,
}

impl WorkerTotals {
    /// Every terminal execution.
    pub fn total(&self) -> u64 {
        self.completed + self.failed + self.timeout + self.cancelled
    }
}

/// One (non-cumulative) bucket of a worker's duration histogram.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistogramBucket {
    /// The worker.
    pub worker: String,
    /// Upper bound in milliseconds (inclusive); `-1` is +Inf.
    pub le_ms: i64,
    /// Executions in this bucket (above the next lower bound).
    pub count: u64,
}

/// Events that ended in one calendar minute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MinuteThroughput {
    /// Start of the minute, µs.
    pub minute_us: i64,
    /// Start of the minute, ISO-8601.
    pub minute: String,
    /// Completed events.
    pub completed: u64,
    /// Failed events.
    pub failed: u64,
    /// Timed-out events.
    pub timeout: u64,
    /// Cancelled events.
    pub cancelled: u64,
}

impl MinuteThroughput {
    /// Every event that ended in the minute.
    pub fn total(&self) -> u64 {
        self.completed + self.failed + self.timeout + self.cancelled
    }
}

/// Workflows of one name with one outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkflowOutcome {
    /// The workflow's name.
    pub workflow_name: String,
    /// Its terminal state, or `unfinished`.
    pub outcome: String,
    /// How many.
    pub count: u64,
}

fn count(row: &rusqlite::Row<'_>, column: &str) -> rusqlite::Result<u64> {
    let v: Option<i64> = row.get(column)?;
    Ok(u64::try_from(v.unwrap_or(0)).unwrap_or(0))
}

/// Per-worker, per-event-type totals over `window` from `source`, sorted by
/// worker then event type.
pub fn worker_totals(
    conn: &Connection,
    window: TimeWindow,
    source: Source,
) -> rusqlite::Result<Vec<WorkerTotals>> {
    let map = |row: &rusqlite::Row<'_>| {
        Ok(WorkerTotals {
            worker: row.get("worker")?,
            event_type: row.get("event_type")?,
            completed: count(row, "completed")?,
            failed: count(row, "failed")?,
            timeout: count(row, "timeout")?,
            cancelled: count(row, "cancelled")?,
            duration_sum_us: row.get::<_, Option<i64>>("duration_sum_us")?.unwrap_or(0),
        })
    };
    query_by_source(
        conn,
        window,
        source,
        [
            sql::queries::WORKER_TOTALS_ROLLUPS,
            sql::queries::WORKER_TOTALS_EVENTS,
        ],
        map,
    )
}

/// Runs the rollup or the raw-events form of a question: the rollups are
/// scoped by run id, the events by the run's id range.
fn query_by_source<T>(
    conn: &Connection,
    window: TimeWindow,
    source: Source,
    [rollups_sql, events_sql]: [&str; 2],
    map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    match source {
        Source::Rollups { run_id } => conn
            .prepare_cached(rollups_sql)?
            .query_map(WindowParams::by_run_id(window, run_id).bind(), map)?
            .collect(),
        Source::Events { first, last } => conn
            .prepare_cached(events_sql)?
            .query_map(WindowParams::by_id_range(window, (first, last)).bind(), map)?
            .collect(),
    }
}

/// Per-worker duration histogram buckets over `window` from `source`, sorted
/// by worker then bound (+Inf, `-1`, first).
pub fn worker_histograms(
    conn: &Connection,
    window: TimeWindow,
    source: Source,
) -> rusqlite::Result<Vec<HistogramBucket>> {
    let map = |row: &rusqlite::Row<'_>| {
        Ok(HistogramBucket {
            worker: row.get("worker")?,
            le_ms: row.get("le_ms")?,
            count: count(row, "count")?,
        })
    };
    query_by_source(
        conn,
        window,
        source,
        [
            sql::queries::WORKER_HISTOGRAM_ROLLUPS,
            sql::queries::WORKER_HISTOGRAM_EVENTS,
        ],
        map,
    )
}

/// Events that ended per minute in `window` within the id range
/// `[first, last]`, oldest first; minutes without events are absent.
pub fn throughput_per_minute(
    conn: &Connection,
    window: TimeWindow,
    first: i64,
    last: i64,
) -> rusqlite::Result<Vec<MinuteThroughput>> {
    conn.prepare_cached(sql::queries::THROUGHPUT_PER_MINUTE)?
        .query_map(
            WindowParams::by_id_range(window, (first, last)).bind(),
            |row| {
                let minute_us: i64 = row.get("minute_us")?;
                Ok(MinuteThroughput {
                    minute_us,
                    minute: crate::clock::format_iso(minute_us),
                    completed: count(row, "completed")?,
                    failed: count(row, "failed")?,
                    timeout: count(row, "timeout")?,
                    cancelled: count(row, "cancelled")?,
                })
            },
        )?
        .collect()
}

/// Workflows by name and outcome: ended in `window` by terminal state, and
/// created before its end but never ended as `unfinished`, within the id
/// range `[first, last]`; sorted by name then outcome.
pub fn workflow_outcome_counts(
    conn: &Connection,
    window: TimeWindow,
    first: i64,
    last: i64,
) -> rusqlite::Result<Vec<WorkflowOutcome>> {
    conn.prepare_cached(sql::queries::WORKFLOW_OUTCOME_COUNTS)?
        .query_map(
            WindowParams::by_id_range(window, (first, last)).bind(),
            |row| {
                Ok(WorkflowOutcome {
                    workflow_name: row.get(0)?,
                    outcome: row.get(1)?,
                    count: count(row, "count")?,
                })
            },
        )?
        .collect()
}

/// One bucket of a workflow name's duration histogram (not cumulative).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkflowDurationBucket {
    /// The workflow's name.
    pub workflow_name: String,
    /// Upper bound, inclusive, ms ([`HISTOGRAM_BOUNDS_MS`](crate::store::histogram::HISTOGRAM_BOUNDS_MS));
    /// `-1` is +Inf.
    pub le_ms: i64,
    /// Workflows in this bucket.
    pub count: u64,
    /// Sum of their durations (created to ended), µs.
    pub duration_sum_us: i64,
}

/// Duration (created to ended) histogram buckets per workflow name of the
/// workflows that ended in `window` within the id range `[first, last]`,
/// from the raw workflows (`queries/workflow_duration_histogram.sql`),
/// sorted by name then bound (+Inf, `-1`, first).
pub fn workflow_duration_histogram(
    conn: &Connection,
    window: TimeWindow,
    first: i64,
    last: i64,
) -> rusqlite::Result<Vec<WorkflowDurationBucket>> {
    conn.prepare_cached(sql::queries::WORKFLOW_DURATION_HISTOGRAM)?
        .query_map(
            WindowParams::by_id_range(window, (first, last)).bind(),
            |row| {
                Ok(WorkflowDurationBucket {
                    workflow_name: row.get("workflow_name")?,
                    le_ms: row.get("le_ms")?,
                    count: count(row, "count")?,
                    duration_sum_us: row.get::<_, Option<i64>>("duration_sum_us")?.unwrap_or(0),
                })
            },
        )?
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::store::histogram::{HISTOGRAM_BOUNDS_MS, histogram_bucket};

    /// The `CASE … END AS le_ms` of `sql`, with `duration` (the SQL
    /// expression it buckets) probed around every bound, gives the writer's
    /// bucket.
    fn assert_case_matches_the_writer(sql: &str, duration: &str) {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let case_start = sql.find("CASE").unwrap();
        let case_end = sql.find("END AS le_ms").unwrap() + 3;
        let case = sql[case_start..case_end].replace(duration, ":d");
        let mut stmt = conn.prepare(&format!("SELECT {case}")).unwrap();
        let mut probes = vec![0_i64, 1, 999, 20_000_000];
        for &b in HISTOGRAM_BOUNDS_MS {
            probes.extend([b * 1000 - 1, b * 1000, b * 1000 + 1]);
        }
        for d in probes {
            let le: i64 = stmt
                .query_row(rusqlite::named_params! {":d": d}, |r| r.get(0))
                .unwrap();
            assert_eq!(le, histogram_bucket(d), "duration {d} µs");
        }
    }

    /// The CASE of workflow_duration_histogram.sql is the writer's bucketing.
    #[test]
    fn the_workflow_sql_buckets_match_the_writer() {
        assert_case_matches_the_writer(
            crate::sql::queries::WORKFLOW_DURATION_HISTOGRAM,
            "w.ended_at_us - w.created_at_us",
        );
    }

    /// The CASE of worker_histogram_events.sql is the writer's bucketing.
    #[test]
    fn the_sql_buckets_match_the_writer() {
        assert_case_matches_the_writer(
            crate::sql::queries::WORKER_HISTOGRAM_EVENTS,
            "e.duration_us",
        );
    }
}
