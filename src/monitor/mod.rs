//! Monitors: what the runtime records, turned into the answers of the seed's
//! monitoring questions.
//!
//! Each monitor records through the single [`crate::store::Writer`] and
//! answers its questions with SQL files from `queries/`, one typed function
//! per file taking a `&rusqlite::Connection` (a pooled reader or a
//! transaction).
//!
//! - [`system`]: machine and process samples (`MetricsCollector`) and the
//!   background sampler.
//! - [`custom`]: custom counters, gauges and histograms by name with labels,
//!   and the business-metric hourly rollups; also [`custom::MetricsError`],
//!   the error type of these three modules.
//! - [`alerts`]: alert rules, the fire-once/resolve state machine, alert
//!   history and notification hooks.

pub mod alerts;
pub mod custom;
pub mod system;
