//! The HTTP endpoint of `multiagents serve`: `GET /metrics` (the Prometheus
//! exposition of [`super::prometheus`]) and `GET /health` (every worker's
//! health as JSON, the seed's `get_all_workers_health`), answered from the
//! database on each request, on axum.
//!
//! Every request reads the database on a blocking thread
//! (`spawn_blocking`), so a slow query never holds a runtime thread. Binding
//! and the loopback rule are the caller's (the CLI's) business; this module
//! serves on the listener it is given until `shutdown` completes.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::ExportError;
use super::prometheus::{self, ExportOptions};
use crate::clock;
use crate::monitor::{HealthThresholds, RunScope, WorkerMonitor};
use crate::runs::RunSelector;
use crate::store::Store;

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
}

/// The routes: `/metrics` and `/health`; anything else is 404.
pub fn router(options: ServeOptions) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .with_state(options)
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

fn error_response(e: ExportError) -> Response {
    tracing::warn!(error = %e, "request failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{e}\n"),
    )
        .into_response()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ExportError> + Send + 'static,
) -> Result<T, ExportError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ExportError::Task(e.to_string()))?
}

async fn metrics(State(options): State<ServeOptions>) -> Response {
    let result = blocking(move || {
        let export = ExportOptions {
            window: options.window,
            run: options.run,
            thresholds: options.thresholds,
            now_us: clock::now_us(),
        };
        prometheus::export(&options.store, &export)
    })
    .await;
    match result {
        Ok(text) => ([(header::CONTENT_TYPE, prometheus::CONTENT_TYPE)], text).into_response(),
        Err(e) => error_response(e),
    }
}

async fn health(State(options): State<ServeOptions>) -> Response {
    let result = blocking(move || {
        let conn = options.store.reader()?;
        let (scope, at_us) = match options.run {
            None => (RunScope::AllRuns, clock::now_us()),
            Some(selector) => {
                let run = crate::runs::resolve_run(&conn, selector)?;
                let at = if run.unfinished {
                    clock::now_us()
                } else {
                    run.ended_at_us + 1
                };
                (RunScope::Run(run.run_id), at)
            }
        };
        drop(conn);
        let monitor = WorkerMonitor::new(options.store.clone())
            .with_scope(scope)
            .with_thresholds(options.thresholds);
        Ok(monitor.get_all_workers_health_at(at_us)?)
    })
    .await;
    match result {
        Ok(health) => axum::Json(health).into_response(),
        Err(e) => error_response(e),
    }
}
