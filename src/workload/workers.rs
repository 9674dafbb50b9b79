//! `fast_processor`, `slow_processor`, `flaky_processor` and `cpu_intensive`,
//! as in the seed's "Test Workers".
//!
//! Randomness is reproducible: each call draws from a generator seeded by
//! the run's seed, the worker, the input's `data` and how many times this
//! worker has seen that `data`, so the same seed gives the same durations and
//! failures whatever order tasks happen to run in.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::worker::{Context, WorkerError, WorkerRegistry};

/// The seed's four failure messages of `flaky_processor`.
pub const FLAKY_ERRORS: [&str; 4] = [
    "NetworkError: Connection timeout",
    "ValidationError: Invalid input format",
    "ServiceUnavailable: External service down",
    "RateLimitError: Too many requests",
];

/// How the demo workers behave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DemoSettings {
    /// Seed of all randomness.
    pub seed: u64,
    /// Multiplies every sleep: 1.0 is the seed's timing, 0.1 ten times
    /// quicker (tests and the quick demo).
    pub time_scale: f64,
    /// Probability that `flaky_processor` fails (the seed: 0.3).
    pub failure_rate: f64,
}

impl Default for DemoSettings {
    fn default() -> Self {
        DemoSettings {
            seed: 42,
            time_scale: 1.0,
            failure_rate: 0.3,
        }
    }
}

/// Deterministic per-call random generators.
#[derive(Debug)]
struct Randomness {
    seed: u64,
    calls: Mutex<HashMap<(String, &'static str), u64>>,
}

impl Randomness {
    fn rng(&self, worker: &'static str, data: &str) -> ChaCha8Rng {
        let n = {
            let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
            let count = calls.entry((data.to_string(), worker)).or_insert(0);
            *count += 1;
            *count
        };
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (self.seed, worker, data, n).hash(&mut hasher);
        ChaCha8Rng::seed_from_u64(hasher.finish())
    }
}

async fn scaled_sleep(settings: &DemoSettings, seconds: f64) {
    let scaled = seconds * settings.time_scale;
    if scaled > 0.0 {
        // A scale beyond any Duration sleeps "forever" (until the workflow's
        // timeout) rather than panicking in the worker.
        let length = Duration::try_from_secs_f64(scaled).unwrap_or(Duration::MAX);
        tokio::time::sleep(length).await;
    }
}

fn data_of(ctx: &Context) -> String {
    match ctx.get("data") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if c.is_alphabetic() {
            if start {
                out.extend(c.to_uppercase());
            } else {
                out.extend(c.to_lowercase());
            }
            start = false;
        } else {
            out.push(c);
            start = true;
        }
    }
    out
}

/// The seed's CPU-bound loop: sums `hash("{data}-{i}") % 1000` over
/// `complexity` iterations (Rust's SipHash with fixed keys stands in for
/// Python's `hash`).
pub fn cpu_bound_calculation(data: &str, complexity: u64) -> Value {
    let mut total: u64 = 0;
    for i in 0..complexity {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        format!("{data}-{i}").hash(&mut hasher);
        total += hasher.finish() % 1000;
    }
    json!({
        "hash_sum": total,
        "iterations": complexity,
        "computational_load": "high",
    })
}

/// Registers the four demo workers.
pub fn register_demo_workers(registry: &mut WorkerRegistry, settings: DemoSettings) {
    let random = Arc::new(Randomness {
        seed: settings.seed,
        calls: Mutex::new(HashMap::new()),
    });

    let r = Arc::clone(&random);
    registry.register("fast_processor", move |ctx: Context| {
        let r = Arc::clone(&r);
        async move {
            let data = data_of(&ctx);
            let pause = r.rng("fast_processor", &data).random_range(0.01..0.05);
            scaled_sleep(&settings, pause).await;
            Ok(json!({
                "processed": data.to_uppercase(),
                "processing_time": "fast",
                "worker_type": "fast_processor",
            }))
        }
    });

    let r = Arc::clone(&random);
    registry.register("slow_processor", move |ctx: Context| {
        let r = Arc::clone(&r);
        async move {
            let data = data_of(&ctx);
            let pause = r.rng("slow_processor", &data).random_range(0.5..2.0);
            scaled_sleep(&settings, pause).await;
            Ok(json!({
                "processed": data.to_lowercase(),
                "processing_time": format!("{pause:.2}s"),
                "worker_type": "slow_processor",
            }))
        }
    });

    let r = Arc::clone(&random);
    registry.register("flaky_processor", move |ctx: Context| {
        let r = Arc::clone(&r);
        async move {
            let data = data_of(&ctx);
            let (fails, message, pause) = {
                let mut rng = r.rng("flaky_processor", &data);
                let fails = rng.random::<f64>() < settings.failure_rate;
                let message = FLAKY_ERRORS[rng.random_range(0..FLAKY_ERRORS.len())];
                (fails, message, rng.random_range(0.1..0.8))
            };
            if fails {
                return Err(WorkerError::new(message));
            }
            scaled_sleep(&settings, pause).await;
            Ok(json!({
                "processed": title_case(&data),
                "success": true,
                "worker_type": "flaky_processor",
            }))
        }
    });

    registry.register("cpu_intensive", move |ctx: Context| async move {
        let data = data_of(&ctx);
        let complexity = ctx
            .get("complexity")
            .and_then(Value::as_u64)
            .unwrap_or(1000);
        // CPU-bound work must not block the async runtime's threads.
        let result = tokio::task::spawn_blocking(move || cpu_bound_calculation(&data, complexity))
            .await
            .map_err(|e| WorkerError::new(format!("WorkerPanic: {e}")))?;
        Ok(json!({
            "calculation_result": result,
            "complexity": complexity,
            "worker_type": "cpu_intensive",
        }))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_case_matches_python() {
        assert_eq!(title_case("error_test_1 abc"), "Error_Test_1 Abc");
    }

    #[test]
    fn the_cpu_loop_is_deterministic() {
        assert_eq!(
            cpu_bound_calculation("x", 100),
            cpu_bound_calculation("x", 100)
        );
    }

    #[test]
    fn randomness_depends_on_seed_worker_data_and_call_number() {
        let r = Randomness {
            seed: 7,
            calls: Mutex::new(HashMap::new()),
        };
        let a: f64 = r.rng("w", "d").random();
        let b: f64 = r.rng("w", "d").random();
        assert_ne!(a, b);
        let r2 = Randomness {
            seed: 7,
            calls: Mutex::new(HashMap::new()),
        };
        assert_eq!(a, r2.rng("w", "d").random::<f64>());
    }
}
