//! The seed's demonstration program: the workload of [`crate::workload`]
//! recorded with the dashboard, alerts and a closing summary.

pub mod program;

pub use program::{
    DemoError, DemoOptions, DemoSummary, demo_worker_names, run_demo, run_demo_with,
};
