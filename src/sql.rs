//! The catalogue of every SQL text the crate runs: each file of
//! `migrations/` and `queries/` embedded here, once, with `include_str!`.
//!
//! The statements live in `.sql` files so that each runs as-is in the
//! `sqlite3` shell (named `:parameters`) and carries its header comment (what
//! it answers, its parameters, the index it uses). The Rust that runs one
//! names its constant here; nothing else embeds SQL, so a file is never
//! included twice and a new file missing from the catalogue fails a test.
//!
//! One module per directory: [`migrations`], [`queries`] (the monitoring
//! questions, [`QUERY_FILES`]), and the store's own statements in
//! [`write`](mod@write), [`lifecycle`], [`merge`], [`retention`] and
//! [`store`]. This module depends on nothing of the crate: the store uses it.

/// Declares one constant per SQL file of a directory, and `FILES`: every
/// file of the directory by name with its text, in the listed order.
macro_rules! sql_files {
    ($dir:literal { $($name:ident = $file:literal,)* }) => {
        $(
            #[doc = concat!("`", $dir, $file, "`.")]
            pub const $name: &str =
                include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $dir, $file));
        )*
        /// Every file of this directory (its name, without the directory)
        /// with its text.
        pub const FILES: &[(&str, &str)] = &[$(($file, $name)),*];
    };
}

/// Schema migrations, `migrations/NNNN_name.sql`, applied in order by
/// `store::migrate`.
pub mod migrations {
    sql_files!("migrations/" {
        M0001_INITIAL = "0001_initial.sql",
        M0002_RUN_INDEXES_AND_STAGE_VIEW = "0002_run_indexes_and_stage_view.sql",
        M0003_RUN_LIFECYCLE = "0003_run_lifecycle.sql",
        M0004_ROLLUPS_PER_RUN = "0004_rollups_per_run.sql",
        M0005_SKETCHES = "0005_sketches.sql",
        M0006_COMPACT_EVENTS = "0006_compact_events.sql",
        M0007_HOUR_ROLLUPS = "0007_hour_rollups.sql",
        M0008_HOSTS_AND_MERGE = "0008_hosts_and_merge.sql",
    });
}

/// The questions, `queries/*.sql`: monitoring, runs and workflow status.
///
/// Listed in the order the query benchmark reports them.
pub mod queries {
    sql_files!("queries/" {
        ACTIVE_WORKFLOW_COUNT = "active_workflow_count.sql",
        ACTIVE_WORKFLOWS = "active_workflows.sql",
        ALERT_HISTORY = "alert_history.sql",
        BUSINESS_METRICS_HOURLY = "business_metrics_hourly.sql",
        CUSTOM_METRIC_COUNTERS = "custom_metric_counters.sql",
        CUSTOM_METRIC_GAUGES = "custom_metric_gauges.sql",
        CUSTOM_METRIC_HISTOGRAMS = "custom_metric_histograms.sql",
        CUSTOM_METRIC_HISTOGRAM_BUCKETS = "custom_metric_histogram_buckets.sql",
        ERROR_PATTERNS = "error_patterns.sql",
        ERROR_PATTERNS_ROLLUPS = "error_patterns_rollups.sql",
        EVENT_METRICS = "event_metrics.sql",
        EVENT_METRICS_SKETCH = "event_metrics_sketch.sql",
        EVENT_SUMMARY_ROLLUPS = "event_summary_rollups.sql",
        EVENT_LATENCY_HISTOGRAM_ROLLUPS = "event_latency_histogram_rollups.sql",
        EVENT_LATENCY_HISTOGRAM_EVENTS = "event_latency_histogram_events.sql",
        RETENTION_WATERMARKS = "retention_watermarks.sql",
        WORKFLOW_OUTCOMES_ROLLUPS = "workflow_outcomes_rollups.sql",
        FIRING_ALERTS = "firing_alerts.sql",
        HOSTS = "hosts.sql",
        RUN_BOUNDS = "run_bounds.sql",
        RUN_DETAILS = "run_details.sql",
        RUNS = "runs.sql",
        SYSTEM_METRICS = "system_metrics.sql",
        SYSTEM_SAMPLES_SERIES = "system_samples_series.sql",
        TRACKED_WORKERS = "tracked_workers.sql",
        TRANSACTION_TRACE = "transaction_trace.sql",
        WORKER_ID = "worker_id.sql",
        WORKER_PERFORMANCE = "worker_performance.sql",
        WORKER_PERFORMANCE_SKETCH = "worker_performance_sketch.sql",
        WORKFLOW_OUTCOMES = "workflow_outcomes.sql",
        WORKFLOW_STATUS = "workflow_status.sql",
        THROUGHPUT_PER_MINUTE = "throughput_per_minute.sql",
        WORKER_HISTOGRAM_EVENTS = "worker_histogram_events.sql",
        WORKER_HISTOGRAM_ROLLUPS = "worker_histogram_rollups.sql",
        WORKER_TOTALS_EVENTS = "worker_totals_events.sql",
        WORKER_TOTALS_ROLLUPS = "worker_totals_rollups.sql",
        WORKFLOW_OUTCOME_COUNTS = "workflow_outcome_counts.sql",
        WORKFLOW_DURATION_HISTOGRAM = "workflow_duration_histogram.sql",
        WORKER_SUMMARY_ROLLUPS = "worker_summary_rollups.sql",
        THROUGHPUT_PER_MINUTE_ROLLUPS = "throughput_per_minute_rollups.sql",
        SERIES_EVENTS = "series_events.sql",
        SERIES_ROLLUPS = "series_rollups.sql",
        WORKER_EXECUTIONS = "worker_executions.sql",
    });
}

/// The writer's statements, `queries/write/*.sql` (the writer also looks
/// up worker ids with [`queries::WORKER_ID`], the monitors' statement).
pub mod write {
    sql_files!("queries/write/" {
        FINISH_EVENT = "finish_event.sql",
        HOST_ID = "host_id.sql",
        INSERT_ALERT = "insert_alert.sql",
        INSERT_EVENT = "insert_event.sql",
        INSERT_HOST = "insert_host.sql",
        INSERT_METRIC = "insert_metric.sql",
        INSERT_RUN = "insert_run.sql",
        INSERT_SYSTEM_SAMPLE = "insert_system_sample.sql",
        INSERT_WORKER = "insert_worker.sql",
        INSERT_WORKFLOW = "insert_workflow.sql",
        RESOLVE_ALERT = "resolve_alert.sql",
        SET_SKETCHED_UNTIL = "set_sketched_until.sql",
        UPDATE_WORKFLOW = "update_workflow.sql",
        UPSERT_ERROR_HOUR_ROLLUP = "upsert_error_hour_rollup.sql",
        UPSERT_ERROR_ROLLUP = "upsert_error_rollup.sql",
        UPSERT_LATENCY_HISTOGRAM = "upsert_latency_histogram.sql",
        UPSERT_RUN_HOST = "upsert_run_host.sql",
        UPSERT_WORKER_HISTOGRAM = "upsert_worker_histogram.sql",
        UPSERT_WORKER_HOUR_HISTOGRAM = "upsert_worker_hour_histogram.sql",
        UPSERT_WORKER_HOUR_ROLLUP = "upsert_worker_hour_rollup.sql",
        UPSERT_WORKER_HOUR_SKETCH = "upsert_worker_hour_sketch.sql",
        UPSERT_WORKER_MINUTE_SKETCH = "upsert_worker_minute_sketch.sql",
        UPSERT_WORKER_ROLLUP = "upsert_worker_rollup.sql",
        UPSERT_WORKFLOW_ROLLUP = "upsert_workflow_rollup.sql",
    });
}

/// Opening and closing runs, `queries/lifecycle/*.sql`.
pub mod lifecycle {
    sql_files!("queries/lifecycle/" {
        CLOSE_ALERTS = "close_alerts.sql",
        CLOSE_EVENT_LATENCY_HISTOGRAM = "close_event_latency_histogram.sql",
        CLOSE_EVENTS = "close_events.sql",
        CLOSE_HOUR_SKETCH = "close_hour_sketch.sql",
        CLOSE_MINUTE_SKETCH = "close_minute_sketch.sql",
        CLOSE_RUN = "close_run.sql",
        CLOSE_WORKER_HISTOGRAM = "close_worker_histogram.sql",
        CLOSE_WORKER_HOUR_HISTOGRAM = "close_worker_hour_histogram.sql",
        CLOSE_WORKER_HOUR_ROLLUPS = "close_worker_hour_rollups.sql",
        CLOSE_WORKER_ROLLUPS = "close_worker_rollups.sql",
        CLOSE_WORKFLOW_ROLLUPS = "close_workflow_rollups.sql",
        CLOSE_WORKFLOWS = "close_workflows.sql",
        COMPLETE_HOUR_SKETCH = "complete_hour_sketch.sql",
        COMPLETE_MINUTE_SKETCH = "complete_minute_sketch.sql",
        HEARTBEAT = "heartbeat.sql",
        INSERT_MAINTENANCE = "insert_maintenance.sql",
        LAST_RECORD = "last_record.sql",
        NEXT_RUN_ID = "next_run_id.sql",
        RUNNING_RUNS = "running_runs.sql",
        SKETCHED_UNTIL = "sketched_until.sql",
    });
}

/// `multiagents merge`'s statements, `queries/merge/*.sql`: each input is
/// attached read-only as `src` (further inputs of one merge as `src2`, ...:
/// see `store::merge`) and copied into OUT, `main`.
pub mod merge {
    sql_files!("queries/merge/" {
        ADD_HOSTS = "add_hosts.sql",
        ADD_WORKERS = "add_workers.sql",
        ATTACH_SOURCE = "attach_source.sql",
        CLEAR_MAPS = "clear_maps.sql",
        COPY_ALERTS = "copy_alerts.sql",
        COPY_CUSTOM_METRICS = "copy_custom_metrics.sql",
        COPY_ERROR_HOUR_ROLLUPS = "copy_error_hour_rollups.sql",
        COPY_ERROR_MINUTE_ROLLUPS = "copy_error_minute_rollups.sql",
        COPY_EVENT_MINUTE_LATENCY_HISTOGRAM = "copy_event_minute_latency_histogram.sql",
        COPY_EVENTS = "copy_events.sql",
        COPY_RETENTION_WATERMARKS = "copy_retention_watermarks.sql",
        COPY_RUN = "copy_run.sql",
        COPY_RUN_HOSTS = "copy_run_hosts.sql",
        COPY_SYSTEM_SAMPLES = "copy_system_samples.sql",
        COPY_WORKER_HOUR_HISTOGRAM = "copy_worker_hour_histogram.sql",
        COPY_WORKER_HOUR_ROLLUPS = "copy_worker_hour_rollups.sql",
        COPY_WORKER_HOUR_SKETCH = "copy_worker_hour_sketch.sql",
        COPY_WORKER_MINUTE_HISTOGRAM = "copy_worker_minute_histogram.sql",
        COPY_WORKER_MINUTE_ROLLUPS = "copy_worker_minute_rollups.sql",
        COPY_WORKER_MINUTE_SKETCH = "copy_worker_minute_sketch.sql",
        COPY_WORKFLOW_MINUTE_ROLLUPS = "copy_workflow_minute_rollups.sql",
        COPY_WORKFLOWS = "copy_workflows.sql",
        INSERT_SOURCE = "insert_source.sql",
        MAP_HOSTS = "map_hosts.sql",
        MAP_RUN = "map_run.sql",
        MAP_WORKERS = "map_workers.sql",
        MAPS = "maps.sql",
        SOURCE_RUNS = "source_runs.sql",
        UNATTRIBUTED_ROWS = "unattributed_rows.sql",
    });
}

/// Retention's deletes, `queries/retention/*.sql`.
pub mod retention {
    sql_files!("queries/retention/" {
        ABANDONED_WORKFLOWS = "abandoned_workflows.sql",
        DELETE_ALERTS = "delete_alerts.sql",
        DELETE_CUSTOM_METRICS = "delete_custom_metrics.sql",
        DELETE_ERROR_HOUR_ROLLUPS = "delete_error_hour_rollups.sql",
        DELETE_ERROR_ROLLUPS = "delete_error_rollups.sql",
        DELETE_LATENCY_HISTOGRAM = "delete_latency_histogram.sql",
        DELETE_SYSTEM_SAMPLES = "delete_system_samples.sql",
        DELETE_WORKER_HISTOGRAM = "delete_worker_histogram.sql",
        DELETE_WORKER_HOUR_HISTOGRAM = "delete_worker_hour_histogram.sql",
        DELETE_WORKER_HOUR_ROLLUPS = "delete_worker_hour_rollups.sql",
        DELETE_WORKER_HOUR_SKETCH = "delete_worker_hour_sketch.sql",
        DELETE_WORKER_MINUTE_SKETCH = "delete_worker_minute_sketch.sql",
        DELETE_WORKER_ROLLUPS = "delete_worker_rollups.sql",
        DELETE_WORKFLOW = "delete_workflow.sql",
        DELETE_WORKFLOW_EVENTS = "delete_workflow_events.sql",
        DELETE_WORKFLOW_ROLLUPS = "delete_workflow_rollups.sql",
        EXPIRED_WORKFLOWS = "expired_workflows.sql",
        RAISE_WATERMARK = "raise_watermark.sql",
    });
}

/// The store's checks of a file, `queries/store/*.sql`.
pub mod store {
    sql_files!("queries/store/" {
        RUN_COUNT = "run_count.sql",
        SCHEMA_FINGERPRINT = "schema_fingerprint.sql",
        SKETCH_BUCKETS = "sketch_buckets.sql",
        SKETCH_KEY = "sketch_key.sql",
        SNAPSHOT = "snapshot.sql",
        UNFINISHED_RUN_COUNT = "unfinished_run_count.sql",
    });
}

/// Every top-level `queries/*.sql` file by name with its text: the questions
/// whose plans one test checks for full scans and the benchmark times.
pub const QUERY_FILES: &[(&str, &str)] = queries::FILES;

/// Every directory of the catalogue (relative to the crate root, with its
/// trailing `/`) with its files.
pub const DIRECTORIES: &[(&str, &[(&str, &str)])] = &[
    ("migrations/", migrations::FILES),
    ("queries/", queries::FILES),
    ("queries/lifecycle/", lifecycle::FILES),
    ("queries/merge/", merge::FILES),
    ("queries/retention/", retention::FILES),
    ("queries/store/", store::FILES),
    ("queries/write/", write::FILES),
];

/// Every SQL file of the catalogue: its path relative to the crate root, and
/// its text.
pub fn all_files() -> impl Iterator<Item = (String, &'static str)> {
    DIRECTORIES.iter().flat_map(|(dir, files)| {
        files
            .iter()
            .map(move |(name, text)| (format!("{dir}{name}"), *text))
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The `.sql` files under `dir`, recursively, relative to `root`.
    fn sql_on_disk(root: &Path, dir: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sql_on_disk(root, &path, found);
            } else if path.extension().is_some_and(|e| e == "sql") {
                let relative = path.strip_prefix(root).unwrap();
                found.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }

    /// A new `.sql` file must be added to the catalogue (and so has one
    /// home), and no file is listed twice.
    #[test]
    fn the_catalogue_holds_every_sql_file_once() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut on_disk = Vec::new();
        for dir in ["migrations", "queries"] {
            sql_on_disk(root, &root.join(dir), &mut on_disk);
        }
        on_disk.sort();
        let mut listed: Vec<String> = super::all_files().map(|(path, _)| path).collect();
        listed.sort();
        let before = listed.len();
        listed.dedup();
        assert_eq!(listed.len(), before, "a file is listed twice");
        assert_eq!(listed, on_disk, "add new .sql files to src/sql.rs");
        for (path, text) in super::all_files() {
            let on_disk = std::fs::read_to_string(root.join(&path)).unwrap();
            assert_eq!(on_disk, text, "{path} is embedded from its file");
        }
    }

    /// The statement of a file without its comments, spacing and final `;`.
    fn statement(text: &str) -> String {
        let code: Vec<&str> = text
            .lines()
            .map(|line| line.split("--").next().unwrap_or(""))
            .flat_map(str::split_whitespace)
            .collect();
        code.join(" ").trim_end_matches(';').trim_end().to_string()
    }

    /// Two files holding the same statement would be one question with two
    /// homes (as `worker_id.sql` and `write/select_worker_id.sql` were).
    #[test]
    fn no_two_files_hold_the_same_statement() {
        let mut statements: Vec<(String, String)> = super::all_files()
            .map(|(path, text)| (statement(text), path))
            .collect();
        statements.sort();
        for pair in statements.windows(2) {
            assert_ne!(pair[0].0, pair[1].0, "{} and {}", pair[0].1, pair[1].1);
        }
        assert_eq!(
            statement("-- a\nSELECT id -- b\n  FROM t;\n"),
            "SELECT id FROM t"
        );
    }
}
