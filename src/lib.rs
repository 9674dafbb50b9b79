//! multiagents: named async workers in workflows, with everything recorded in SQLite.
//!
//! Modules: [`config`] reads and validates the monitoring configuration (the
//! seed's YAML); [`logging`] installs `tracing` output to the console and/or a
//! size-rotated JSON log file.

pub mod config;
pub mod logging;
