//! The HTTP endpoint of `multiagents serve`: `GET /metrics` (the Prometheus
//! exposition of [`super::prometheus`]) and `GET /health` (every worker's
//! health as JSON, the seed's `get_all_workers_health`), on axum.
//!
//! Each endpoint's answer is computed at most once per `refresh` interval
//! and shared by every request that arrives meanwhile
//! ([`super::shared_answer`]): a burst of scrapers costs one computation on
//! one pooled connection, never a queue for the pool. A computation whose
//! clients have all disconnected is interrupted. When an answer cannot be
//! had for a reason worth retrying (contention, cancellation) the response
//! is `503` with `Retry-After`, never a `500`. Binding and the loopback rule
//! are the caller's (the CLI's) business; this module serves on the listener
//! it is given until `shutdown` completes.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::ExportError;
use super::prometheus::{self, ExportOptions};
use super::shared_answer::{Cancel, Failure, SharedAnswer, SharedAnswerStats};
use crate::clock;
use crate::monitor::health::evaluate_health_all;
use crate::monitor::worker::tracked_workers;
use crate::monitor::{ALL_TIME, HealthThresholds, MonitorError, RunScope};
use crate::runs::RunSelector;
use crate::store::{Store, StoreError};

/// What the endpoint serves.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The database.
    pub store: Store,
    /// Window of rates in `/metrics`.
    pub window: Duration,
    /// One run, or every run.
    pub run: Option<RunSelector>,
    /// How health is judged.
    pub thresholds: HealthThresholds,
    /// How long one computed answer is served to every request;
    /// `Duration::ZERO` computes for each request on its own (the old
    /// behaviour, the benchmark's reference).
    pub refresh: Duration,
}

/// The shared answers of a router, for counters.
#[derive(Debug, Clone)]
pub struct Answers {
    /// `/metrics`.
    pub metrics: Arc<SharedAnswer<String>>,
    /// `/health`.
    pub health: Arc<SharedAnswer<String>>,
}

impl Answers {
    /// The counters of `/metrics` and `/health`.
    pub fn stats(&self) -> (SharedAnswerStats, SharedAnswerStats) {
        (self.metrics.stats(), self.health.stats())
    }
}

#[derive(Debug, Clone)]
struct Served {
    options: ServeOptions,
    answers: Answers,
}

/// The routes: `/metrics` and `/health`; anything else is 404.
pub fn router(options: ServeOptions) -> Router {
    router_with_answers(options).0
}

/// [`router`], and handles on its shared answers (for their counters).
pub fn router_with_answers(options: ServeOptions) -> (Router, Answers) {
    let answers = Answers {
        metrics: SharedAnswer::new(options.refresh),
        health: SharedAnswer::new(options.refresh),
    };
    let router = Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .with_state(Served {
            options,
            answers: answers.clone(),
        });
    (router, answers)
}

/// Serves `router(options)` on `listener` until `shutdown` completes, then
/// lets requests in progress finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(options))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Contention (the pool, a locked database) and interruption are worth a
/// retry; anything else is a real error.
fn failure(e: ExportError) -> Failure {
    let transient = match &e {
        ExportError::Monitor(MonitorError::Store(StoreError::Pool(_))) => true,
        ExportError::Monitor(MonitorError::Sqlite(rusqlite::Error::SqliteFailure(f, _))) => {
            matches!(
                f.code,
                rusqlite::ErrorCode::OperationInterrupted
                    | rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
            )
        }
        _ => false,
    };
    Failure {
        transient,
        message: e.to_string(),
    }
}

fn failure_response(f: Failure) -> Response {
    let status = if f.transient {
        tracing::info!(error = %f.message, "request not answered, worth a retry");
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        tracing::warn!(error = %f.message, "request failed");
        StatusCode::INTERNAL_SERVER_ERROR
    };
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::RETRY_AFTER, "1"),
        ],
        format!("{}\n", f.message),
    )
        .into_response()
}

fn metrics_text(options: &ServeOptions, cancel: &Cancel) -> Result<String, ExportError> {
    let export = ExportOptions {
        window: options.window,
        run: options.run,
        thresholds: options.thresholds,
        now_us: clock::now_us(),
    };
    let conn = options.store.reader()?;
    cancel.interrupting(&conn, |conn| {
        prometheus::encode(&prometheus::registry(conn, &export)?)
    })
}

fn health_json(options: &ServeOptions, cancel: &Cancel) -> Result<String, ExportError> {
    let conn = options.store.reader()?;
    cancel.interrupting(&conn, |conn| {
        let (scope, at_us) = match options.run {
            None => (RunScope::AllRuns, clock::now_us()),
            Some(selector) => {
                // At the run's end, or for a run without one (still going,
                // or crashed) at its latest record: the anchor of /metrics
                // and `query --run`.
                let run = crate::runs::resolve_run(conn, selector)?;
                (RunScope::Run(run.run_id), run.ended_at_us + 1)
            }
        };
        let names = tracked_workers(conn, ALL_TIME, scope)?;
        let all: std::collections::BTreeMap<String, _> = names
            .iter()
            .cloned()
            .zip(evaluate_health_all(
                conn,
                &names,
                at_us,
                &options.thresholds,
                scope,
            )?)
            .collect();
        serde_json::to_string(&all).map_err(|e| ExportError::Render(e.to_string()))
    })
}

async fn metrics(State(served): State<Served>) -> Response {
    let options = served.options.clone();
    let answer = served
        .answers
        .metrics
        .get(move |cancel| metrics_text(&options, cancel).map_err(failure))
        .await;
    match answer {
        Ok(text) => ([(header::CONTENT_TYPE, prometheus::CONTENT_TYPE)], text).into_response(),
        Err(f) => failure_response(f),
    }
}

async fn health(State(served): State<Served>) -> Response {
    let options = served.options.clone();
    let answer = served
        .answers
        .health
        .get(move |cancel| health_json(&options, cancel).map_err(failure))
        .await;
    match answer {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(f) => failure_response(f),
    }
}
