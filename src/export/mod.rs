//! What leaves the database for other tools and people: the Prometheus text
//! exposition ([`prometheus`]) served over HTTP (`http`, feature `serve`),
//! and run reports in text, JSON and self-contained HTML with charts
//! (`report` and `html`, feature `report`).
//!
//! Everything here reads the database through a [`Store`](crate::store::Store)
//! (read-only pooled connections), so it works from another process while a
//! run writes the file. Computation never prints: each function returns a
//! value or a string, and the CLI decides where it goes.

#[cfg(feature = "report")]
pub mod html;
#[cfg(feature = "serve")]
pub mod http;
pub mod prometheus;
pub mod queries;
#[cfg(feature = "report")]
pub mod report;
#[cfg(feature = "serve")]
pub mod shared_answer;

use crate::monitor::MonitorError;
use crate::monitor::custom::MetricsError;
use crate::store::StoreError;

/// Why an export or a report could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The store could not hand out a connection, or the run is unknown.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An event or worker question failed.
    #[error(transparent)]
    Monitor(#[from] MonitorError),
    /// A system, custom-metric or alert question failed.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// A query of this module failed.
    #[error("export query failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Rendering failed (text encoding or a chart).
    #[error("cannot render: {0}")]
    Render(String),
    /// A blocking task died.
    #[error("export task failed: {0}")]
    Task(String),
}
