//! `GET /metrics` (the Prometheus text exposition, [`super::prometheus`])
//! and `GET /health` (one overall status and every worker's health as JSON,
//! the seed's `get_all_workers_health`), on axum.
//!
//! `/health` answers `200` when no worker is in a status of
//! [`ServeOptions::unhealthy_on`] (by default `failing`) and `503` when one
//! is, with the same JSON body, so it serves as a container health check
//! (`curl -f`) as well as for people.
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
use super::prometheus::{self, ExportOptions, Live};
use super::shared_answer::{Cancel, Failure, SharedAnswer, SharedAnswerStats};
use crate::clock;
use crate::monitor::health::{HealthStatus, WorkerHealth, evaluate_health_all};
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
    /// Bucket bounds of custom histograms in `/metrics`, by name
    /// ([`prometheus::custom_buckets`]).
    pub custom_buckets: std::collections::BTreeMap<String, Vec<f64>>,
    /// The recording process, when the server runs inside it: `/metrics`
    /// then adds its writer's and orchestrator's in-memory figures.
    pub live: Option<Live>,
    /// Worker statuses that make `/health` answer `503`
    /// ([`DEFAULT_UNHEALTHY_ON`] by default).
    pub unhealthy_on: Vec<HealthStatus>,
}

/// The statuses that make `/health` unhealthy unless configured otherwise:
/// a worker erring above its threshold. Not `inactive`: every worker of a
/// run that has ended is inactive, which is no fault of the server.
pub const DEFAULT_UNHEALTHY_ON: &[HealthStatus] = &[HealthStatus::Failing];

impl ServeOptions {
    /// Serves `store`: every run, a five-minute window, default thresholds
    /// and buckets, answers shared for one second, `503` on a failing
    /// worker, no recording process.
    pub fn new(store: Store) -> Self {
        ServeOptions {
            store,
            window: prometheus::DEFAULT_WINDOW,
            run: None,
            thresholds: HealthThresholds::default(),
            refresh: Duration::from_secs(1),
            custom_buckets: std::collections::BTreeMap::new(),
            live: None,
            unhealthy_on: DEFAULT_UNHEALTHY_ON.to_vec(),
        }
    }
}

/// The body of `/health`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HealthReport {
    /// `healthy`, or `unhealthy` when a worker is in one of `unhealthy_on`.
    pub status: &'static str,
    /// The statuses that count as unhealthy.
    pub unhealthy_on: Vec<HealthStatus>,
    /// The workers in one of them, by name.
    pub unhealthy_workers: Vec<String>,
    /// Every tracked worker's health, by name.
    pub workers: std::collections::BTreeMap<String, WorkerHealth>,
}

impl HealthReport {
    /// Judges `workers` against `unhealthy_on`.
    pub fn new(
        workers: std::collections::BTreeMap<String, WorkerHealth>,
        unhealthy_on: &[HealthStatus],
    ) -> Self {
        let unhealthy_workers: Vec<String> = workers
            .iter()
            .filter(|(_, h)| unhealthy_on.contains(&h.status))
            .map(|(name, _)| name.clone())
            .collect();
        HealthReport {
            status: if unhealthy_workers.is_empty() {
                "healthy"
            } else {
                "unhealthy"
            },
            unhealthy_on: unhealthy_on.to_vec(),
            unhealthy_workers,
            workers,
        }
    }

    /// Whether no worker is in an unhealthy status.
    pub fn is_healthy(&self) -> bool {
        self.unhealthy_workers.is_empty()
    }
}

/// A computed `/health` answer: its status code and JSON.
#[derive(Debug, Clone)]
pub struct HealthAnswer {
    /// `false` answers `503`.
    pub healthy: bool,
    /// The [`HealthReport`] as JSON.
    pub json: String,
}

/// The shared answers of a router, for counters.
#[derive(Debug, Clone)]
pub struct Answers {
    /// `/metrics`.
    pub metrics: Arc<SharedAnswer<String>>,
    /// `/health`.
    pub health: Arc<SharedAnswer<HealthAnswer>>,
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
        custom_buckets: options.custom_buckets.clone(),
        live: options.live.clone(),
    };
    let conn = options.store.reader()?;
    cancel.interrupting(&conn, |conn| {
        prometheus::encode(&prometheus::registry(conn, &export)?)
    })
}

fn health_json(options: &ServeOptions, cancel: &Cancel) -> Result<HealthAnswer, ExportError> {
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
        let report = HealthReport::new(all, &options.unhealthy_on);
        Ok(HealthAnswer {
            healthy: report.is_healthy(),
            json: serde_json::to_string(&report).map_err(|e| ExportError::Render(e.to_string()))?,
        })
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
        Ok(answer) => {
            let status = if answer.healthy {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            (
                status,
                [(header::CONTENT_TYPE, "application/json")],
                answer.json,
            )
                .into_response()
        }
        Err(f) => failure_response(f),
    }
}
