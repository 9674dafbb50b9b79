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
pub mod chart;
#[cfg(feature = "report")]
pub mod compare_html;
#[cfg(feature = "report")]
pub mod html;
#[cfg(feature = "serve")]
pub mod http;
pub mod prometheus;
#[cfg(feature = "report")]
pub mod report;
#[cfg(feature = "serve")]
pub mod shared_answer;

use crate::monitor::MonitorError;
use crate::store::StoreError;

/// Why an export or a report could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the database failed: no connection, an unknown run, or a
    /// question or query that failed.
    #[error(transparent)]
    Monitor(#[from] MonitorError),
    /// Rendering failed (text encoding or a chart).
    #[error("cannot render: {0}")]
    Render(String),
    /// A blocking task died.
    #[error("export task failed: {0}")]
    Task(String),
}

// The store and SQLite errors of this module's own reads are the monitors'
// kinds of failure; `?` files them there, once.
impl From<StoreError> for ExportError {
    fn from(e: StoreError) -> Self {
        ExportError::Monitor(e.into())
    }
}

impl From<rusqlite::Error> for ExportError {
    fn from(e: rusqlite::Error) -> Self {
        ExportError::Monitor(e.into())
    }
}
