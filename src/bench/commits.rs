//! Group commit against one transaction per row: the same records through
//! our writer, once sent freely (the writer batches them) and once with a
//! flush after every record (each record its own transaction). It shows what
//! group commit buys, the figure DESIGN.md measured as 0.66–0.88 M rows/s
//! batched against 76 k rows/s one transaction per row.

use super::BenchResult;
use std::time::Instant;

use serde_json::json;

use super::ingest::{Names, ROWS_PER_WORKFLOW, workflow_records};
use super::workload::open_store;
use super::{BenchOptions, Figure, Goal, Progress, per_s};
use crate::clock;

/// Workflows per side: one transaction per row is slow, so this side stays
/// small whatever the ingest size.
fn workflows(options: &BenchOptions) -> usize {
    (options.ingest_rows / ROWS_PER_WORKFLOW / 20).clamp(100, 20_000)
}

pub(super) async fn measure(
    options: &BenchOptions,
    progress: Progress<'_>,
) -> BenchResult<Vec<Figure>> {
    let workflows = workflows(options);
    let rows = workflows * ROWS_PER_WORKFLOW;
    let names = Names::new();

    progress(&format!("  {rows} rows, one transaction per record"));
    let (_store, writer) = open_store(&options.db_path("commits-per-row"))?;
    let t0 = clock::now_us();
    let started = Instant::now();
    for i in 0..workflows {
        for record in workflow_records(&writer, &names, t0 + i as i64 * 50) {
            writer.record(record).await?;
            writer.flush().await?;
        }
    }
    let per_row = started.elapsed();
    let per_row_stats = writer.stats();
    writer.shutdown().await?;

    progress(&format!("  {rows} rows, group commit"));
    let (_store, writer) = open_store(&options.db_path("commits-batched"))?;
    let started = Instant::now();
    for i in 0..workflows {
        for record in workflow_records(&writer, &names, t0 + i as i64 * 50) {
            writer.record(record).await?;
        }
    }
    writer.flush().await?;
    let batched = started.elapsed();
    let batched_stats = writer.stats();
    writer.shutdown().await?;
    super::remove_db(&options.db_path("commits-per-row"));
    super::remove_db(&options.db_path("commits-batched"));

    Ok(vec![Figure::new(
        "writer_one_transaction_per_row",
        "rows/s through the writer with a flush (one transaction) per record, one producer",
        per_s(rows, per_row),
        "rows/s",
        Some((
            per_s(rows, batched),
            "group commit, same records, one producer",
        )),
        Goal::None,
        json!({
            "rows": rows,
            "per_row_transactions": per_row_stats.batches_committed,
            "batched_transactions": batched_stats.batches_committed,
            "per_row_elapsed_s": per_row.as_secs_f64(),
            "batched_elapsed_s": batched.as_secs_f64(),
        }),
    )])
}
