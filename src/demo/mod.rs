//! The seed's demonstration workers and workflows, reproducible with a seed
//! and quick with a time scale.

pub mod program;
pub mod workers;
pub mod workflows;

pub use program::{DemoError, DemoOptions, DemoSummary, run_demo, run_demo_with};
pub use workers::{DemoSettings, cpu_bound_calculation, register_demo_workers};
pub use workflows::{demo_workflows, register_demo_workflows};
