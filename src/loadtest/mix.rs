//! What a load test starts: the mix of workflows, the workers behind them,
//! and the parsing of the command line's values.

use std::time::Duration;

use serde_json::json;

use crate::orchestrator::{Orchestrator, OrchestratorError};
use crate::worker::{Context, WorkerRegistry};
use crate::workflow::{Workflow, WorkflowBuilder, WorkflowError};
use crate::workload::{
    DemoSettings, demo_workflows, register_demo_workers, register_demo_workflows,
};

/// The workflow of `--mix noop`: three steps that return at once, so that a
/// rate test measures the runtime and the recorder, not the demo's sleeps.
pub const NOOP_WORKFLOW: &str = "noop";
/// The worker of every step of [`NOOP_WORKFLOW`].
pub const NOOP_WORKER: &str = "noop_processor";

/// One name of `--mix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MixEntry {
    /// `simple_monitoring`: fast → slow → flaky.
    Simple,
    /// `parallel_monitoring`: prepare, four parallel steps, combine.
    Parallel,
    /// `error_monitoring`: validate → flaky → cleanup.
    Error,
    /// `cpu_intensive_monitoring`: prepare → cpu_intensive → combine.
    Cpu,
    /// [`NOOP_WORKFLOW`]: three no-op steps.
    Noop,
}

impl MixEntry {
    /// Every entry, in the order `--help` lists them.
    pub const ALL: [MixEntry; 5] = [
        MixEntry::Simple,
        MixEntry::Parallel,
        MixEntry::Error,
        MixEntry::Cpu,
        MixEntry::Noop,
    ];

    /// The name given to `--mix`.
    pub fn name(self) -> &'static str {
        match self {
            MixEntry::Simple => "simple",
            MixEntry::Parallel => "parallel",
            MixEntry::Error => "error",
            MixEntry::Cpu => "cpu",
            MixEntry::Noop => "noop",
        }
    }

    /// The registered workflow it starts.
    pub fn workflow(self) -> &'static str {
        match self {
            MixEntry::Simple => "simple_monitoring",
            MixEntry::Parallel => "parallel_monitoring",
            MixEntry::Error => "error_monitoring",
            MixEntry::Cpu => "cpu_intensive_monitoring",
            MixEntry::Noop => NOOP_WORKFLOW,
        }
    }
}

impl std::str::FromStr for MixEntry {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        MixEntry::ALL
            .into_iter()
            .find(|e| e.name().eq_ignore_ascii_case(name) || e.workflow() == name)
            .ok_or_else(|| {
                format!("unknown workflow {name:?} in the mix (expected simple, parallel, error, cpu or noop)")
            })
    }
}

/// The workflows a load test draws from, with repetition as weight:
/// `simple,simple,error` starts twice as many simple workflows as error ones.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Mix(pub Vec<MixEntry>);

impl Mix {
    /// The workflow names, in the given order (repetitions kept).
    pub fn workflows(&self) -> Vec<&'static str> {
        self.0.iter().map(|e| e.workflow()).collect()
    }
}

impl Default for Mix {
    /// The seed's mix: simple, parallel and error workflows alike.
    fn default() -> Self {
        Mix(vec![MixEntry::Simple, MixEntry::Parallel, MixEntry::Error])
    }
}

/// Parses `--mix`: comma-separated names, at least one.
pub fn parse_mix(text: &str) -> Result<Mix, String> {
    let entries = text
        .split(',')
        .filter(|part| !part.trim().is_empty())
        .map(str::parse)
        .collect::<Result<Vec<MixEntry>, String>>()?;
    if entries.is_empty() {
        return Err(
            "the mix is empty: name at least one of simple, parallel, error, cpu or noop".into(),
        );
    }
    Ok(Mix(entries))
}

/// Slowest accepted rate: one start every 1000 s. Below it the schedule's
/// offsets leave what a `Duration` holds long before the run ends.
pub const MIN_RPS: f64 = 0.001;
/// Fastest accepted rate, far above what one process can start.
pub const MAX_RPS: f64 = 1_000_000.0;
/// Longest accepted stretch of the demo workers' sleeps (the seed's 0.5 s
/// step then sleeps about 8 minutes).
pub const MAX_TIME_SCALE: f64 = 1000.0;

/// Parses `--rps`: a positive, finite number of workflows per second.
pub fn parse_rps(text: &str) -> Result<f64, String> {
    let rps: f64 = text.trim().parse().map_err(|_| {
        format!("invalid rate {text:?}: expected workflows per second, e.g. 50 or 0.5")
    })?;
    if !(MIN_RPS..=MAX_RPS).contains(&rps) {
        return Err(format!(
            "invalid rate {text:?}: must be from {MIN_RPS} to {MAX_RPS} workflows per second"
        ));
    }
    Ok(rps)
}

/// Parses `--concurrency`: at least one workflow in flight.
pub fn parse_concurrency(text: &str) -> Result<usize, String> {
    let n: usize = text
        .trim()
        .parse()
        .map_err(|_| format!("invalid concurrency {text:?}: expected a positive whole number"))?;
    if n == 0 {
        return Err(format!("invalid concurrency {text:?}: must be at least 1"));
    }
    // tokio's semaphore holds at most usize::MAX >> 3 permits.
    if n > 1_000_000 {
        return Err(format!("invalid concurrency {text:?}: at most 1000000"));
    }
    Ok(n)
}

/// Parses `--time-scale`: a finite multiplier of the demo workers' sleeps, 0
/// or more (0 skips them).
pub fn parse_time_scale(text: &str) -> Result<f64, String> {
    let scale: f64 = text.trim().parse().map_err(|_| {
        format!("invalid time scale {text:?}: expected a number such as 1.0 or 0.1")
    })?;
    if !(0.0..=MAX_TIME_SCALE).contains(&scale) {
        return Err(format!(
            "invalid time scale {text:?}: must be from 0 to {MAX_TIME_SCALE}"
        ));
    }
    Ok(scale)
}

/// The workers a load test needs: the four demo workers and the no-op one.
pub fn load_test_workers(settings: DemoSettings) -> WorkerRegistry {
    let mut workers = WorkerRegistry::new();
    register_demo_workers(&mut workers, settings);
    workers.register(NOOP_WORKER, |_ctx: Context| async { Ok(json!({})) });
    workers
}

/// [`NOOP_WORKFLOW`]: three no-op steps.
fn noop_workflow() -> Result<Workflow, WorkflowError> {
    WorkflowBuilder::new(NOOP_WORKFLOW)
        .step("first", NOOP_WORKER)
        .step("second", NOOP_WORKER)
        .step("third", NOOP_WORKER)
        .build()
}

/// Registers the demo workflows and [`NOOP_WORKFLOW`] (their workers come
/// from [`load_test_workers`]).
pub fn register_load_test_workflows(orchestrator: &Orchestrator) -> Result<(), OrchestratorError> {
    register_demo_workflows(orchestrator)?;
    orchestrator.register_workflow(noop_workflow()?)
}

impl Mix {
    /// The workers (and compensation workers) the mix's workflows use,
    /// sorted: what a load test on worker hosts needs hosts for.
    pub fn workers(&self) -> Result<Vec<String>, WorkflowError> {
        let mut workflows = demo_workflows()?;
        workflows.push(noop_workflow()?);
        let names: Vec<&str> = self.0.iter().map(|e| e.workflow()).collect();
        let mut workers: Vec<String> = workflows
            .iter()
            .filter(|w| names.contains(&w.name()))
            .flat_map(|w| w.steps())
            .flat_map(|s| std::iter::once(s.worker()).chain(s.compensation_worker()))
            .map(str::to_string)
            .collect();
        workers.sort();
        workers.dedup();
        Ok(workers)
    }
}

/// The due time of start `k` at `rps` starts per second, from the start of
/// the load: `k / rps` seconds. Computed from the start rather than by
/// adding periods, so rounding never accumulates and a late start does not
/// shift the ones after it.
///
/// Saturates at `Duration::MAX` instead of panicking when the offset does not
/// fit (a rate the options refuse, reached through the library).
pub fn due_offset(k: u64, rps: f64) -> Duration {
    Duration::try_from_secs_f64(k as f64 / rps).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_names_map_to_workflows() {
        let mix = parse_mix("simple,parallel,error,cpu,noop").unwrap();
        assert_eq!(
            mix.workflows(),
            [
                "simple_monitoring",
                "parallel_monitoring",
                "error_monitoring",
                "cpu_intensive_monitoring",
                "noop"
            ]
        );
        assert_eq!(parse_mix(" noop , noop").unwrap().0.len(), 2);
        assert_eq!(
            parse_mix("simple_monitoring").unwrap().0,
            [MixEntry::Simple]
        );
    }

    #[test]
    fn bad_mixes_name_the_culprit() {
        let err = parse_mix("simple,bogus").unwrap_err();
        assert!(err.contains("\"bogus\""), "{err}");
        assert!(parse_mix("").is_err());
        assert!(parse_mix(" , ").is_err());
    }

    #[test]
    fn rates_and_concurrency_must_be_positive() {
        assert_eq!(parse_rps("50").unwrap(), 50.0);
        assert_eq!(parse_rps("0.5").unwrap(), 0.5);
        for bad in ["0", "-1", "nan", "inf", "x", ""] {
            assert!(parse_rps(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_concurrency("3").unwrap(), 3);
        for bad in ["0", "-1", "1.5", "x"] {
            assert!(parse_concurrency(bad).is_err(), "{bad}");
        }
        assert!(parse_time_scale("-0.1").is_err());
        assert_eq!(parse_time_scale("0").unwrap(), 0.0);
    }

    #[test]
    fn due_times_do_not_drift() {
        assert_eq!(due_offset(0, 50.0), Duration::ZERO);
        assert_eq!(due_offset(50, 50.0), Duration::from_secs(1));
        assert_eq!(due_offset(3_000_000, 50.0), Duration::from_secs(60_000));
        assert_eq!(due_offset(1, 0.5), Duration::from_secs(2));
    }
}
