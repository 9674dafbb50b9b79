//! Workflow definitions and their builder.
//!
//! ```
//! use multiagents::workflow::{Step, WorkflowBuilder};
//!
//! let wf = WorkflowBuilder::new("parallel_monitoring")
//!     .step("prepare", "fast_processor")
//!     .parallel([
//!         Step::new("process_a", "fast_processor"),
//!         Step::new("process_b", "slow_processor"),
//!     ])
//!     .step("combine", "fast_processor")
//!     .build()
//!     .unwrap();
//! assert_eq!(wf.step_count(), 4);
//! ```

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// How often and how patiently a step is retried.
///
/// Attempt `n` (from 1) that fails is followed, if `n < max_attempts`, by a
/// pause of `initial_backoff × multiplier^(n-1)`, capped at `max_backoff`.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, at least 1 (1 means no retry).
    pub max_attempts: u32,
    /// Pause after the first failed attempt.
    pub initial_backoff: Duration,
    /// Growth of the pause per further attempt.
    pub multiplier: f64,
    /// Longest pause.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::none()
    }
}

impl RetryPolicy {
    /// One attempt, no retry.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            initial_backoff: Duration::ZERO,
            multiplier: 1.0,
            max_backoff: Duration::ZERO,
        }
    }

    /// `max_attempts` attempts with exponential backoff from 10 ms, doubling,
    /// capped at 1 s.
    pub fn attempts(max_attempts: u32) -> Self {
        RetryPolicy {
            max_attempts: max_attempts.max(1),
            initial_backoff: Duration::from_millis(10),
            multiplier: 2.0,
            max_backoff: Duration::from_secs(1),
        }
    }

    /// The same attempts with another backoff.
    pub fn with_backoff(mut self, initial: Duration, multiplier: f64, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.multiplier = if multiplier.is_finite() && multiplier >= 1.0 {
            multiplier
        } else {
            1.0
        };
        self.max_backoff = max;
        self
    }

    /// The pause after failed attempt `attempt` (from 1), or `None` when no
    /// attempt follows.
    pub fn backoff_after(&self, attempt: u32) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.initial_backoff.as_secs_f64() * self.multiplier.powi(exponent);
        // Capped as Durations, not as f64: converting a cap near
        // Duration::MAX to f64 and back overflows (and panicked), and the
        // round trip could land above the cap.
        let pause = if secs.is_nan() {
            self.max_backoff
        } else if secs <= 0.0 {
            Duration::ZERO
        } else {
            Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
        };
        Some(pause.min(self.max_backoff))
    }
}

/// One step: a named call of a worker, with its own timeout, retry policy and
/// optional compensation.
#[derive(Debug, Clone)]
pub struct Step {
    pub(crate) name: Arc<str>,
    pub(crate) worker: Arc<str>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: RetryPolicy,
    pub(crate) compensation: Option<Arc<str>>,
}

impl Step {
    /// Step `name` run by worker `worker`.
    pub fn new(name: &str, worker: &str) -> Self {
        Step {
            name: Arc::from(name),
            worker: Arc::from(worker),
            timeout: None,
            retry: RetryPolicy::none(),
            compensation: None,
        }
    }

    /// Stops an attempt that runs longer; it is recorded as `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Retries failed attempts.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The worker that undoes this step if a later one fails.
    pub fn compensation(mut self, worker: &str) -> Self {
        self.compensation = Some(Arc::from(worker));
        self
    }

    /// The step's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The worker that runs it.
    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// Its compensation worker, if any.
    pub fn compensation_worker(&self) -> Option<&str> {
        self.compensation.as_deref()
    }
}

/// A group of steps run one after another (`Sequential`) or at the same time
/// (`Parallel`).
#[derive(Debug, Clone)]
pub enum Stage {
    /// One step.
    Single(Step),
    /// Steps that run concurrently; the next stage sees all their results.
    Parallel(Vec<Step>),
}

impl Stage {
    /// The stage's steps.
    pub fn steps(&self) -> &[Step] {
        match self {
            Stage::Single(step) => std::slice::from_ref(step),
            Stage::Parallel(steps) => steps,
        }
    }
}

/// A validated workflow definition.
#[derive(Debug, Clone)]
pub struct Workflow {
    pub(crate) name: Arc<str>,
    pub(crate) stages: Vec<Stage>,
}

impl Workflow {
    /// The workflow's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its stages in order.
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// Number of steps in all stages.
    pub fn step_count(&self) -> usize {
        self.stages.iter().map(|s| s.steps().len()).sum()
    }

    /// Every step in order.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.stages.iter().flat_map(|s| s.steps())
    }

    /// Checks that every worker (steps and compensations) is known.
    pub fn check_workers(&self, known: impl Fn(&str) -> bool) -> Result<(), WorkflowError> {
        for step in self.steps() {
            if !known(&step.worker) {
                return Err(WorkflowError::UnknownWorker {
                    workflow: self.name.to_string(),
                    step: step.name.to_string(),
                    worker: step.worker.to_string(),
                });
            }
            if let Some(comp) = &step.compensation
                && !known(comp)
            {
                return Err(WorkflowError::UnknownWorker {
                    workflow: self.name.to_string(),
                    step: step.name.to_string(),
                    worker: comp.to_string(),
                });
            }
        }
        Ok(())
    }
}

/// A workflow definition that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    /// No steps at all.
    #[error("workflow {workflow:?} has no steps")]
    Empty {
        /// The workflow.
        workflow: String,
    },
    /// Two steps share a name, so results and traces would be ambiguous.
    #[error("workflow {workflow:?}: step name {step:?} is used twice")]
    DuplicateStep {
        /// The workflow.
        workflow: String,
        /// The repeated name.
        step: String,
    },
    /// A step names a worker nobody registered.
    #[error("workflow {workflow:?}: step {step:?} uses unknown worker {worker:?}")]
    UnknownWorker {
        /// The workflow.
        workflow: String,
        /// The step.
        step: String,
        /// The missing worker.
        worker: String,
    },
    /// A parallel group without steps.
    #[error("workflow {workflow:?}: a parallel group has no steps")]
    EmptyParallel {
        /// The workflow.
        workflow: String,
    },
    /// A step or workflow name that is empty.
    #[error("workflow {workflow:?}: empty {what} name")]
    EmptyName {
        /// The workflow.
        workflow: String,
        /// "workflow", "step" or "worker".
        what: &'static str,
    },
}

/// Builds a [`Workflow`]; `build()` validates it.
///
/// Steps run in the order added; `parallel` adds a group that runs at the
/// same time; `timeout`, `retry` and `compensation` configure the step (or
/// group) added last. A step's worker receives the workflow input merged
/// with the results of the steps before it.
///
/// ```
/// use std::time::Duration;
///
/// use multiagents::workflow::{RetryPolicy, Step, WorkflowBuilder, WorkflowError};
///
/// let order = WorkflowBuilder::new("order")
///     .step("reserve", "inventory")
///     .compensation("release")
///     .parallel([Step::new("charge", "payments"), Step::new("notify", "mailer")])
///     .retry(RetryPolicy::attempts(3))
///     .timeout(Duration::from_secs(5))
///     .build()?;
/// assert_eq!(order.step_count(), 3);
///
/// // Mistakes are refused when building, not when running.
/// let twice = WorkflowBuilder::new("twice")
///     .step("a", "inventory")
///     .step("a", "payments")
///     .build();
/// assert!(matches!(twice, Err(WorkflowError::DuplicateStep { .. })));
/// # Ok::<(), WorkflowError>(())
/// ```
#[derive(Debug, Clone)]
pub struct WorkflowBuilder {
    name: Arc<str>,
    stages: Vec<Stage>,
}

impl WorkflowBuilder {
    /// A workflow called `name`.
    pub fn new(name: &str) -> Self {
        WorkflowBuilder {
            name: Arc::from(name),
            stages: Vec::new(),
        }
    }

    /// Appends step `name` run by `worker`.
    pub fn step(self, name: &str, worker: &str) -> Self {
        self.then(Step::new(name, worker))
    }

    /// The seed's spelling of [`WorkflowBuilder::step`].
    pub fn add_step(self, name: &str, worker: &str) -> Self {
        self.step(name, worker)
    }

    /// Appends a configured step.
    pub fn then(mut self, step: Step) -> Self {
        self.stages.push(Stage::Single(step));
        self
    }

    /// Appends steps that run at the same time.
    pub fn parallel(mut self, steps: impl IntoIterator<Item = Step>) -> Self {
        self.stages
            .push(Stage::Parallel(steps.into_iter().collect()));
        self
    }

    /// The seed's spelling of [`WorkflowBuilder::parallel`]: `(name, worker)` pairs.
    pub fn add_parallel_steps<'a>(
        self,
        steps: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        self.parallel(steps.into_iter().map(|(n, w)| Step::new(n, w)))
    }

    fn last_steps(&mut self) -> &mut [Step] {
        match self.stages.last_mut() {
            Some(Stage::Single(step)) => std::slice::from_mut(step),
            Some(Stage::Parallel(steps)) => steps,
            None => &mut [],
        }
    }

    /// Sets the timeout of the last step (every step of a last parallel group).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        for step in self.last_steps() {
            step.timeout = Some(timeout);
        }
        self
    }

    /// Sets the retry policy of the last step (or group).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        for step in self.last_steps() {
            step.retry = policy.clone();
        }
        self
    }

    /// Sets the compensation worker of the last step (or group).
    pub fn compensation(mut self, worker: &str) -> Self {
        for step in self.last_steps() {
            step.compensation = Some(Arc::from(worker));
        }
        self
    }

    /// Validates: at least one step, unique non-empty step names, no empty
    /// parallel group.
    pub fn build(self) -> Result<Workflow, WorkflowError> {
        let workflow = self.name.to_string();
        if self.name.trim().is_empty() {
            return Err(WorkflowError::EmptyName {
                workflow,
                what: "workflow",
            });
        }
        if self.stages.is_empty() {
            return Err(WorkflowError::Empty { workflow });
        }
        let mut seen = HashSet::new();
        for stage in &self.stages {
            if stage.steps().is_empty() {
                return Err(WorkflowError::EmptyParallel { workflow });
            }
            for step in stage.steps() {
                if step.name.trim().is_empty() {
                    return Err(WorkflowError::EmptyName {
                        workflow,
                        what: "step",
                    });
                }
                if step.worker.trim().is_empty() {
                    return Err(WorkflowError::EmptyName {
                        workflow,
                        what: "worker",
                    });
                }
                if !seen.insert(Arc::clone(&step.name)) {
                    return Err(WorkflowError::DuplicateStep {
                        workflow,
                        step: step.name.to_string(),
                    });
                }
            }
        }
        Ok(Workflow {
            name: self.name,
            stages: self.stages,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_and_duplicate_workflows_are_rejected_naming_the_step() {
        assert_eq!(
            WorkflowBuilder::new("w").build().unwrap_err(),
            WorkflowError::Empty {
                workflow: "w".into()
            }
        );
        let err = WorkflowBuilder::new("w")
            .step("a", "x")
            .parallel([Step::new("b", "x"), Step::new("a", "y")])
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("\"a\""), "{err}");
        assert!(matches!(
            WorkflowBuilder::new("w").parallel([]).build(),
            Err(WorkflowError::EmptyParallel { .. })
        ));
    }

    #[test]
    fn unknown_workers_are_named() {
        let wf = WorkflowBuilder::new("w")
            .step("a", "known")
            .compensation("missing_comp")
            .build()
            .unwrap();
        let err = wf.check_workers(|w| w == "known").unwrap_err();
        assert!(err.to_string().contains("missing_comp"), "{err}");
    }

    #[test]
    fn builder_modifiers_apply_to_the_last_stage() {
        let wf = WorkflowBuilder::new("w")
            .step("a", "x")
            .parallel([Step::new("b", "x"), Step::new("c", "x")])
            .timeout(Duration::from_millis(5))
            .build()
            .unwrap();
        let steps: Vec<_> = wf.steps().collect();
        assert_eq!(steps[0].timeout, None);
        assert_eq!(steps[1].timeout, Some(Duration::from_millis(5)));
        assert_eq!(steps[2].timeout, Some(Duration::from_millis(5)));
    }

    proptest! {
        #[test]
        fn backoff_grows_is_capped_and_stops_after_the_last_attempt(
            max_attempts in 1u32..20,
            initial_ms in 0u64..1000,
            multiplier in 1.0f64..4.0,
            max_ms in 0u64..10_000,
        ) {
            let policy = RetryPolicy::attempts(max_attempts).with_backoff(
                Duration::from_millis(initial_ms), multiplier, Duration::from_millis(max_ms));
            let mut previous = Duration::ZERO;
            for attempt in 1..max_attempts {
                let pause = policy.backoff_after(attempt).unwrap();
                prop_assert!(pause <= Duration::from_millis(max_ms) + Duration::from_nanos(1));
                prop_assert!(pause + Duration::from_nanos(1) >= previous);
                // Naive schedule: initial * multiplier^(n-1), capped.
                let naive = (initial_ms as f64 * multiplier.powi(attempt as i32 - 1)).min(max_ms as f64);
                prop_assert!((pause.as_secs_f64() * 1000.0 - naive).abs() < 1e-6 * naive.max(1.0));
                previous = pause;
            }
            prop_assert_eq!(policy.backoff_after(max_attempts), None);
        }

        /// Any policy and any attempt number: no panic (it would kill the
        /// task driving the workflow, which then never ends), never above
        /// the cap, `None` from the last attempt on.
        #[test]
        fn backoff_never_panics_on_extreme_policies(
            max_attempts in any::<u32>(),
            initial in prop_oneof![Just(Duration::MAX), Just(Duration::ZERO), any::<u64>().prop_map(Duration::from_nanos), any::<u64>().prop_map(Duration::from_secs)],
            multiplier in prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::MAX), Just(-1.0), any::<f64>()],
            max in prop_oneof![Just(Duration::MAX), Just(Duration::ZERO), any::<u64>().prop_map(Duration::from_secs)],
            attempt in prop_oneof![Just(0u32), Just(1u32), Just(u32::MAX), any::<u32>()],
        ) {
            let policy = RetryPolicy::attempts(max_attempts).with_backoff(initial, multiplier, max);
            match policy.backoff_after(attempt) {
                Some(pause) => {
                    prop_assert!(attempt < policy.max_attempts);
                    prop_assert!(pause <= max);
                }
                None => prop_assert!(attempt >= policy.max_attempts),
            }
        }
    }

    /// Regression: a cap of `Duration::MAX` ("no cap") panicked converting
    /// the capped f64 back to a Duration.
    #[test]
    fn an_unbounded_cap_does_not_panic() {
        let policy = RetryPolicy::attempts(5).with_backoff(Duration::MAX, 2.0, Duration::MAX);
        assert_eq!(policy.backoff_after(1), Some(Duration::MAX));
        let policy =
            RetryPolicy::attempts(5).with_backoff(Duration::from_secs(1), 2.0, Duration::MAX);
        assert_eq!(policy.backoff_after(3), Some(Duration::from_secs(4)));
    }
}
