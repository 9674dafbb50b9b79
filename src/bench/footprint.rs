//! Bytes on disk per recorded execution: every table and index of the
//! generated query dataset, from SQLite's `dbstat` virtual table (compiled
//! into the bundled SQLite), over the executions (event rows) it holds.
//!
//! `dbstat` counts whole pages (`pgsize`), so free space inside pages is
//! charged to the b-tree that owns it, as it is on disk; the free list and
//! the file header's page are the difference to the file's size (in the
//! details).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use rusqlite::{Connection, OpenFlags};
use serde_json::json;

use super::{BenchResult, Figure, Goal, Progress};

/// One b-tree (a table or an index) as `dbstat` sums it.
#[derive(Debug, Clone, serde::Serialize)]
struct Btree {
    name: String,
    /// `table` or `index` (`sqlite_schema` and internal trees: `internal`).
    kind: String,
    /// The table it belongs to (itself for a table).
    table: String,
    pages: i64,
    bytes: i64,
    payload_bytes: i64,
    unused_bytes: i64,
}

/// Every b-tree of the file with its pages and bytes, largest first.
fn btrees(conn: &Connection) -> BenchResult<Vec<Btree>> {
    // dbstat('main', 1): one aggregated row per b-tree instead of one per
    // page, so the scan of a large file returns a few dozen rows.
    let mut stmt = conn.prepare(
        "SELECT d.name, coalesce(s.type, 'internal'), coalesce(s.tbl_name, d.name),
                d.pageno, d.pgsize, d.payload, d.unused
         FROM dbstat('main', 1) d LEFT JOIN sqlite_schema s ON s.name = d.name
         ORDER BY d.pgsize DESC",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Btree {
            name: r.get(0)?,
            kind: r.get(1)?,
            table: r.get(2)?,
            pages: r.get(3)?,
            bytes: r.get(4)?,
            payload_bytes: r.get(5)?,
            unused_bytes: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The `bytes_per_execution` figure of the database at `path`.
pub(super) fn bytes_per_execution(path: &Path, progress: Progress<'_>) -> BenchResult<Figure> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let executions: i64 = conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0))?;
    let trees = btrees(&conn).context("reading dbstat (SQLITE_ENABLE_DBSTAT_VTAB)")?;
    let total: i64 = trees.iter().map(|t| t.bytes).sum();
    let file_bytes = std::fs::metadata(path)?.len();
    let per = |b: i64| b as f64 / executions.max(1) as f64;
    // Per table: its own b-tree and its indexes together.
    let mut by_table: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for t in &trees {
        let e = by_table.entry(t.table.as_str()).or_default();
        if t.kind == "index" {
            e.1 += t.bytes;
        } else {
            e.0 += t.bytes;
        }
    }
    let tables: serde_json::Map<String, serde_json::Value> = by_table
        .iter()
        .map(|(name, (own, indexes))| {
            (
                name.to_string(),
                json!({
                    "table_bytes": own,
                    "index_bytes": indexes,
                    "bytes_per_execution": per(own + indexes),
                }),
            )
        })
        .collect();
    let btrees: Vec<serde_json::Value> = trees
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "kind": t.kind,
                "table": t.table,
                "pages": t.pages,
                "bytes": t.bytes,
                "payload_bytes": t.payload_bytes,
                "unused_bytes": t.unused_bytes,
                "bytes_per_execution": per(t.bytes),
            })
        })
        .collect();
    let index_bytes: i64 = trees
        .iter()
        .filter(|t| t.kind == "index")
        .map(|t| t.bytes)
        .sum();
    progress(&format!(
        "  bytes per execution: {:.0} ({} MiB in b-trees, {} executions)",
        per(total),
        total >> 20,
        executions
    ));
    Ok(Figure::new(
        "bytes_per_execution",
        "bytes on disk per recorded execution (every table and index, from dbstat) of the generated query dataset (the hour of --query-executions)",
        per(total),
        "B",
        None,
        Goal::None,
        json!({
            "executions": executions,
            "btree_bytes": total,
            "table_bytes": total - index_bytes,
            "index_bytes": index_bytes,
            "file_bytes": file_bytes,
            "file_bytes_per_execution": per(file_bytes as i64),
            "by_table": tables,
            "btrees": btrees,
        }),
    ))
}
