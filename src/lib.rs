//! multiagents: named async workers in workflows on tokio, with everything
//! that happens recorded in an embedded SQLite database and the monitoring
//! questions answered in SQL.
//!
//! Layers, each depending only on those before it:
//! - [`sql`], [`clock`], [`terminal`], [`output_path`], [`interrupt`]: every
//!   migration and query embedded in one catalogue, time in microseconds, text
//!   from the database made safe for a terminal, files the commands write
//!   (checked so nothing is destroyed), a request to stop;
//! - [`config`], [`worker`], [`workflow`]: the seed's YAML configuration,
//!   workers by name, and workflow definitions with their builder;
//! - [`window`], [`schedule`], [`logging`]: monitoring windows, background
//!   jobs as ticks on intervals, and `tracing` output;
//! - [`store`]: the SQLite file, its schema, the reader pool and the single writer;
//! - [`transport`]: where steps run, in process or on worker hosts over
//!   Redis Streams (feature `distributed`);
//! - [`orchestrator`], [`monitor`]: the runtime that records into the store,
//!   and the monitoring questions, answered in SQL;
//! - [`session`], [`runs`], [`workload`]: the entry point (store, writer,
//!   orchestrator and background monitors as one recorded run), the recorded
//!   runs, and the seed's demonstration workers and workflows;
//!   `dashboard` (feature `dashboard`): the terminal dashboard;
//! - [`export`], [`compare`], [`loadtest`]: Prometheus exposition and run
//!   reports (`export::report` and `export::html` with feature `report`,
//!   `export::http` with feature `serve`), two runs side by side, and load at
//!   a steady rate;
//! - `demo` (feature `cli`), `bench` (feature `bench`): the seed's
//!   demonstration program and the measuring harness, run by the binary.
//!
//! With `default-features = false` the library is everything above without
//! its features: no clap, ratatui, axum, maud, indicatif or
//! comfy-table (see the README's "Embedding").

// No unwrap/expect where user input or I/O can reach (unit tests may:
// see clippy.toml). Integration tests are separate crates and unaffected.
#![warn(clippy::unwrap_used, clippy::expect_used)]

/// The README's Rust examples, compiled and run by `cargo test` as doctests
/// so that the embedding example cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(feature = "bench")]
pub mod bench;
pub mod clock;
pub mod compare;
pub mod config;
#[cfg(feature = "dashboard")]
pub mod dashboard;
#[cfg(feature = "cli")]
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
pub mod transport;
pub mod window;
pub mod worker;
pub mod workflow;
pub mod workload;
