//! Which rows a question covers: the runs ([`RunScope`]) and the window,
//! and the named parameters that carry both into every query.

use rusqlite::types::Value;

use crate::store::IdAllocator;
use crate::window::TimeWindow;

/// A window that holds every timestamp: "all time" for questions that take a
/// window, such as
/// [`WorkerMonitor::get_tracked_workers`](super::WorkerMonitor::get_tracked_workers).
pub const ALL_TIME: TimeWindow = TimeWindow {
    start_us: i64::MIN,
    end_us: i64::MAX,
};

/// Which runs a question covers.
///
/// One database file holds many process runs (a demo, then a load test, …);
/// scoping to one run compares like with like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunScope {
    /// Every run in the file.
    #[default]
    AllRuns,
    /// One run, by its `runs.id`.
    Run(i64),
}

impl RunScope {
    /// The `[:run_first, :run_last]` id bounds the queries take.
    ///
    /// All runs is the whole `i64` range rather than a separate query, so
    /// that each question is one SQL file.
    pub fn id_bounds(self) -> (i64, i64) {
        match self {
            RunScope::AllRuns => (i64::MIN, i64::MAX),
            RunScope::Run(run_id) => IdAllocator::run_range(run_id),
        }
    }

    /// The `:run_id` the queries of tables that carry a `run_id` column
    /// (system samples, custom metrics, alerts, rollups) take: the run, or
    /// NULL for every run.
    pub fn run_id(self) -> Option<i64> {
        match self {
            RunScope::AllRuns => None,
            RunScope::Run(run_id) => Some(run_id),
        }
    }
}

/// The named parameters of a question over a window, bound (never formatted
/// into the SQL); more are added with [`WindowParams::and`].
#[derive(Debug, Clone)]
pub(crate) struct WindowParams(Vec<(&'static str, Value)>);

impl WindowParams {
    /// `:window_start` and `:window_end` (µs) and `:run_id` (one run, or
    /// NULL for every run): the queries of the tables that carry a `run_id`
    /// column (rollups, system samples, custom metrics, alerts).
    pub(crate) fn by_run_id(window: TimeWindow, run_id: Option<i64>) -> Self {
        WindowParams(vec![
            (":window_start", Value::Integer(window.start_us)),
            (":window_end", Value::Integer(window.end_us)),
            (":run_id", run_id.into()),
        ])
    }

    /// `:window_start` and `:window_end` (µs) and the row id range
    /// `[:run_first, :run_last]` (see [`RunScope::id_bounds`]): the queries
    /// of raw events and workflows, whose ids carry their run.
    pub(crate) fn by_id_range(window: TimeWindow, (first, last): (i64, i64)) -> Self {
        WindowParams(vec![
            (":window_start", Value::Integer(window.start_us)),
            (":window_end", Value::Integer(window.end_us)),
            (":run_first", Value::Integer(first)),
            (":run_last", Value::Integer(last)),
        ])
    }

    /// The same parameters and `name` bound to `value`.
    pub(crate) fn and(mut self, name: &'static str, value: impl Into<Value>) -> Self {
        self.0.push((name, value.into()));
        self
    }

    /// The parameters, as `query_row` and `query_map` take them.
    pub(crate) fn bind(&self) -> &[(&'static str, Value)] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_scope_is_its_id_range() {
        assert_eq!(RunScope::AllRuns.id_bounds(), (i64::MIN, i64::MAX));
        let (first, last) = RunScope::Run(3).id_bounds();
        assert_eq!(first, 3 << 40);
        assert_eq!(last, (4 << 40) - 1);
    }

    #[test]
    fn window_params_bind_by_name() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let window = TimeWindow {
            start_us: 1,
            end_us: 2,
        };
        let sql = "SELECT :window_start, :window_end, :run_id, :worker";
        let params = WindowParams::by_run_id(window, None).and(":worker", "w".to_string());
        let row: (i64, i64, Option<i64>, String) = conn
            .query_row(sql, params.bind(), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .unwrap();
        assert_eq!(row, (1, 2, None, "w".to_string()));
        let sql = "SELECT :window_start + :window_end + :run_first + :run_last";
        let params = WindowParams::by_id_range(window, (3, 4));
        let sum: i64 = conn.query_row(sql, params.bind(), |r| r.get(0)).unwrap();
        assert_eq!(sum, 10);
    }
}
