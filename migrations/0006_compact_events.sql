-- multiagents schema, version 6: fewer bytes per recorded execution.
--
-- Version 5 spent 223 bytes of file per execution, 61 of them on two
-- indexes of `events` and on text that repeats in every row. Here:
--
-- * The events are stored in `event_rows`, compact: the status is a small
--   code (1 = completed takes no byte at all: SQLite stores the integers 0
--   and 1 in the record header), a command or compensation is 0 or 1, and
--   the picked-up and processing stages are offsets from the dispatch (a
--   few microseconds: one or two bytes instead of eight). The view `events`
--   shows the very columns of version 5 (text status and event type,
--   absolute times), so every query and the sqlite3 shell read it as
--   before; SQLite flattens the view, so the index below still serves them.
--
-- * events_by_workflow (20 bytes per execution) is gone. Row ids are
--   allocated in time order from one sequence per run, so the events of a
--   workflow are the rows of id range (workflow id, last_event_id] whose
--   workflow_id is that workflow: a primary-key range, as long as the
--   events the run dispatched while the workflow ran. last_event_id is set
--   when the workflow ends (the writer knows the last event it dispatched);
--   NULL while it runs, when the range extends to the end of its run's ids.

-- Status codes of event_rows.status_code, for people reading the raw table
-- (the `events` view shows the names).
CREATE TABLE event_statuses (
    code  INTEGER PRIMARY KEY,
    name  TEXT    NOT NULL UNIQUE
) STRICT;
INSERT INTO event_statuses (code, name)
VALUES (0, 'dispatched'), (1, 'completed'), (2, 'failed'), (3, 'timeout'), (4, 'cancelled');

CREATE TABLE event_rows (
    id                   INTEGER PRIMARY KEY,
    workflow_id          INTEGER NOT NULL REFERENCES workflows (id),
    compensation         INTEGER NOT NULL CHECK (compensation = 0 OR compensation = 1),
    step                 TEXT    NOT NULL,
    worker_id            INTEGER NOT NULL REFERENCES workers (id),
    attempt              INTEGER NOT NULL,
    status_code          INTEGER NOT NULL CHECK (status_code >= 0 AND status_code <= 4),
    dispatched_at_us     INTEGER NOT NULL,
    picked_up_after_us   INTEGER,  -- picked_up_at_us - dispatched_at_us
    processing_after_us  INTEGER,  -- processing_at_us - dispatched_at_us
    finished_at_us       INTEGER,
    duration_us          INTEGER,  -- finished - processing: the worker's own time
    payload_size_bytes   INTEGER NOT NULL,
    result_size_bytes    INTEGER,
    error_type           TEXT,
    error_message        TEXT
) STRICT;

INSERT INTO event_rows (id, workflow_id, compensation, step, worker_id, attempt, status_code,
                        dispatched_at_us, picked_up_after_us, processing_after_us, finished_at_us,
                        duration_us, payload_size_bytes, result_size_bytes, error_type, error_message)
SELECT id, workflow_id, event_type = 'compensation', step, worker_id, attempt,
       CASE status WHEN 'dispatched' THEN 0 WHEN 'completed' THEN 1 WHEN 'failed' THEN 2
                   WHEN 'timeout' THEN 3 ELSE 4 END,
       dispatched_at_us, picked_up_at_us - dispatched_at_us, processing_at_us - dispatched_at_us,
       finished_at_us, duration_us, payload_size_bytes, result_size_bytes, error_type, error_message
FROM events
ORDER BY id;

ALTER TABLE workflows ADD COLUMN last_event_id INTEGER;
UPDATE workflows
SET last_event_id = coalesce((SELECT max(e.id) FROM events e WHERE e.workflow_id = workflows.id), id)
WHERE ended_at_us IS NOT NULL;

DROP VIEW executions;
DROP VIEW event_stages;
DROP TABLE events;

-- Windowed worker and event metrics, as in version 1 (covering for
-- durations and status, so P95 is read from the index alone).
CREATE INDEX events_by_worker_finish ON event_rows (worker_id, finished_at_us, duration_us, status_code)
    WHERE finished_at_us IS NOT NULL;

-- One row per event: a command sent to a worker (one attempt of one step) or
-- a compensation, with its whole lifecycle (dispatched -> picked_up ->
-- processing -> completed | failed | timeout | cancelled). The columns of
-- version 5's table of the same name.
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
       error_message
FROM event_rows;

-- As in version 1, over the view. The join states the id range too, so
--   SELECT * FROM executions WHERE transaction_id = '...';
-- finds the workflow by workflows_by_transaction and its events by the
-- primary key (1099511627775 = 2^40 - 1: the end of the run's ids).
CREATE VIEW executions AS
SELECT e.id AS execution_id, w.transaction_id, k.name AS worker, e.step, e.attempt, e.event_type,
       strftime('%Y-%m-%dT%H:%M:%fZ', e.processing_at_us / 1e6, 'unixepoch') AS started_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', e.finished_at_us / 1e6, 'unixepoch')   AS ended_at,
       e.duration_us / 1000.0 AS duration_ms,
       e.status, e.error_type, e.error_message,
       e.processing_at_us AS started_at_us, e.finished_at_us AS ended_at_us
FROM events e
JOIN workflows w ON w.id = e.workflow_id
                AND e.id > w.id AND e.id <= coalesce(w.last_event_id, w.id | 1099511627775)
JOIN workers k ON k.id = e.worker_id;

-- As in version 2, the events of a workflow found by their id range:
--   SELECT * FROM event_stages WHERE transaction_id = '...' ORDER BY at_us;
-- workflows_by_transaction finds the workflow, the primary key its events.
CREATE VIEW event_stages AS
SELECT w.transaction_id, e.id AS event_id, e.event_type, 'dispatched' AS stage,
       e.dispatched_at_us AS at_us,
       strftime('%Y-%m-%dT%H:%M:%fZ', e.dispatched_at_us / 1e6, 'unixepoch') AS timestamp,
       k.name AS worker, e.step
FROM workflows w
JOIN events e ON e.id > w.id AND e.id <= coalesce(w.last_event_id, w.id | 1099511627775)
           AND e.workflow_id = w.id
JOIN workers k ON k.id = e.worker_id
UNION ALL
SELECT w.transaction_id, e.id, e.event_type, 'picked_up', e.picked_up_at_us,
       strftime('%Y-%m-%dT%H:%M:%fZ', e.picked_up_at_us / 1e6, 'unixepoch'), k.name, e.step
FROM workflows w
JOIN events e ON e.id > w.id AND e.id <= coalesce(w.last_event_id, w.id | 1099511627775)
           AND e.workflow_id = w.id
JOIN workers k ON k.id = e.worker_id
WHERE e.picked_up_at_us IS NOT NULL
UNION ALL
SELECT w.transaction_id, e.id, e.event_type, 'processing', e.processing_at_us,
       strftime('%Y-%m-%dT%H:%M:%fZ', e.processing_at_us / 1e6, 'unixepoch'), k.name, e.step
FROM workflows w
JOIN events e ON e.id > w.id AND e.id <= coalesce(w.last_event_id, w.id | 1099511627775)
           AND e.workflow_id = w.id
JOIN workers k ON k.id = e.worker_id
WHERE e.processing_at_us IS NOT NULL
UNION ALL
SELECT w.transaction_id, e.id, e.event_type, e.status, e.finished_at_us,
       strftime('%Y-%m-%dT%H:%M:%fZ', e.finished_at_us / 1e6, 'unixepoch'), k.name, e.step
FROM workflows w
JOIN events e ON e.id > w.id AND e.id <= coalesce(w.last_event_id, w.id | 1099511627775)
           AND e.workflow_id = w.id
JOIN workers k ON k.id = e.worker_id
WHERE e.finished_at_us IS NOT NULL
UNION ALL
SELECT w.transaction_id, NULL, 'workflow', 'pending', w.created_at_us,
       strftime('%Y-%m-%dT%H:%M:%fZ', w.created_at_us / 1e6, 'unixepoch'), NULL, NULL
FROM workflows w
UNION ALL
SELECT w.transaction_id, NULL, 'workflow', 'running', w.started_at_us,
       strftime('%Y-%m-%dT%H:%M:%fZ', w.started_at_us / 1e6, 'unixepoch'), NULL, NULL
FROM workflows w WHERE w.started_at_us IS NOT NULL
UNION ALL
SELECT w.transaction_id, NULL, 'workflow', 'compensating', w.compensating_at_us,
       strftime('%Y-%m-%dT%H:%M:%fZ', w.compensating_at_us / 1e6, 'unixepoch'), NULL, NULL
FROM workflows w WHERE w.compensating_at_us IS NOT NULL
UNION ALL
SELECT w.transaction_id, NULL, 'workflow', w.state, w.ended_at_us,
       strftime('%Y-%m-%dT%H:%M:%fZ', w.ended_at_us / 1e6, 'unixepoch'), NULL, NULL
FROM workflows w WHERE w.ended_at_us IS NOT NULL;
