//! Comparing two recorded runs — a baseline and a head, e.g. two load tests
//! before and after a change — worker by worker and workflow by workflow,
//! and flagging regressions.
//!
//! Figures, each computed in SQL for one run (scoped by the run's id range,
//! over the run's time bounds):
//! - workers ([`crate::monitor::performance::worker_performance`]): success rate
//!   (completed / executions × 100), p95 of the worker's own duration, and
//!   throughput (executions per minute);
//! - workflows ([`crate::monitor::outcomes::workflow_outcomes`]): success
//!   rate (completed / ended × 100), p95 latency (created → ended), and
//!   throughput (ended workflows per minute).
//!
//! A run's duration, for throughput, is its *active span*: from its first
//! workflow's creation to its last workflow's end. Start-up and the wait
//! before a process exits do not dilute the rate, so two runs that did the
//! same work at the same pace compare equal whatever else their processes
//! did.
//!
//! Regressions, with `threshold` t (default 0.2):
//! - success rate: head < base − t × 100 percentage points (t = 0.2: a drop
//!   of more than 20 points);
//! - p95: head > base × (1 + t), and head − base > `p95_floor_ms` (default
//!   1 ms), so that sub-millisecond jitter of no-op workers is not a
//!   regression;
//! - throughput: head < base × (1 − t).
//!
//! A worker or workflow seen in only one of the runs is listed but cannot
//! regress: there is nothing to compare it with.

use rusqlite::Connection;
use serde::Serialize;

use crate::monitor::outcomes::{WorkflowOutcome, workflow_outcomes};
use crate::monitor::performance::worker_performance;
use crate::monitor::series::{Series, SeriesSource, series};
use crate::monitor::worker::tracked_workers;
use crate::monitor::{MonitorError, RunScope};
use crate::runs::ResolvedRun;
use crate::window::TimeWindow;

/// When a change is a regression.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    /// The relative tolerance t (see the module docs).
    pub threshold: f64,
    /// A p95 increase must also exceed this many milliseconds.
    pub p95_floor_ms: f64,
}

impl Thresholds {
    /// Tolerance `threshold`, with the default 1 ms p95 floor.
    pub fn new(threshold: f64) -> Self {
        Thresholds {
            threshold,
            p95_floor_ms: 1.0,
        }
    }
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds::new(0.2)
    }
}

/// Parses `--threshold`: a fraction from 0.001 (0.1 %) to 100 (10,000 %).
pub fn parse_threshold(text: &str) -> Result<f64, String> {
    let t: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("invalid threshold {text:?}: expected a fraction such as 0.2"))?;
    if !(0.001..=100.0).contains(&t) {
        return Err(format!(
            "invalid threshold {text:?}: must be from 0.001 to 100"
        ));
    }
    Ok(t)
}

/// Parses `--p95-floor-ms`: milliseconds from 0 to an hour (3,600,000).
pub fn parse_p95_floor_ms(text: &str) -> Result<f64, String> {
    let ms: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("invalid p95 floor {text:?}: expected milliseconds such as 1.0"))?;
    if !(0.0..=3_600_000.0).contains(&ms) {
        return Err(format!(
            "invalid p95 floor {text:?}: must be from 0 to 3600000 ms"
        ));
    }
    Ok(ms)
}

/// Whether a row is a worker or a workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A worker (figures of its executions).
    Worker,
    /// A workflow definition (figures of its executions).
    Workflow,
}

impl Kind {
    /// `worker` or `workflow`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Worker => "worker",
            Kind::Workflow => "workflow",
        }
    }
}

/// What is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Success rate, percent.
    SuccessRate,
    /// p95 duration (workers) or latency (workflows), milliseconds.
    P95,
    /// Executions or ended workflows per minute.
    Throughput,
}

impl Metric {
    /// A name for people.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::SuccessRate => "success rate",
            Metric::P95 => "p95",
            Metric::Throughput => "throughput",
        }
    }
}

/// One side's figures for a worker or workflow.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Figures {
    /// Executions (workers) or ended workflows.
    pub count: u64,
    /// Percent.
    pub success_rate: f64,
    /// Milliseconds.
    pub p95_ms: f64,
    /// Per minute of the run's active span.
    pub throughput_per_minute: f64,
}

/// A flagged change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Regression {
    /// Worker or workflow.
    pub kind: Kind,
    /// Its name.
    pub name: String,
    /// What got worse.
    pub metric: Metric,
    /// The base's value.
    pub base: f64,
    /// The head's value.
    pub head: f64,
    /// The limit the head's value crossed.
    pub limit: f64,
}

impl Regression {
    /// One sentence for people.
    pub fn describe(&self) -> String {
        let (unit, word) = match self.metric {
            Metric::SuccessRate => ("%", "below"),
            Metric::P95 => (" ms", "above"),
            Metric::Throughput => ("/min", "below"),
        };
        format!(
            "{} {}: {} {:.2}{unit} → {:.2}{unit} ({word} the limit {:.2}{unit})",
            self.kind.as_str(),
            self.name,
            self.metric.as_str(),
            self.base,
            self.head,
            self.limit
        )
    }
}

/// A worker or workflow in both runs (or one).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delta {
    /// Worker or workflow.
    pub kind: Kind,
    /// Its name.
    pub name: String,
    /// In the base run, if it ran there.
    pub base: Option<Figures>,
    /// In the head run, if it ran there.
    pub head: Option<Figures>,
    /// head − base, percentage points.
    pub success_rate_change_points: Option<f64>,
    /// head / base (`None` when base is 0).
    pub p95_ratio: Option<f64>,
    /// head / base (`None` when base is 0).
    pub throughput_ratio: Option<f64>,
    /// The metrics flagged.
    pub regressions: Vec<Metric>,
}

/// One run as compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSide {
    /// The run.
    pub run: ResolvedRun,
    /// Ended workflows.
    pub workflows: u64,
    /// First workflow created → last ended, seconds (0 without workflows).
    pub active_span_s: f64,
}

/// `compare`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// What counted as a regression.
    pub thresholds: Thresholds,
    /// The baseline.
    pub base: RunSide,
    /// The run judged.
    pub head: RunSide,
    /// Workers by name.
    pub workers: Vec<Delta>,
    /// Workflows by name.
    pub workflows: Vec<Delta>,
    /// Every flagged change.
    pub regressions: Vec<Regression>,
}

impl Comparison {
    /// Whether anything regressed.
    pub fn has_regressions(&self) -> bool {
        !self.regressions.is_empty()
    }
}

/// The window holding everything a run recorded: its start to its end, or
/// to any time for a run that never ended cleanly (its recorded end is only
/// its last workflow activity).
fn run_window(run: &ResolvedRun) -> TimeWindow {
    TimeWindow {
        start_us: run.started_at_us,
        end_us: if run.unfinished {
            i64::MAX
        } else {
            run.ended_at_us.saturating_add(1)
        },
    }
}

fn per_minute(count: u64, span_us: i64) -> f64 {
    if span_us > 0 {
        count as f64 / (span_us as f64 / 60e6)
    } else {
        0.0
    }
}

struct Side {
    summary: RunSide,
    workers: Vec<(String, Figures)>,
    workflows: Vec<(String, Figures)>,
}

fn measure(conn: &Connection, run: ResolvedRun) -> Result<Side, MonitorError> {
    let window = run_window(&run);
    let scope = RunScope::Run(run.run_id);
    let outcomes = workflow_outcomes(conn, window, scope)?;
    let overall: Option<&WorkflowOutcome> = outcomes.iter().find(|o| o.workflow_name.is_none());
    let span_us = overall.map_or(0, |o| o.last_ended_us - o.first_created_us);
    let workflows = outcomes
        .iter()
        .filter_map(|o| {
            let name = o.workflow_name.clone()?;
            Some((
                name,
                Figures {
                    count: o.total,
                    success_rate: o.success_rate,
                    p95_ms: o.p95_latency_ms,
                    throughput_per_minute: per_minute(o.total, span_us),
                },
            ))
        })
        .collect();
    let mut workers = Vec::new();
    for name in tracked_workers(conn, window, scope)? {
        let perf = worker_performance(conn, &name, window, scope)?;
        workers.push((
            name,
            Figures {
                count: perf.total_executions,
                success_rate: perf.success_rate,
                p95_ms: perf.p95_duration_ms,
                throughput_per_minute: per_minute(perf.total_executions, span_us),
            },
        ));
    }
    Ok(Side {
        summary: RunSide {
            run,
            workflows: overall.map_or(0, |o| o.total),
            active_span_s: span_us as f64 / 1e6,
        },
        workers,
        workflows,
    })
}

fn ratio(head: f64, base: f64) -> Option<f64> {
    (base > 0.0).then(|| head / base)
}

/// The regressions between two sides' figures, with the limit each crossed.
pub fn judge(base: &Figures, head: &Figures, thresholds: &Thresholds) -> Vec<(Metric, f64)> {
    let t = thresholds.threshold;
    let mut flagged = Vec::new();
    let success_limit = base.success_rate - t * 100.0;
    if head.success_rate < success_limit {
        flagged.push((Metric::SuccessRate, success_limit));
    }
    let p95_limit = (base.p95_ms * (1.0 + t)).max(base.p95_ms + thresholds.p95_floor_ms);
    if head.p95_ms > p95_limit {
        flagged.push((Metric::P95, p95_limit));
    }
    let throughput_limit = base.throughput_per_minute * (1.0 - t);
    if base.throughput_per_minute > 0.0 && head.throughput_per_minute < throughput_limit {
        flagged.push((Metric::Throughput, throughput_limit));
    }
    flagged
}

fn pair(
    kind: Kind,
    base: Vec<(String, Figures)>,
    head: Vec<(String, Figures)>,
    thresholds: &Thresholds,
    regressions: &mut Vec<Regression>,
) -> Vec<Delta> {
    let mut names: Vec<String> = base
        .iter()
        .chain(head.iter())
        .map(|(n, _)| n.clone())
        .collect();
    names.sort();
    names.dedup();
    let find = |side: &[(String, Figures)], name: &str| {
        side.iter().find(|(n, _)| n == name).map(|(_, f)| *f)
    };
    names
        .into_iter()
        .map(|name| {
            let b = find(&base, &name);
            let h = find(&head, &name);
            let mut delta = Delta {
                kind,
                name: name.clone(),
                base: b,
                head: h,
                success_rate_change_points: None,
                p95_ratio: None,
                throughput_ratio: None,
                regressions: Vec::new(),
            };
            if let (Some(b), Some(h)) = (b, h) {
                delta.success_rate_change_points = Some(h.success_rate - b.success_rate);
                delta.p95_ratio = ratio(h.p95_ms, b.p95_ms);
                delta.throughput_ratio = ratio(h.throughput_per_minute, b.throughput_per_minute);
                for (metric, limit) in judge(&b, &h, thresholds) {
                    let (bv, hv) = match metric {
                        Metric::SuccessRate => (b.success_rate, h.success_rate),
                        Metric::P95 => (b.p95_ms, h.p95_ms),
                        Metric::Throughput => (b.throughput_per_minute, h.throughput_per_minute),
                    };
                    delta.regressions.push(metric);
                    regressions.push(Regression {
                        kind,
                        name: name.clone(),
                        metric,
                        base: bv,
                        head: hv,
                        limit,
                    });
                }
            }
            delta
        })
        .collect()
}

/// Compares `head` with `base`: per worker and per workflow, success rate,
/// p95 and throughput, with regressions flagged by `thresholds`.
pub fn compare_runs(
    conn: &Connection,
    base: ResolvedRun,
    head: ResolvedRun,
    thresholds: &Thresholds,
) -> Result<Comparison, MonitorError> {
    let b = measure(conn, base)?;
    let h = measure(conn, head)?;
    let mut regressions = Vec::new();
    let workers = pair(
        Kind::Worker,
        b.workers,
        h.workers,
        thresholds,
        &mut regressions,
    );
    let workflows = pair(
        Kind::Workflow,
        b.workflows,
        h.workflows,
        thresholds,
        &mut regressions,
    );
    Ok(Comparison {
        thresholds: *thresholds,
        base: b.summary,
        head: h.summary,
        workers,
        workflows,
        regressions,
    })
}

/// `run`'s series over its own window — its start to its end (or its last
/// record) — for drawing two runs side by side on one time axis that counts
/// from each run's start (`compare --format html`): the same series as the
/// report and `query series` ([`crate::monitor::series`]).
pub fn run_series(conn: &Connection, run: &ResolvedRun) -> Result<Series, MonitorError> {
    let window = TimeWindow {
        start_us: run.started_at_us,
        end_us: run.ended_at_us.saturating_add(1),
    };
    series(conn, window, RunScope::Run(run.run_id), SeriesSource::Auto)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(success_rate: f64, p95_ms: f64, throughput_per_minute: f64) -> Figures {
        Figures {
            count: 100,
            success_rate,
            p95_ms,
            throughput_per_minute,
        }
    }

    #[test]
    fn identical_figures_do_not_regress() {
        let f = figures(90.0, 100.0, 600.0);
        assert!(judge(&f, &f, &Thresholds::default()).is_empty());
    }

    #[test]
    fn each_rule_flags_beyond_its_limit_only() {
        let t = Thresholds::default();
        let base = figures(90.0, 100.0, 600.0);
        // Success: more than 20 points down.
        assert!(judge(&base, &figures(70.0, 100.0, 600.0), &t).is_empty());
        assert_eq!(
            judge(&base, &figures(69.9, 100.0, 600.0), &t),
            [(Metric::SuccessRate, 70.0)]
        );
        // p95: more than 20% up.
        assert!(judge(&base, &figures(90.0, 120.0, 600.0), &t).is_empty());
        assert_eq!(
            judge(&base, &figures(90.0, 200.0, 600.0), &t)[0].0,
            Metric::P95
        );
        // Throughput: more than 20% down.
        assert!(judge(&base, &figures(90.0, 100.0, 480.0), &t).is_empty());
        assert_eq!(
            judge(&base, &figures(90.0, 100.0, 479.0), &t)[0].0,
            Metric::Throughput
        );
    }

    #[test]
    fn sub_millisecond_p95_jitter_is_not_a_regression() {
        let t = Thresholds::default();
        let base = figures(100.0, 0.004, 600.0);
        assert!(judge(&base, &figures(100.0, 0.009, 600.0), &t).is_empty());
        assert_eq!(
            judge(&base, &figures(100.0, 1.5, 600.0), &t)[0].0,
            Metric::P95
        );
    }

    #[test]
    fn thresholds_must_be_positive() {
        assert_eq!(parse_threshold("0.2").unwrap(), 0.2);
        for bad in ["0", "-0.1", "nan", "x"] {
            assert!(parse_threshold(bad).is_err(), "{bad}");
        }
    }
}
