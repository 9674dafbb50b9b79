//! multiagents: named async workers in workflows on tokio, with everything
//! that happens recorded in an embedded SQLite database and the monitoring
//! questions answered in SQL.

pub mod clock;
pub mod monitor;
pub mod store;
pub mod window;
