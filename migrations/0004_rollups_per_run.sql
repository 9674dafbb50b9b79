-- multiagents schema, version 3: retention is never silent.
--
-- Answers whose window lost its raw rows to retention come from the
-- per-minute rollups, and say so. For `--run` that needs rollups per run,
-- and for a window partly covered it needs to know which part of each run's
-- raw rows is gone: the retention watermarks.

-- ---------------------------------------------------------------------------
-- Rollups per run. The writer of a run adds only to its own rows, so two
-- processes recording into one file at once keep separate rollups. Keys
-- still start with minute_us: every question is over a time window, and a
-- run's questions read the minutes of its span.
--
-- Rows from before this version carry no run: each goes to the one run
-- whose span overlaps its minute, or to run 0 ("unattributed") when several
-- runs (or none) did. Run 0 counts in answers about every run, in none
-- about one run.

CREATE TABLE worker_minute_rollups_v3 (
    run_id             INTEGER NOT NULL,
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
    PRIMARY KEY (minute_us, run_id, worker_id, event_type)
) STRICT, WITHOUT ROWID;

CREATE TABLE worker_minute_histogram_v3 (
    run_id     INTEGER NOT NULL,
    worker_id  INTEGER NOT NULL REFERENCES workers (id),
    minute_us  INTEGER NOT NULL,
    le_ms      INTEGER NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (minute_us, run_id, worker_id, le_ms)
) STRICT, WITHOUT ROWID;

CREATE TABLE workflow_minute_rollups_v3 (
    run_id             INTEGER NOT NULL,
    workflow_name      TEXT    NOT NULL,
    minute_us          INTEGER NOT NULL,
    completed          INTEGER NOT NULL DEFAULT 0,
    failed             INTEGER NOT NULL DEFAULT 0,
    compensated        INTEGER NOT NULL DEFAULT 0,
    cancelled          INTEGER NOT NULL DEFAULT 0,
    latency_sum_us     INTEGER NOT NULL DEFAULT 0,  -- created -> ended
    latency_max_us     INTEGER,
    PRIMARY KEY (minute_us, run_id, workflow_name)
) STRICT, WITHOUT ROWID;

-- Event latency (dispatch -> terminal) histogram per run and minute, the
-- same buckets as worker_minute_histogram (upper-inclusive ms, -1 = +Inf):
-- the approximate p95 latency of a window whose raw events are gone.
CREATE TABLE event_minute_latency_histogram (
    run_id     INTEGER NOT NULL,
    minute_us  INTEGER NOT NULL,
    le_ms      INTEGER NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (minute_us, run_id, le_ms)
) STRICT, WITHOUT ROWID;

-- Each run's span for attributing old rollup rows: its end, or for a run
-- without one its latest workflow timestamp.
CREATE TEMP TABLE run_spans AS
SELECT r.id AS run_id,
       r.started_at_us AS start_us,
       coalesce(r.ended_at_us,
                (SELECT max(max(w.created_at_us, coalesce(w.ended_at_us, 0))) FROM workflows w
                  WHERE w.id BETWEEN (r.id << 40) AND (r.id << 40) + 1099511627775),
                r.started_at_us) AS end_us
FROM runs r;

-- The one run whose span overlaps a minute, else 0.
CREATE TEMP VIEW minute_owner AS
SELECT m.minute_us,
       CASE WHEN count(s.run_id) = 1 THEN max(s.run_id) ELSE 0 END AS run_id
FROM (SELECT minute_us FROM worker_minute_rollups
      UNION SELECT minute_us FROM worker_minute_histogram
      UNION SELECT minute_us FROM workflow_minute_rollups) m
LEFT JOIN run_spans s ON s.start_us < m.minute_us + 60000000 AND s.end_us >= m.minute_us
GROUP BY m.minute_us;

INSERT INTO worker_minute_rollups_v3
SELECT o.run_id, r.worker_id, r.event_type, r.minute_us, r.completed, r.failed, r.timeout, r.cancelled,
       r.duration_sum_us, r.duration_min_us, r.duration_max_us, r.latency_sum_us, r.latency_max_us,
       r.payload_sum_bytes
FROM worker_minute_rollups r JOIN minute_owner o ON o.minute_us = r.minute_us;

INSERT INTO worker_minute_histogram_v3
SELECT o.run_id, h.worker_id, h.minute_us, h.le_ms, h.count
FROM worker_minute_histogram h JOIN minute_owner o ON o.minute_us = h.minute_us;

INSERT INTO workflow_minute_rollups_v3
SELECT o.run_id, r.workflow_name, r.minute_us, r.completed, r.failed, r.compensated, r.cancelled,
       r.latency_sum_us, r.latency_max_us
FROM workflow_minute_rollups r JOIN minute_owner o ON o.minute_us = r.minute_us;

-- The latency histogram of the raw events still in the file (older minutes
-- have none: their p95 cannot be estimated and answers say so).
INSERT INTO event_minute_latency_histogram
SELECT e.id >> 40 AS run_id,
       (e.finished_at_us / 60000000) * 60000000 AS minute_us,
       CASE
           WHEN e.finished_at_us - e.dispatched_at_us <= 1000 THEN 1
           WHEN e.finished_at_us - e.dispatched_at_us <= 5000 THEN 5
           WHEN e.finished_at_us - e.dispatched_at_us <= 10000 THEN 10
           WHEN e.finished_at_us - e.dispatched_at_us <= 25000 THEN 25
           WHEN e.finished_at_us - e.dispatched_at_us <= 50000 THEN 50
           WHEN e.finished_at_us - e.dispatched_at_us <= 100000 THEN 100
           WHEN e.finished_at_us - e.dispatched_at_us <= 250000 THEN 250
           WHEN e.finished_at_us - e.dispatched_at_us <= 500000 THEN 500
           WHEN e.finished_at_us - e.dispatched_at_us <= 1000000 THEN 1000
           WHEN e.finished_at_us - e.dispatched_at_us <= 2500000 THEN 2500
           WHEN e.finished_at_us - e.dispatched_at_us <= 5000000 THEN 5000
           WHEN e.finished_at_us - e.dispatched_at_us <= 10000000 THEN 10000
           ELSE -1
       END AS le_ms,
       count(*)
FROM events e
WHERE e.finished_at_us IS NOT NULL
GROUP BY 1, 2, 3;

DROP VIEW minute_owner;
DROP TABLE run_spans;
DROP TABLE worker_minute_rollups;
DROP TABLE worker_minute_histogram;
DROP TABLE workflow_minute_rollups;
ALTER TABLE worker_minute_rollups_v3 RENAME TO worker_minute_rollups;
ALTER TABLE worker_minute_histogram_v3 RENAME TO worker_minute_histogram;
ALTER TABLE workflow_minute_rollups_v3 RENAME TO workflow_minute_rollups;

-- ---------------------------------------------------------------------------
-- Retention watermarks: per run and kind of row, every raw row with a time
-- at or after deleted_before_us is still in the file; before it, retention
-- deleted some or all. Raised (never lowered) by each retention slice to one
-- past the latest timestamp of what it deleted:
--   traces  — workflows and their events (event_monitoring.trace_retention_hours)
--   metrics — system samples, custom metrics, resolved alerts
--             (metrics_collection.retention_hours)
--   rollups — the per-minute rollups themselves (kept 30 days)
-- A question over a window reads raw rows from the first whole minute at or
-- after the traces watermark, and rollups before it (queries/retention_watermarks.sql).
CREATE TABLE retention_watermarks (
    run_id             INTEGER NOT NULL,
    kind               TEXT    NOT NULL CHECK (kind = 'traces' OR kind = 'metrics' OR kind = 'rollups'),
    deleted_before_us  INTEGER NOT NULL,
    PRIMARY KEY (run_id, kind)
) STRICT, WITHOUT ROWID;

-- A file cleaned before this version kept no watermark: a run whose rollups
-- count more events than its raw rows lost some, all before its earliest
-- remaining event (retention deletes the oldest first).
INSERT INTO retention_watermarks (run_id, kind, deleted_before_us)
SELECT r.run_id, 'traces',
       coalesce((SELECT min(e.finished_at_us) FROM events e
                  WHERE e.id BETWEEN (r.run_id << 40) AND (r.run_id << 40) + 1099511627775
                    AND e.finished_at_us IS NOT NULL),
                (SELECT max(minute_us) + 60000000 FROM worker_minute_rollups x WHERE x.run_id = r.run_id))
FROM (SELECT run_id, sum(completed + failed + timeout + cancelled) AS rolled
      FROM worker_minute_rollups WHERE run_id > 0 GROUP BY run_id) r
WHERE r.rolled > (SELECT count(*) FROM events e
                   WHERE e.id BETWEEN (r.run_id << 40) AND (r.run_id << 40) + 1099511627775
                     AND e.finished_at_us IS NOT NULL);

-- Rollup rows of no run (minutes several runs shared) may count raw rows
-- that retention deleted, and no run's watermark covers them: answers about
-- every run read the rollups up to the end of the last such minute.
INSERT INTO retention_watermarks (run_id, kind, deleted_before_us)
SELECT 0, 'traces', max(minute_us) + 60000000
FROM worker_minute_rollups
WHERE run_id = 0
HAVING count(*) > 0;
