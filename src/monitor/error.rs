//! [`MonitorError`]: why monitoring could not record or answer, for every
//! monitor (events, workers, system, custom metrics, alerts) and the
//! sessions, snapshots and exports built on them.

use crate::store::{MetricType, StoreError};

/// Why monitoring could not record, check or answer a question.
///
/// One type for the whole of [`crate::monitor`] and what merely wraps it (a
/// [`Session`](crate::session::Session), a dashboard snapshot): callers
/// match one set of variants, whichever monitor failed.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// No workflow has this transaction id.
    #[error("unknown transaction {transaction_id:?}: no workflow has this transaction id")]
    UnknownTransaction {
        /// The id that was asked about.
        transaction_id: String,
    },
    /// No worker with this name has ever recorded an event.
    #[error("unknown worker {worker:?}: no events were recorded for a worker of this name")]
    UnknownWorker {
        /// The name that was asked about.
        worker: String,
    },
    /// A metric name that Prometheus would not accept.
    #[error("invalid metric name {name:?}: must match [a-zA-Z_:][a-zA-Z0-9_:]*")]
    InvalidName {
        /// The refused name.
        name: String,
    },
    /// A label name that Prometheus would not accept.
    #[error(
        "metric {metric:?}: invalid label name {label:?}: must match [a-zA-Z_][a-zA-Z0-9_]* and not start with '__'"
    )]
    InvalidLabel {
        /// The metric the label was given to.
        metric: String,
        /// The refused label name.
        label: String,
    },
    /// A metric type name other than counter, gauge or histogram.
    #[error("metric {name:?}: unknown type {given:?}, expected counter, gauge or histogram")]
    UnknownType {
        /// The metric it was declared for.
        name: String,
        /// The refused type name.
        given: String,
    },
    /// An observation of a different type than the metric is declared (or
    /// was first used) as.
    #[error("metric {name:?} is a {}, not a {}", declared.as_str(), observed.as_str())]
    TypeMismatch {
        /// The metric.
        name: String,
        /// Its declared type.
        declared: MetricType,
        /// The type of the refused observation.
        observed: MetricType,
    },
    /// The same name declared twice with different types.
    #[error("metric {name:?} is declared twice: as a {} and as a {}", first.as_str(), second.as_str())]
    ConflictingDeclaration {
        /// The metric.
        name: String,
        /// The first declaration's type.
        first: MetricType,
        /// The second declaration's type.
        second: MetricType,
    },
    /// A value that cannot be stored or makes no sense for the metric type
    /// (NaN, infinite, or a negative counter increment).
    #[error("metric {name:?}: invalid value {value}: {reason}")]
    InvalidValue {
        /// The metric.
        name: String,
        /// The refused value.
        value: f64,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A `labels_json` in the database that is not a JSON object of strings
    /// (written by something other than this crate).
    #[error("metric {name:?}: stored labels {labels_json:?} are not a JSON object of strings")]
    CorruptLabels {
        /// The metric.
        name: String,
        /// The stored text.
        labels_json: String,
    },
    /// Reading system information failed.
    #[error("system information unavailable: {0}")]
    System(String),
    /// A background task (sampling, notification) panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(String),
    /// An alert notifier could not deliver an alert.
    #[error("alert notifier {program:?}: {reason}")]
    Notifier {
        /// The program (`argv[0]`) or notifier name.
        program: String,
        /// What went wrong.
        reason: String,
    },
    /// The store refused (no connection, writer stopped, unknown run, ...).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A query failed.
    #[error("monitoring query failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A JSON column produced by a query could not be read.
    #[error("monitoring query returned malformed JSON: {0}")]
    Json(#[from] serde_json::Error),
}
