//! The statements a batch is written with, and their bindings: one
//! `queries/write/*.sql` file per statement (from [`crate::sql::write`];
//! the worker id lookup is the monitors' `queries/worker_id.sql`), every
//! value bound by the name the file gives it, so a column added to a
//! statement cannot shift the values after it.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::types::ToSql;
use rusqlite::{CachedStatement, Transaction, named_params};

use super::batch::{Batch, WorkflowUpdate};
use crate::store::records::STATUS_DISPATCHED;

/// A step name as SQL text (`NULL` when absent).
fn opt_str(s: &Option<Arc<str>>) -> Option<&str> {
    s.as_deref()
}

/// The id of `name` in a table of names (`workers`, `hosts`): inserted
/// the first time by `insert`, read by `select`, both binding `param`;
/// cached for the writer's life (cleared when a transaction rolls back).
fn name_id(
    tx: &Transaction<'_>,
    cache: &mut HashMap<Arc<str>, i64>,
    name: &Arc<str>,
    (insert, select, param): (&str, &str, &str),
) -> Result<i64, rusqlite::Error> {
    if let Some(&id) = cache.get(name) {
        return Ok(id);
    }
    tx.prepare_cached(insert)?
        .execute(&[(param, &name.as_ref() as &dyn ToSql)])?;
    let id: i64 = tx
        .prepare_cached(select)?
        .query_row(&[(param, &name.as_ref() as &dyn ToSql)], |row| row.get(0))?;
    cache.insert(Arc::clone(name), id);
    Ok(id)
}

/// The `workers.id` of `name` (the lookup is the monitors'
/// `queries/worker_id.sql`).
pub(super) fn worker_id(
    tx: &Transaction<'_>,
    cache: &mut HashMap<Arc<str>, i64>,
    name: &Arc<str>,
) -> Result<i64, rusqlite::Error> {
    let statements = (
        crate::sql::write::INSERT_WORKER,
        crate::sql::queries::WORKER_ID,
        ":worker",
    );
    name_id(tx, cache, name, statements)
}

/// The `hosts.id` of `name`.
fn host_id(
    tx: &Transaction<'_>,
    cache: &mut HashMap<Arc<str>, i64>,
    name: &Arc<str>,
) -> Result<i64, rusqlite::Error> {
    let statements = (
        crate::sql::write::INSERT_HOST,
        crate::sql::write::HOST_ID,
        ":host",
    );
    name_id(tx, cache, name, statements)
}

/// The host id of an event's end (`None`: it ran in this process).
fn event_host_id(
    tx: &Transaction<'_>,
    cache: &mut HashMap<Arc<str>, i64>,
    end: Option<&crate::store::EventFinished>,
) -> Result<Option<i64>, rusqlite::Error> {
    match end.and_then(|e| e.host.as_ref()) {
        Some(name) => host_id(tx, cache, name).map(Some),
        None => Ok(None),
    }
}

/// Writes every row of the batch, and adds its rollups, inside `tx`.
/// A statement run once per row of a batch, bound with `named_params!`.
///
/// rusqlite looks every name up in a map on every execution; for the 16
/// columns of an event that cost ~8 % of the writer's ingest rate
/// (`bench --only ingest`, paired runs). Here the names are looked up once,
/// on the first row, and later rows only check that they list the same
/// names in the same order (a string compare each), so values still go to
/// the parameter their name says.
struct ByName<'c> {
    stmt: CachedStatement<'c>,
    names: Vec<String>,
    indexes: Vec<usize>,
}

impl<'c> ByName<'c> {
    fn new(stmt: CachedStatement<'c>) -> Self {
        ByName {
            stmt,
            names: Vec::new(),
            indexes: Vec::new(),
        }
    }

    /// Binds `params` by name and runs the statement; every parameter of
    /// the statement must be given.
    fn execute(&mut self, params: &[(&str, &dyn ToSql)]) -> Result<usize, rusqlite::Error> {
        let same = self.names.len() == params.len()
            && self.names.iter().zip(params).all(|(n, (p, _))| n == p);
        if !same {
            self.resolve(params)?;
        }
        for (&i, (_, value)) in self.indexes.iter().zip(params) {
            self.stmt.raw_bind_parameter(i, value)?;
        }
        self.stmt.raw_execute()
    }

    fn resolve(&mut self, params: &[(&str, &dyn ToSql)]) -> Result<(), rusqlite::Error> {
        if params.len() != self.stmt.parameter_count() {
            return Err(rusqlite::Error::InvalidParameterCount(
                params.len(),
                self.stmt.parameter_count(),
            ));
        }
        self.names.clear();
        self.indexes.clear();
        for (name, _) in params {
            let index = self
                .stmt
                .parameter_index(name)?
                .ok_or_else(|| rusqlite::Error::InvalidParameterName(name.to_string()))?;
            self.names.push(name.to_string());
            self.indexes.push(index);
        }
        Ok(())
    }
}

pub(super) fn write_batch(
    tx: &Transaction<'_>,
    batch: &Batch,
    run_id: i64,
    workers: &mut HashMap<Arc<str>, i64>,
    hosts: &mut HashMap<Arc<str>, i64>,
) -> Result<(), rusqlite::Error> {
    if !batch.workflows.is_empty() {
        let mut insert = ByName::new(tx.prepare_cached(crate::sql::write::INSERT_WORKFLOW)?);
        for row in &batch.workflows {
            let s = &row.start;
            insert.execute(named_params! {
                ":id": s.id,
                ":transaction_id": s.transaction_id.as_ref(),
                ":run_id": run_id,
                ":workflow_name": s.workflow_name.as_ref(),
                ":state": row.state.as_str(),
                ":current_step": opt_str(&row.current_step),
                ":created_at_us": s.created_at_us,
                ":started_at_us": s.started_at_us,
                ":compensating_at_us": row.compensating_at_us,
                ":ended_at_us": row.ended_at_us,
                ":input_size_bytes": s.input_size_bytes,
                ":error": row.error.as_deref(),
                ":last_event_id": row.last_event_id,
            })?;
        }
    }
    if !batch.events.is_empty() {
        let mut insert = ByName::new(tx.prepare_cached(crate::sql::write::INSERT_EVENT)?);
        for row in &batch.events {
            let s = &row.start;
            let worker = worker_id(tx, workers, &s.worker)?;
            let e = row.end.as_ref();
            let host = event_host_id(tx, hosts, e)?;
            insert.execute(named_params! {
                ":id": s.id,
                ":workflow_id": s.workflow_id,
                ":compensation": s.event_type.code(),
                ":step": s.step.as_ref(),
                ":worker_id": worker,
                ":attempt": s.attempt,
                ":status_code": e.map_or(STATUS_DISPATCHED, |e| e.outcome.code()),
                ":dispatched_at_us": s.dispatched_at_us,
                ":picked_up_at_us": e.and_then(|e| e.picked_up_at_us),
                ":processing_at_us": e.and_then(|e| e.processing_at_us),
                ":finished_at_us": e.map(|e| e.finished_at_us),
                ":duration_us": e.map(|e| e.duration_us),
                ":payload_size_bytes": s.payload_size_bytes,
                ":result_size_bytes": e.and_then(|e| e.result_size_bytes),
                ":error_type": e.and_then(|e| e.error_type.as_deref()),
                ":error_message": e.and_then(|e| e.error_message.as_deref()),
                ":host_id": host,
            })?;
        }
    }
    if !batch.event_finishes.is_empty() {
        let mut update = ByName::new(tx.prepare_cached(crate::sql::write::FINISH_EVENT)?);
        for e in &batch.event_finishes {
            let host = event_host_id(tx, hosts, Some(e))?;
            update.execute(named_params! {
                ":id": e.id,
                ":status_code": e.outcome.code(),
                ":picked_up_at_us": e.picked_up_at_us,
                ":processing_at_us": e.processing_at_us,
                ":finished_at_us": e.finished_at_us,
                ":duration_us": e.duration_us,
                ":result_size_bytes": e.result_size_bytes,
                ":error_type": e.error_type.as_deref(),
                ":error_message": e.error_message.as_deref(),
                ":host_id": host,
            })?;
        }
    }
    if !batch.workflow_changes.is_empty() {
        let mut update = ByName::new(tx.prepare_cached(crate::sql::write::UPDATE_WORKFLOW)?);
        for WorkflowUpdate {
            change: c,
            last_event_id,
        } in &batch.workflow_changes
        {
            update.execute(named_params! {
                ":id": c.id,
                ":last_event_id": last_event_id,
                ":state": c.state.as_str(),
                ":at_us": c.at_us,
                ":current_step": opt_str(&c.current_step),
                ":error": c.error.as_deref(),
            })?;
        }
    }
    write_rollups(tx, batch, run_id, workers)?;
    if !batch.samples.is_empty() {
        let mut insert = ByName::new(tx.prepare_cached(crate::sql::write::INSERT_SYSTEM_SAMPLE)?);
        for s in &batch.samples {
            insert.execute(named_params! {
                ":run_id": run_id,
                ":sampled_at_us": s.sampled_at_us,
                ":cpu_usage_percent": s.cpu_usage_percent,
                ":memory_usage_percent": s.memory_usage_percent,
                ":memory_used_bytes": s.memory_used_bytes,
                ":memory_total_bytes": s.memory_total_bytes,
                ":load_avg_1m": s.load_avg_1m,
                ":load_avg_5m": s.load_avg_5m,
                ":load_avg_15m": s.load_avg_15m,
                ":process_cpu_percent": s.process_cpu_percent,
                ":process_rss_bytes": s.process_rss_bytes,
                ":active_connections": s.active_connections,
                ":active_workflows": s.active_workflows,
            })?;
        }
    }
    if !batch.metrics.is_empty() {
        let mut insert = ByName::new(tx.prepare_cached(crate::sql::write::INSERT_METRIC)?);
        for m in &batch.metrics {
            insert.execute(named_params! {
                ":run_id": run_id,
                ":name": m.name,
                ":metric_type": m.metric_type.as_str(),
                ":labels_json": m.labels_json,
                ":value": m.value,
                ":recorded_at_us": m.recorded_at_us,
            })?;
        }
    }
    if !batch.alerts.is_empty() {
        let mut insert = ByName::new(tx.prepare_cached(crate::sql::write::INSERT_ALERT)?);
        for a in &batch.alerts {
            insert.execute(named_params! {
                ":id": a.id,
                ":run_id": run_id,
                ":alert_type": a.alert_type,
                ":subject": a.subject,
                ":severity": a.severity,
                ":message": a.message,
                ":value": a.value,
                ":threshold": a.threshold,
                ":fired_at_us": a.fired_at_us,
                ":details_json": a.details_json,
            })?;
        }
    }
    if !batch.hosts.is_empty() {
        let mut upsert = ByName::new(tx.prepare_cached(crate::sql::write::UPSERT_RUN_HOST)?);
        for h in &batch.hosts {
            let host = host_id(tx, hosts, &h.name)?;
            upsert.execute(named_params! {
                ":run_id": run_id,
                ":host_id": host,
                ":workers": h.workers,
                ":concurrency": h.concurrency,
                ":first_seen_us": h.first_seen_us,
                ":last_heartbeat_us": h.last_heartbeat_us,
                ":reclaimed": h.reclaimed,
                ":duplicates": h.duplicates,
            })?;
        }
    }
    if !batch.alert_resolutions.is_empty() {
        let mut update = ByName::new(tx.prepare_cached(crate::sql::write::RESOLVE_ALERT)?);
        for (id, at) in &batch.alert_resolutions {
            update.execute(named_params! {":id": id, ":resolved_at_us": at})?;
        }
    }
    Ok(())
}

/// Adds the batch's per-minute figures to this run's rollup rows (every row
/// carries the run, so runs writing one file at once never share a row).
fn write_rollups(
    tx: &Transaction<'_>,
    batch: &Batch,
    run_id: i64,
    workers: &mut HashMap<Arc<str>, i64>,
) -> Result<(), rusqlite::Error> {
    // Each minute's figures go to its row and to its hour's row (the hour
    // tables of migrations/0007_hour_rollups.sql: the sum of their minutes).
    let hour_of = |minute: i64| minute - minute.rem_euclid(crate::store::sketch::HOUR_US);
    if !batch.worker_rollups.is_empty() {
        let mut upsert = ByName::new(tx.prepare_cached(crate::sql::write::UPSERT_WORKER_ROLLUP)?);
        let mut hourly =
            ByName::new(tx.prepare_cached(crate::sql::write::UPSERT_WORKER_HOUR_ROLLUP)?);
        for ((worker, event_type, minute), r) in &batch.worker_rollups {
            let worker = worker_id(tx, workers, worker)?;
            hourly.execute(named_params! {
                ":worker_id": worker,
                ":event_type": event_type.as_str(),
                ":hour_us": hour_of(*minute),
                ":completed": r.completed,
                ":failed": r.failed,
                ":timeout": r.timeout,
                ":cancelled": r.cancelled,
                ":duration_sum_us": r.duration_sum_us,
                ":duration_min_us": r.duration_min_us,
                ":duration_max_us": r.duration_max_us,
                ":latency_sum_us": r.latency_sum_us,
                ":latency_max_us": r.latency_max_us,
                ":payload_sum_bytes": r.payload_sum_bytes,
                ":run_id": run_id,
            })?;
            upsert.execute(named_params! {
                ":worker_id": worker,
                ":event_type": event_type.as_str(),
                ":minute_us": minute,
                ":completed": r.completed,
                ":failed": r.failed,
                ":timeout": r.timeout,
                ":cancelled": r.cancelled,
                ":duration_sum_us": r.duration_sum_us,
                ":duration_min_us": r.duration_min_us,
                ":duration_max_us": r.duration_max_us,
                ":latency_sum_us": r.latency_sum_us,
                ":latency_max_us": r.latency_max_us,
                ":payload_sum_bytes": r.payload_sum_bytes,
                ":run_id": run_id,
            })?;
        }
    }
    if !batch.histogram.is_empty() {
        let mut upsert =
            ByName::new(tx.prepare_cached(crate::sql::write::UPSERT_WORKER_HISTOGRAM)?);
        let mut hourly =
            ByName::new(tx.prepare_cached(crate::sql::write::UPSERT_WORKER_HOUR_HISTOGRAM)?);
        for ((worker, minute, le), count) in &batch.histogram {
            let worker = worker_id(tx, workers, worker)?;
            hourly.execute(named_params! {
                ":worker_id": worker,
                ":hour_us": hour_of(*minute),
                ":le_ms": le,
                ":count": count,
                ":run_id": run_id,
            })?;
            upsert.execute(named_params! {
                ":worker_id": worker,
                ":minute_us": minute,
                ":le_ms": le,
                ":count": count,
                ":run_id": run_id,
            })?;
        }
    }
    if !batch.latency_histogram.is_empty() {
        let mut upsert =
            ByName::new(tx.prepare_cached(crate::sql::write::UPSERT_LATENCY_HISTOGRAM)?);
        for ((minute, le), count) in &batch.latency_histogram {
            upsert.execute(named_params! {
                ":run_id": run_id,
                ":minute_us": minute,
                ":le_ms": le,
                ":count": count,
            })?;
        }
    }
    if !batch.error_rollups.is_empty() {
        let mut upsert = ByName::new(tx.prepare_cached(crate::sql::write::UPSERT_ERROR_ROLLUP)?);
        let mut hourly =
            ByName::new(tx.prepare_cached(crate::sql::write::UPSERT_ERROR_HOUR_ROLLUP)?);
        for ((worker, minute, error_type), r) in &batch.error_rollups {
            let worker = worker_id(tx, workers, worker)?;
            hourly.execute(named_params! {
                ":hour_us": hour_of(*minute),
                ":run_id": run_id,
                ":worker_id": worker,
                ":error_type": error_type.as_ref(),
                ":count": r.count,
                ":first_seen_us": r.first_seen_us,
                ":last_seen_us": r.last_seen_us,
                ":example_id": r.example_id,
            })?;
            upsert.execute(named_params! {
                ":minute_us": minute,
                ":run_id": run_id,
                ":worker_id": worker,
                ":error_type": error_type.as_ref(),
                ":count": r.count,
                ":first_seen_us": r.first_seen_us,
                ":last_seen_us": r.last_seen_us,
                ":example_id": r.example_id,
            })?;
        }
    }
    if !batch.workflow_rollups.is_empty() {
        let mut upsert = ByName::new(tx.prepare_cached(crate::sql::write::UPSERT_WORKFLOW_ROLLUP)?);
        for ((name, minute), r) in &batch.workflow_rollups {
            upsert.execute(named_params! {
                ":workflow_name": name.as_ref(),
                ":minute_us": minute,
                ":completed": r.completed,
                ":failed": r.failed,
                ":compensated": r.compensated,
                ":cancelled": r.cancelled,
                ":latency_sum_us": r.latency_sum_us,
                ":latency_max_us": r.latency_max_us,
                ":run_id": run_id,
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use crate::store::migrate;

    /// The writer's and retention's statements follow the read queries'
    /// rules: every parameter has a name (a value bound to the wrong column
    /// is then an error, not a silent mix-up) and a header comment says
    /// which index serves the statement.
    #[test]
    fn write_and_retention_statements_bind_by_name_and_name_their_index() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate::migrate(&mut conn, std::path::Path::new(":memory:")).unwrap();
        let catalogue = [
            ("queries/write/", crate::sql::write::FILES),
            ("queries/retention/", crate::sql::retention::FILES),
        ];
        let mut checked = 0;
        for (dir, files) in catalogue {
            for (name, sql) in files {
                let path = format!("{dir}{name}");
                let header = sql.lines().take_while(|l| l.starts_with("--"));
                assert!(
                    header.clone().any(|l| l.contains("Index")),
                    "{path}: no header comment naming its index"
                );
                let stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{path}: {e}"));
                for i in 1..=stmt.parameter_count() {
                    assert!(
                        stmt.parameter_name(i).is_some_and(|n| n.starts_with(':')),
                        "{path}: parameter {i} has no name"
                    );
                }
                checked += 1;
            }
        }
        // The catalogue holds every file on disk (a test in `crate::sql`).
        assert!(checked >= 26, "only {checked} statements found");
    }
}
