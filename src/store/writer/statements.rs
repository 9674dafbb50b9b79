//! The statements a batch is written with, and their bindings: one
//! `queries/write/*.sql` file per statement.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{Transaction, params};

use super::batch::Batch;

/// A step name as SQL text (`NULL` when absent).
fn opt_str(s: &Option<Arc<str>>) -> Option<&str> {
    s.as_deref()
}

/// The `workers.id` of `name`, inserting it the first time; cached for the
/// writer's life (cleared when a transaction rolls back).
fn worker_id(
    tx: &Transaction<'_>,
    cache: &mut HashMap<Arc<str>, i64>,
    name: &Arc<str>,
) -> Result<i64, rusqlite::Error> {
    if let Some(&id) = cache.get(name) {
        return Ok(id);
    }
    tx.prepare_cached(include_str!("../../../queries/write/insert_worker.sql"))?
        .execute([name.as_ref()])?;
    let id: i64 = tx
        .prepare_cached(include_str!("../../../queries/write/select_worker_id.sql"))?
        .query_row([name.as_ref()], |row| row.get(0))?;
    cache.insert(Arc::clone(name), id);
    Ok(id)
}

/// Writes every row of the batch, and adds its rollups, inside `tx`.
pub(super) fn write_batch(
    tx: &Transaction<'_>,
    batch: &Batch,
    run_id: i64,
    workers: &mut HashMap<Arc<str>, i64>,
) -> Result<(), rusqlite::Error> {
    if !batch.workflows.is_empty() {
        let mut insert =
            tx.prepare_cached(include_str!("../../../queries/write/insert_workflow.sql"))?;
        for row in &batch.workflows {
            let s = &row.start;
            insert.execute(params![
                s.id,
                s.transaction_id.as_ref(),
                run_id,
                s.workflow_name.as_ref(),
                row.state.as_str(),
                opt_str(&row.current_step),
                s.created_at_us,
                s.started_at_us,
                row.compensating_at_us,
                row.ended_at_us,
                s.input_size_bytes,
                row.error.as_deref(),
            ])?;
        }
    }
    if !batch.events.is_empty() {
        let mut insert =
            tx.prepare_cached(include_str!("../../../queries/write/insert_event.sql"))?;
        for row in &batch.events {
            let s = &row.start;
            let worker = worker_id(tx, workers, &s.worker)?;
            let e = row.end.as_ref();
            insert.execute(params![
                s.id,
                s.workflow_id,
                s.event_type.as_str(),
                s.step.as_ref(),
                worker,
                s.attempt,
                e.map_or("dispatched", |e| e.outcome.as_str()),
                s.dispatched_at_us,
                e.and_then(|e| e.picked_up_at_us),
                e.and_then(|e| e.processing_at_us),
                e.map(|e| e.finished_at_us),
                e.map(|e| e.duration_us),
                s.payload_size_bytes,
                e.and_then(|e| e.result_size_bytes),
                e.and_then(|e| e.error_type.as_deref()),
                e.and_then(|e| e.error_message.as_deref()),
            ])?;
        }
    }
    if !batch.event_finishes.is_empty() {
        let mut update =
            tx.prepare_cached(include_str!("../../../queries/write/finish_event.sql"))?;
        for e in &batch.event_finishes {
            update.execute(params![
                e.id,
                e.outcome.as_str(),
                e.picked_up_at_us,
                e.processing_at_us,
                e.finished_at_us,
                e.duration_us,
                e.result_size_bytes,
                e.error_type.as_deref(),
                e.error_message.as_deref(),
            ])?;
        }
    }
    if !batch.workflow_changes.is_empty() {
        let mut update =
            tx.prepare_cached(include_str!("../../../queries/write/update_workflow.sql"))?;
        for c in &batch.workflow_changes {
            update.execute(params![
                c.id,
                c.state.as_str(),
                c.at_us,
                opt_str(&c.current_step),
                c.error.as_deref(),
            ])?;
        }
    }
    write_rollups(tx, batch, run_id, workers)?;
    if !batch.samples.is_empty() {
        let mut insert = tx.prepare_cached(include_str!(
            "../../../queries/write/insert_system_sample.sql"
        ))?;
        for s in &batch.samples {
            insert.execute(params![
                run_id,
                s.sampled_at_us,
                s.cpu_usage_percent,
                s.memory_usage_percent,
                s.memory_used_bytes,
                s.memory_total_bytes,
                s.load_avg_1m,
                s.load_avg_5m,
                s.load_avg_15m,
                s.process_cpu_percent,
                s.process_rss_bytes,
                s.active_connections,
                s.active_workflows,
            ])?;
        }
    }
    if !batch.metrics.is_empty() {
        let mut insert =
            tx.prepare_cached(include_str!("../../../queries/write/insert_metric.sql"))?;
        for m in &batch.metrics {
            insert.execute(params![
                run_id,
                m.name,
                m.metric_type.as_str(),
                m.labels_json,
                m.value,
                m.recorded_at_us
            ])?;
        }
    }
    if !batch.alerts.is_empty() {
        let mut insert =
            tx.prepare_cached(include_str!("../../../queries/write/insert_alert.sql"))?;
        for a in &batch.alerts {
            insert.execute(params![
                a.id,
                run_id,
                a.alert_type,
                a.subject,
                a.severity,
                a.message,
                a.value,
                a.threshold,
                a.fired_at_us,
                a.details_json
            ])?;
        }
    }
    if !batch.alert_resolutions.is_empty() {
        let mut update =
            tx.prepare_cached(include_str!("../../../queries/write/resolve_alert.sql"))?;
        for (id, at) in &batch.alert_resolutions {
            update.execute(params![id, at])?;
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
    if !batch.worker_rollups.is_empty() {
        let mut upsert = tx.prepare_cached(include_str!(
            "../../../queries/write/upsert_worker_rollup.sql"
        ))?;
        for ((worker, event_type, minute), r) in &batch.worker_rollups {
            let worker = worker_id(tx, workers, worker)?;
            upsert.execute(params![
                worker,
                event_type.as_str(),
                minute,
                r.completed,
                r.failed,
                r.timeout,
                r.cancelled,
                r.duration_sum_us,
                r.duration_min_us,
                r.duration_max_us,
                r.latency_sum_us,
                r.latency_max_us,
                r.payload_sum_bytes,
                run_id,
            ])?;
        }
    }
    if !batch.histogram.is_empty() {
        let mut upsert = tx.prepare_cached(include_str!(
            "../../../queries/write/upsert_worker_histogram.sql"
        ))?;
        for ((worker, minute, le), count) in &batch.histogram {
            let worker = worker_id(tx, workers, worker)?;
            upsert.execute(params![worker, minute, le, count, run_id])?;
        }
    }
    if !batch.latency_histogram.is_empty() {
        let mut upsert = tx.prepare_cached(include_str!(
            "../../../queries/write/upsert_latency_histogram.sql"
        ))?;
        for ((minute, le), count) in &batch.latency_histogram {
            upsert.execute(params![run_id, minute, le, count])?;
        }
    }
    if !batch.workflow_rollups.is_empty() {
        let mut upsert = tx.prepare_cached(include_str!(
            "../../../queries/write/upsert_workflow_rollup.sql"
        ))?;
        for ((name, minute), r) in &batch.workflow_rollups {
            upsert.execute(params![
                name.as_ref(),
                minute,
                r.completed,
                r.failed,
                r.compensated,
                r.cancelled,
                r.latency_sum_us,
                r.latency_max_us,
                run_id,
            ])?;
        }
    }
    Ok(())
}
