//! multiagents: named async workers in workflows on tokio, with everything
//! that happens recorded in an embedded SQLite database and the monitoring
//! questions answered in SQL.
//!
//! Layers, each depending only on those before it:
//! - [`clock`], [`window`], [`schedule`]: time in microseconds, monitoring
//!   windows, and background jobs as ticks on intervals;
//! - [`config`], [`logging`]: the seed's YAML configuration and `tracing` output;
//! - [`output_path`], [`terminal`]: files the commands write, checked so nothing
//!   is destroyed, and text from the database made safe for a terminal;
//! - [`store`]: the SQLite file, its schema, the reader pool and the single writer;
//! - [`worker`], [`workflow`], [`orchestrator`]: the runtime that records into the store;
//! - [`monitor`], [`runs`]: the monitoring questions, answered in SQL;
//! - [`dashboard`], [`demo`]: what people look at;
//! - [`loadtest`], [`compare`]: load at a steady rate, and two runs side by side.
//! - [`dashboard`], [`demo`], [`export`]: what people look at (Prometheus
//!   exposition, run reports).

// No unwrap/expect where user input or I/O can reach (unit tests may:
// see clippy.toml). Integration tests are separate crates and unaffected.
#![warn(clippy::unwrap_used, clippy::expect_used)]

/// The README's Rust examples, compiled and run by `cargo test` as doctests
/// so that the embedding example cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub mod bench;
pub mod clock;
pub mod compare;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod export;
pub mod interrupt;
pub mod loadtest;
pub mod logging;
pub mod monitor;
pub mod orchestrator;
pub mod output_path;
pub mod runs;
pub mod schedule;
pub mod session;
pub mod sql;
pub mod store;
pub mod terminal;
pub mod window;
pub mod worker;
pub mod workflow;
pub mod workload;
