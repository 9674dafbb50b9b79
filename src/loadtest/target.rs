//! What a load test starts: registered workflows, each with a weight and a
//! function giving the input of its `k`-th start. The demo's `--mix` is one
//! such target; a program builds its own to load its own workflows.

use std::fmt;
use std::sync::Arc;

use rand::RngExt;
use serde_json::{Value, json};

use super::mix::Mix;

/// Gives the input of start `k` (counted over the whole test, from 0).
pub type InputFn = Arc<dyn Fn(u64) -> Value + Send + Sync>;

/// One workflow of a [`LoadTarget`].
#[derive(Clone)]
pub struct TargetEntry {
    /// The registered workflow's name.
    pub workflow: String,
    /// Its share of the starts, relative to the others' (at least 1).
    pub weight: u32,
    /// The input of each start.
    pub input: InputFn,
}

impl fmt::Debug for TargetEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TargetEntry")
            .field("workflow", &self.workflow)
            .field("weight", &self.weight)
            .finish_non_exhaustive()
    }
}

/// The workflows a load test draws each start from, by weight.
///
/// ```
/// use multiagents::loadtest::LoadTarget;
/// use serde_json::json;
///
/// let target = LoadTarget::new()
///     .workflow("order_processing", 3, |k| json!({ "order": k }))
///     .workflow("refund", 1, |k| json!({ "refund": k }));
/// assert_eq!(target.workflow_names(), ["order_processing", "refund"]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct LoadTarget {
    entries: Vec<TargetEntry>,
}

impl LoadTarget {
    /// No workflow yet.
    pub fn new() -> Self {
        LoadTarget::default()
    }

    /// Adds `workflow` (already registered with the session's
    /// orchestrator), drawn `weight` times as often as a weight of 1 (0
    /// counts as 1), started with `input(k)`.
    pub fn workflow(
        mut self,
        workflow: impl Into<String>,
        weight: u32,
        input: impl Fn(u64) -> Value + Send + Sync + 'static,
    ) -> Self {
        self.entries.push(TargetEntry {
            workflow: workflow.into(),
            weight: weight.max(1),
            input: Arc::new(input),
        });
        self
    }

    /// The demo's mix: each name once per mention, started with the seed's
    /// input (`{"data": "load_test_K"}`).
    pub fn from_mix(mix: &Mix) -> Self {
        mix.workflows()
            .into_iter()
            .fold(LoadTarget::new(), |target, name| {
                target.workflow(name, 1, |k| json!({ "data": format!("load_test_{k}") }))
            })
    }

    /// The distinct workflow names, in the order first added.
    pub fn workflow_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for e in &self.entries {
            if !names.contains(&e.workflow.as_str()) {
                names.push(&e.workflow);
            }
        }
        names
    }

    /// Every entry (repetitions kept), for reports.
    pub fn entries(&self) -> &[TargetEntry] {
        &self.entries
    }

    /// Whether no workflow was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Draws an entry by weight. With weights of 1 this is one uniform
    /// draw among the entries (the demo mix's draws, seed for seed).
    pub(crate) fn draw(&self, rng: &mut impl rand::Rng) -> Option<&TargetEntry> {
        let total: u64 = self.entries.iter().map(|e| u64::from(e.weight)).sum();
        if total == 0 {
            return None;
        }
        let mut pick = rng.random_range(0..total);
        for e in &self.entries {
            let w = u64::from(e.weight);
            if pick < w {
                return Some(e);
            }
            pick -= w;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn draws_follow_the_weights() {
        let target = LoadTarget::new()
            .workflow("a", 3, |_| json!({}))
            .workflow("b", 1, |_| json!({}));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let a = (0..4000)
            .filter(|_| target.draw(&mut rng).map(|e| e.workflow.as_str()) == Some("a"))
            .count();
        assert!((2700..3300).contains(&a), "{a}");
        assert!(LoadTarget::new().draw(&mut rng).is_none());
    }

    #[test]
    fn the_mix_keeps_its_names_and_input() {
        let target = LoadTarget::from_mix(&Mix::default());
        assert_eq!(
            target.workflow_names(),
            [
                "simple_monitoring",
                "parallel_monitoring",
                "error_monitoring"
            ]
        );
        assert_eq!(
            (target.entries()[0].input)(7),
            json!({"data": "load_test_7"})
        );
    }
}
