-- multiagents schema, version 8: workers on other hosts, and recordings of
-- several hosts merged into one file.
--
-- With `--redis URL` the orchestrator sends each step to a worker host over
-- Redis Streams (src/transport/) and stays the only writer of its file.
-- Each event records which host ran it; each host a run heard from keeps
-- its heartbeats, and the deliveries it reclaimed from a lost host and the
-- duplicate results it sent (counted, never recorded twice).
--
-- `multiagents merge OUT IN...` copies the runs of several files into one:
-- each copied run names its source file and keeps its origin (the identity
-- of the run where it was recorded), so the same run is never merged twice.

-- Host names, so the events store a small integer per row (as workers).
CREATE TABLE hosts (
    id    INTEGER PRIMARY KEY,
    name  TEXT    NOT NULL UNIQUE
) STRICT;

-- The hosts a run's orchestrator heard from.
CREATE TABLE run_hosts (
    run_id             INTEGER NOT NULL REFERENCES runs (id),
    host_id            INTEGER NOT NULL REFERENCES hosts (id),
    workers            TEXT    NOT NULL,  -- the workers it serves, comma-separated
    concurrency        INTEGER NOT NULL,  -- steps it runs at once
    first_seen_us      INTEGER NOT NULL,
    last_heartbeat_us  INTEGER NOT NULL,
    reclaimed          INTEGER NOT NULL DEFAULT 0,  -- deliveries it took over from a lost host
    duplicates         INTEGER NOT NULL DEFAULT 0,  -- results it sent for an attempt already ended
    PRIMARY KEY (run_id, host_id)
) STRICT, WITHOUT ROWID;

-- The host that ran the event (hosts.id); NULL: the orchestrator's own
-- process. Without a foreign key, like the hour rollups: the writer would pay
-- a seek per row, and the writer itself resolves the name to the id.
ALTER TABLE event_rows ADD COLUMN host_id INTEGER;

-- query hosts: executions, errors and p95 per host in a window, from the
-- index alone. Partial: in-process events (host_id NULL) cost it nothing.
CREATE INDEX events_by_host_finish ON event_rows (host_id, finished_at_us, duration_us, status_code)
    WHERE host_id IS NOT NULL AND finished_at_us IS NOT NULL;

-- The files `multiagents merge` copied runs from.
CREATE TABLE merge_sources (
    id             INTEGER PRIMARY KEY,
    path           TEXT    NOT NULL,  -- as given on the command line
    merged_at_us   INTEGER NOT NULL,
    runs_added     INTEGER NOT NULL,
    runs_skipped   INTEGER NOT NULL   -- already in this file (same origin)
) STRICT;

-- The merge_sources row a run was copied from; NULL for runs recorded in
-- this file. (No foreign key: a column added with one cannot be dropped.)
ALTER TABLE runs ADD COLUMN source_id INTEGER;
-- Where a merged run was recorded (host, boot, process and start), so that
-- merging the same input twice adds nothing.
ALTER TABLE runs ADD COLUMN origin TEXT;
CREATE UNIQUE INDEX runs_by_origin ON runs (origin) WHERE origin IS NOT NULL;

-- The events view of version 6 with the host.
DROP VIEW events;
CREATE VIEW events AS
SELECT id,
       workflow_id,
       CASE compensation WHEN 0 THEN 'command' ELSE 'compensation' END AS event_type,
       step,
       worker_id,
       attempt,
       CASE status_code WHEN 1 THEN 'completed' WHEN 0 THEN 'dispatched' WHEN 2 THEN 'failed'
                        WHEN 3 THEN 'timeout' ELSE 'cancelled' END AS status,
       dispatched_at_us,
       dispatched_at_us + picked_up_after_us AS picked_up_at_us,
       dispatched_at_us + processing_after_us AS processing_at_us,
       finished_at_us,
       duration_us,
       payload_size_bytes,
       result_size_bytes,
       error_type,
       error_message,
       host_id
FROM event_rows;

-- The executions view of version 6 with the host's name (NULL: in process).
DROP VIEW executions;
CREATE VIEW executions AS
SELECT e.id AS execution_id, w.transaction_id, k.name AS worker, e.step, e.attempt, e.event_type,
       strftime('%Y-%m-%dT%H:%M:%fZ', e.processing_at_us / 1e6, 'unixepoch') AS started_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', e.finished_at_us / 1e6, 'unixepoch')   AS ended_at,
       e.duration_us / 1000.0 AS duration_ms,
       e.status, e.error_type, e.error_message,
       e.processing_at_us AS started_at_us, e.finished_at_us AS ended_at_us,
       h.name AS host
FROM events e
JOIN workflows w ON w.id = e.workflow_id
                AND e.id > w.id AND e.id <= coalesce(w.last_event_id, w.id | 1099511627775)
JOIN workers k ON k.id = e.worker_id
LEFT JOIN hosts h ON h.id = e.host_id;
