//! The seed's demonstration workload: four workers (`fast_processor`,
//! `slow_processor`, `flaky_processor`, `cpu_intensive`) and the four
//! workflows built from them, reproducible with a seed and quick with a time
//! scale.
//!
//! It stands below both programs that drive it, `loadtest` and `demo`, so
//! that the arrow between them points one way only: the demo runs a load
//! test, and the load test gets its workers from here, not from the demo.

pub mod workers;
pub mod workflows;

pub use workers::{DemoSettings, cpu_bound_calculation, register_demo_workers};
pub use workflows::{demo_workflows, register_demo_workflows};
