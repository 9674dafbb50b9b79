//! multiagents: named async workers in workflows on tokio, with everything
//! that happens recorded in an embedded SQLite database and the monitoring
//! questions answered in SQL.
//!
//! Layers, each depending only on those before it:
//! - [`clock`], [`window`]: time in microseconds and monitoring windows;
//! - [`config`], [`logging`]: the seed's YAML configuration and `tracing` output;
//! - [`store`]: the SQLite file, its schema, the reader pool and the single writer;
//! - [`worker`], [`workflow`], [`orchestrator`]: the runtime that records into the store.

pub mod clock;
pub mod config;
pub mod demo;
pub mod logging;
pub mod orchestrator;
pub mod runs;
pub mod stats;
pub mod store;
pub mod window;
pub mod worker;
pub mod workflow;
