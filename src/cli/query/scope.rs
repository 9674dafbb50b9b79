//! The run and window a question is asked about, and the envelope a
//! windowed answer is given in.

use std::time::Duration;

use multiagents::clock;
use multiagents::monitor::RunScope;
use multiagents::monitor::coverage::Provenance;
use multiagents::runs::{self, ResolvedRun, RunSelector};
use multiagents::window::{self, TimeWindow};

/// Where a window ends.
#[derive(Debug, Clone, Copy)]
pub(super) enum Until {
    /// At the end of the selected (or latest) run.
    RunEnd,
    /// At this time, µs.
    At(i64),
}

/// Parses `--until`: `run-end`, `now` or a time.
pub(super) fn parse_until(text: &str) -> Result<Until, String> {
    if text.trim().eq_ignore_ascii_case("run-end") {
        return Ok(Until::RunEnd);
    }
    window::parse_time(text)
        .map(Until::At)
        .map_err(|e| e.to_string())
}

/// Default window when neither `--window` nor `--run` says otherwise: the
/// seed's `time_window_minutes=5`.
const DEFAULT_WINDOW: Duration = Duration::from_secs(5 * 60);

/// The window and run a question is asked about.
#[derive(Debug, Clone, Copy)]
pub(super) struct Scope {
    pub(super) window: TimeWindow,
    pub(super) run: Option<ResolvedRun>,
}

impl Scope {
    /// Resolves `--run`, `--until` and `--window`.
    pub(super) fn resolve(
        conn: &rusqlite::Connection,
        run: Option<RunSelector>,
        until: Option<Until>,
        length: Option<Duration>,
    ) -> anyhow::Result<Scope> {
        let run = match run {
            Some(selector) => Some(runs::resolve_run(conn, selector)?),
            None => None,
        };
        let until = match until {
            Some(Until::At(t)) => t,
            Some(Until::RunEnd) => match run {
                Some(r) => r.ended_at_us + 1,
                None => runs::resolve_run(conn, RunSelector::Latest)?.ended_at_us + 1,
            },
            // One past the end, so that the run's last event is inside the
            // half-open window.
            None => run.map_or_else(clock::now_us, |r| r.ended_at_us + 1),
        };
        let window = match (length, run) {
            (Some(length), _) => TimeWindow::ending_at(until, length),
            (None, Some(r)) => TimeWindow {
                start_us: r.started_at_us.min(until),
                end_us: until,
            },
            (None, None) => TimeWindow::ending_at(until, DEFAULT_WINDOW),
        };
        Ok(Scope { window, run })
    }

    /// The run as the monitors take it.
    pub(super) fn monitor_scope(&self) -> RunScope {
        self.run
            .map_or(RunScope::AllRuns, |r| RunScope::Run(r.run_id))
    }

    /// A window of this run (or of every run), for tables.
    pub(super) fn describe_window(&self, window: TimeWindow) -> String {
        match self.run {
            Some(r) => format!("{}, run {}", describe(window), r.run_id),
            None => format!("{}, every run", describe(window)),
        }
    }

    /// The envelope of an answer over `window` (the scope's, or one derived
    /// from it), made from `provenance`.
    pub(super) fn answer<T: serde::Serialize>(
        &self,
        window: TimeWindow,
        provenance: Provenance,
        body: T,
    ) -> Answer<T> {
        Answer {
            run_id: self.run.map(|r| r.run_id),
            window: WindowInfo::of(window),
            provenance,
            body,
            scope: self.describe_window(window),
        }
    }
}

/// A windowed answer as JSON: `run_id` (null for every run), `window`,
/// where it comes from (`source`: raw, rollups or raw+rollups, the part of
/// the window read from each, approximate fields, notes on what retention
/// removed), and the answer's keys flattened beside them.
#[derive(serde::Serialize)]
pub(super) struct Answer<T: serde::Serialize> {
    pub(super) run_id: Option<i64>,
    pub(super) window: WindowInfo,
    #[serde(flatten)]
    pub(super) provenance: Provenance,
    #[serde(flatten)]
    pub(super) body: T,
    /// The window and run in words, for tables.
    #[serde(skip)]
    pub(super) scope: String,
}

/// The window an answer covers, `[start, end)`.
#[derive(serde::Serialize)]
pub(super) struct WindowInfo {
    start: String,
    end: String,
    start_us: i64,
    end_us: i64,
}

impl WindowInfo {
    fn of(window: TimeWindow) -> Self {
        WindowInfo {
            start: clock::format_iso(window.start_us.max(0)),
            end: clock::format_iso(window.end_us),
            start_us: window.start_us,
            end_us: window.end_us,
        }
    }
}

/// A window in words: `start .. end`.
fn describe(window: TimeWindow) -> String {
    format!(
        "{} .. {}",
        clock::format_iso(window.start_us.max(0)),
        clock::format_iso(window.end_us)
    )
}
