-- multiagents schema, version 1.
--
-- Allowed values are checked with `x = 'a' OR x = 'b'`, not `x IN ('a', 'b')`:
-- SQLite evaluates an IN list in a CHECK by building a temporary b-tree on
-- every INSERT, which cost the writer about a fifth of its time.
--
-- Timestamps are integer microseconds since the Unix epoch (columns ending in
-- `_us`): cheap to index and compare. The views at the end of this file show
-- them as ISO-8601 text for people exploring the file with the sqlite3 shell.
--
-- Row ids of workflows and events are `(run_id << 40) | sequence`, assigned by
-- the process that records them: time-ordered (so every index on them is
-- appended to at its end, which keeps ingest fast), unique across processes
-- sharing one file without any coordination, and a run's rows form one id
-- range.

-- One row per process run (a `demo`, a `load-test`, an embedding program).
CREATE TABLE runs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at_us  INTEGER NOT NULL,
    ended_at_us    INTEGER,           -- NULL while running, or after a crash
    command        TEXT    NOT NULL,  -- the command line
    config_json    TEXT    NOT NULL,  -- the effective MonitoringConfig
    version        TEXT    NOT NULL,  -- crate version that recorded the run
    host           TEXT    NOT NULL
) STRICT;

-- Worker names, so the large tables store a small integer per row.
-- Also answers get_tracked_workers().
CREATE TABLE workers (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
) STRICT;

-- One row per workflow execution (a transaction). Its status events are the
-- timestamp columns: pending at created, running at started, compensating,
-- and the terminal state at ended.
CREATE TABLE workflows (
    id                  INTEGER PRIMARY KEY,
    transaction_id      TEXT    NOT NULL,
    run_id              INTEGER NOT NULL REFERENCES runs (id),
    workflow_name       TEXT    NOT NULL,
    state               TEXT    NOT NULL CHECK (state = 'pending' OR state = 'running' OR
                                                state = 'completed' OR state = 'failed' OR
                                                state = 'compensating' OR state = 'compensated' OR
                                                state = 'cancelled'),
    current_step        TEXT,
    created_at_us       INTEGER NOT NULL,
    started_at_us       INTEGER,
    compensating_at_us  INTEGER,
    ended_at_us         INTEGER,
    input_size_bytes    INTEGER NOT NULL,
    error               TEXT
) STRICT;

-- get_status / trace by transaction id (UUIDv7, so appended in order).
CREATE UNIQUE INDEX workflows_by_transaction ON workflows (transaction_id);
-- Active workflows (dashboard): only unfinished rows are in this index; a
-- workflow that starts and ends within one writer batch never enters it.
CREATE INDEX workflows_active ON workflows (created_at_us) WHERE ended_at_us IS NULL;
-- Workflow outcomes over a window (reports, load test, compare).
CREATE INDEX workflows_by_end ON workflows (ended_at_us) WHERE ended_at_us IS NOT NULL;

-- One row per event: a command sent to a worker (one attempt of one step) or
-- a compensation. Each lifecycle stage has its own timestamp column, so one
-- row carries the whole lifecycle (dispatched -> picked_up -> processing ->
-- completed | failed | timeout | cancelled) and is also the execution record
-- of that attempt (see the `executions` view). One row instead of a row per
-- stage is what lets the single writer keep up (DESIGN.md, "The hot path").
CREATE TABLE events (
    id                  INTEGER PRIMARY KEY,
    workflow_id         INTEGER NOT NULL REFERENCES workflows (id),
    event_type          TEXT    NOT NULL CHECK (event_type = 'command' OR
                                                event_type = 'compensation'),
    step                TEXT    NOT NULL,
    worker_id           INTEGER NOT NULL REFERENCES workers (id),
    attempt             INTEGER NOT NULL,
    status              TEXT    NOT NULL CHECK (status = 'dispatched' OR status = 'completed' OR
                                                status = 'failed' OR status = 'timeout' OR
                                                status = 'cancelled'),
    dispatched_at_us    INTEGER NOT NULL,
    picked_up_at_us     INTEGER,
    processing_at_us    INTEGER,
    finished_at_us      INTEGER,
    duration_us         INTEGER,  -- finished - processing: the worker's own time
    payload_size_bytes  INTEGER NOT NULL,
    result_size_bytes   INTEGER,
    error_type          TEXT,     -- text before the first ':' of the message, bounded
    error_message       TEXT
) STRICT;

-- get_transaction_trace: all events of one workflow.
CREATE INDEX events_by_workflow ON events (workflow_id);
-- Windowed worker and event metrics (get_worker_performance,
-- get_event_metrics, error patterns): covering for durations and status, so
-- P95 is read from the index alone.
CREATE INDEX events_by_worker_finish ON events (worker_id, finished_at_us, duration_us, status)
    WHERE finished_at_us IS NOT NULL;

-- Per-minute, per-worker summaries kept by the writer. They outlive the raw
-- rows (retention) and make whole-hour questions cheap.
CREATE TABLE worker_minute_rollups (
    worker_id          INTEGER NOT NULL REFERENCES workers (id),
    event_type         TEXT    NOT NULL,
    minute_us          INTEGER NOT NULL,  -- start of the minute
    completed          INTEGER NOT NULL DEFAULT 0,
    failed             INTEGER NOT NULL DEFAULT 0,
    timeout            INTEGER NOT NULL DEFAULT 0,
    cancelled          INTEGER NOT NULL DEFAULT 0,
    duration_sum_us    INTEGER NOT NULL DEFAULT 0,
    duration_min_us    INTEGER,
    duration_max_us    INTEGER,
    latency_sum_us     INTEGER NOT NULL DEFAULT 0,  -- dispatched -> finished
    latency_max_us     INTEGER,
    payload_sum_bytes  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (minute_us, worker_id, event_type)
) STRICT, WITHOUT ROWID;

-- Duration histogram per worker and minute: `count` executions took at most
-- `le_ms` milliseconds and more than the next lower bound (le_ms = -1 is +Inf).
CREATE TABLE worker_minute_histogram (
    worker_id  INTEGER NOT NULL REFERENCES workers (id),
    minute_us  INTEGER NOT NULL,
    le_ms      INTEGER NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (minute_us, worker_id, le_ms)
) STRICT, WITHOUT ROWID;

-- Workflow outcomes per name and minute, kept by the writer.
CREATE TABLE workflow_minute_rollups (
    workflow_name      TEXT    NOT NULL,
    minute_us          INTEGER NOT NULL,
    completed          INTEGER NOT NULL DEFAULT 0,
    failed             INTEGER NOT NULL DEFAULT 0,
    compensated        INTEGER NOT NULL DEFAULT 0,
    cancelled          INTEGER NOT NULL DEFAULT 0,
    latency_sum_us     INTEGER NOT NULL DEFAULT 0,  -- created -> ended
    latency_max_us     INTEGER,
    PRIMARY KEY (minute_us, workflow_name)
) STRICT, WITHOUT ROWID;

-- Periodic samples of the machine and this process (MetricsCollector).
CREATE TABLE system_samples (
    id                    INTEGER PRIMARY KEY,
    run_id                INTEGER NOT NULL REFERENCES runs (id),
    sampled_at_us         INTEGER NOT NULL,
    cpu_usage_percent     REAL    NOT NULL,
    memory_usage_percent  REAL    NOT NULL,
    memory_used_bytes     INTEGER NOT NULL,
    memory_total_bytes    INTEGER NOT NULL,
    load_avg_1m           REAL    NOT NULL,
    load_avg_5m           REAL    NOT NULL,
    load_avg_15m          REAL    NOT NULL,
    process_cpu_percent   REAL    NOT NULL,
    process_rss_bytes     INTEGER NOT NULL,
    active_connections    INTEGER NOT NULL,
    active_workflows      INTEGER NOT NULL
) STRICT;

-- get_system_metrics over a window.
CREATE INDEX system_samples_by_time ON system_samples (sampled_at_us);

-- Custom metric observations: counters (increments), gauges (values) and
-- histograms (observations), by name with JSON labels.
CREATE TABLE custom_metrics (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES runs (id),
    name            TEXT    NOT NULL,
    metric_type     TEXT    NOT NULL CHECK (metric_type = 'counter' OR metric_type = 'gauge' OR
                                            metric_type = 'histogram'),
    labels_json     TEXT    NOT NULL DEFAULT '{}',
    value           REAL    NOT NULL,
    recorded_at_us  INTEGER NOT NULL
) STRICT;

-- Custom metric queries are by name over a window.
CREATE INDEX custom_metrics_by_name_time ON custom_metrics (name, recorded_at_us);

-- Alerts: one row per firing; resolved_at_us is set when the condition clears.
CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES runs (id),
    alert_type      TEXT    NOT NULL,  -- high_error_rate, high_latency, slow_worker, worker_failed
    subject         TEXT    NOT NULL,  -- worker name, or '' for system-wide alerts
    severity        TEXT    NOT NULL CHECK (severity = 'info' OR severity = 'warning' OR
                                            severity = 'critical'),
    message         TEXT    NOT NULL,
    value           REAL,
    threshold       REAL,
    fired_at_us     INTEGER NOT NULL,
    resolved_at_us  INTEGER,
    details_json    TEXT    NOT NULL DEFAULT '{}'
) STRICT;

-- alert_history over a window.
CREATE INDEX alerts_by_fired ON alerts (fired_at_us);
-- Firing alerts (dashboard, no-repeat rule).
CREATE INDEX alerts_firing ON alerts (alert_type, subject) WHERE resolved_at_us IS NULL;

-- ---------------------------------------------------------------------------
-- Views for people: ISO-8601 times, names instead of ids.

CREATE VIEW runs_view AS
SELECT id AS run_id,
       strftime('%Y-%m-%dT%H:%M:%fZ', started_at_us / 1e6, 'unixepoch') AS started_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', ended_at_us / 1e6, 'unixepoch')   AS ended_at,
       command, version, host
FROM runs;

CREATE VIEW workflows_view AS
SELECT transaction_id, run_id, workflow_name, state, current_step,
       strftime('%Y-%m-%dT%H:%M:%fZ', created_at_us / 1e6, 'unixepoch')      AS created_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', started_at_us / 1e6, 'unixepoch')      AS started_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', compensating_at_us / 1e6, 'unixepoch') AS compensating_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', ended_at_us / 1e6, 'unixepoch')        AS ended_at,
       (ended_at_us - created_at_us) / 1000.0 AS duration_ms,
       input_size_bytes, error
FROM workflows;

-- One row per worker attempt: the execution record the seed's WorkerMonitor
-- reads. It is a view over `events`, whose rows carry the execution fields.
CREATE VIEW executions AS
SELECT e.id AS execution_id, w.transaction_id, k.name AS worker, e.step, e.attempt, e.event_type,
       strftime('%Y-%m-%dT%H:%M:%fZ', e.processing_at_us / 1e6, 'unixepoch') AS started_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', e.finished_at_us / 1e6, 'unixepoch')   AS ended_at,
       e.duration_us / 1000.0 AS duration_ms,
       e.status, e.error_type, e.error_message,
       e.processing_at_us AS started_at_us, e.finished_at_us AS ended_at_us
FROM events e
JOIN workflows w ON w.id = e.workflow_id
JOIN workers k ON k.id = e.worker_id;

-- One row per lifecycle stage of every event, workflow status events
-- included: the transaction trace, readable with
--   SELECT * FROM event_stages WHERE transaction_id = '...' ORDER BY at_us;
CREATE VIEW event_stages AS
SELECT w.transaction_id, s.event_id, s.event_type, s.stage, s.at_us,
       strftime('%Y-%m-%dT%H:%M:%fZ', s.at_us / 1e6, 'unixepoch') AS timestamp,
       k.name AS worker, s.step
FROM (
    SELECT workflow_id, id AS event_id, event_type, 'dispatched' AS stage, dispatched_at_us AS at_us, worker_id, step, 0 AS ord FROM events
    UNION ALL
    SELECT workflow_id, id, event_type, 'picked_up', picked_up_at_us, worker_id, step, 1 FROM events WHERE picked_up_at_us IS NOT NULL
    UNION ALL
    SELECT workflow_id, id, event_type, 'processing', processing_at_us, worker_id, step, 2 FROM events WHERE processing_at_us IS NOT NULL
    UNION ALL
    SELECT workflow_id, id, event_type, status, finished_at_us, worker_id, step, 3 FROM events WHERE finished_at_us IS NOT NULL
    UNION ALL
    SELECT id, NULL, 'workflow', 'pending', created_at_us, NULL, NULL, 0 FROM workflows
    UNION ALL
    SELECT id, NULL, 'workflow', 'running', started_at_us, NULL, NULL, 1 FROM workflows WHERE started_at_us IS NOT NULL
    UNION ALL
    SELECT id, NULL, 'workflow', 'compensating', compensating_at_us, NULL, NULL, 2 FROM workflows WHERE compensating_at_us IS NOT NULL
    UNION ALL
    SELECT id, NULL, 'workflow', state, ended_at_us, NULL, NULL, 3 FROM workflows WHERE ended_at_us IS NOT NULL
) s
JOIN workflows w ON w.id = s.workflow_id
LEFT JOIN workers k ON k.id = s.worker_id;

CREATE VIEW system_samples_view AS
SELECT run_id, strftime('%Y-%m-%dT%H:%M:%fZ', sampled_at_us / 1e6, 'unixepoch') AS sampled_at,
       cpu_usage_percent, memory_usage_percent, load_avg_1m, load_avg_5m, load_avg_15m,
       process_cpu_percent, process_rss_bytes, active_connections, active_workflows
FROM system_samples;

CREATE VIEW alerts_view AS
SELECT id AS alert_id, run_id, alert_type, subject, severity, message, value, threshold,
       strftime('%Y-%m-%dT%H:%M:%fZ', fired_at_us / 1e6, 'unixepoch')    AS fired_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', resolved_at_us / 1e6, 'unixepoch') AS resolved_at
FROM alerts;

CREATE VIEW custom_metrics_view AS
SELECT run_id, name, metric_type, labels_json, value,
       strftime('%Y-%m-%dT%H:%M:%fZ', recorded_at_us / 1e6, 'unixepoch') AS recorded_at
FROM custom_metrics;
