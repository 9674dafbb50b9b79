-- multiagents schema, version 2: every answer scoped by run, and the
-- documented trace lookup on indexes.

-- Samples, custom metrics and alerts of one run (`--run`): the span of a run
-- without a recorded end is its latest record of any kind
-- (queries/run_bounds.sql reads max(time) of the run through these), and
-- the dashboard, reports and exports scope these tables by run_id. Samples
-- and alerts are few; custom metrics are recorded by programs, not on the
-- per-event hot path, so the ingest cost stays off the writer's bottleneck.
CREATE INDEX system_samples_by_run ON system_samples (run_id, sampled_at_us);
CREATE INDEX custom_metrics_by_run ON custom_metrics (run_id, recorded_at_us);
CREATE INDEX alerts_by_run ON alerts (run_id, fired_at_us);

-- The transaction trace for people:
--   SELECT * FROM event_stages WHERE transaction_id = '...' ORDER BY at_us;
-- Version 1 joined `workflows` to a UNION ALL of every stage of every event,
-- so that lookup built all stages of the whole file first (187 ms at 56,580
-- events). Here each arm of the UNION ALL joins `workflows` itself, so
-- SQLite pushes `transaction_id = ...` into every arm: workflows_by_transaction
-- finds the workflow and events_by_workflow its events (the same plan as
-- queries/transaction_trace.sql). Same columns, same rows.
DROP VIEW event_stages;
CREATE VIEW event_stages AS
SELECT w.transaction_id, e.id AS event_id, e.event_type, 'dispatched' AS stage,
       e.dispatched_at_us AS at_us,
       strftime('%Y-%m-%dT%H:%M:%fZ', e.dispatched_at_us / 1e6, 'unixepoch') AS timestamp,
       k.name AS worker, e.step
FROM workflows w JOIN events e ON e.workflow_id = w.id JOIN workers k ON k.id = e.worker_id
UNION ALL
SELECT w.transaction_id, e.id, e.event_type, 'picked_up', e.picked_up_at_us,
       strftime('%Y-%m-%dT%H:%M:%fZ', e.picked_up_at_us / 1e6, 'unixepoch'), k.name, e.step
FROM workflows w JOIN events e ON e.workflow_id = w.id JOIN workers k ON k.id = e.worker_id
WHERE e.picked_up_at_us IS NOT NULL
UNION ALL
SELECT w.transaction_id, e.id, e.event_type, 'processing', e.processing_at_us,
       strftime('%Y-%m-%dT%H:%M:%fZ', e.processing_at_us / 1e6, 'unixepoch'), k.name, e.step
FROM workflows w JOIN events e ON e.workflow_id = w.id JOIN workers k ON k.id = e.worker_id
WHERE e.processing_at_us IS NOT NULL
UNION ALL
SELECT w.transaction_id, e.id, e.event_type, e.status, e.finished_at_us,
       strftime('%Y-%m-%dT%H:%M:%fZ', e.finished_at_us / 1e6, 'unixepoch'), k.name, e.step
FROM workflows w JOIN events e ON e.workflow_id = w.id JOIN workers k ON k.id = e.worker_id
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
