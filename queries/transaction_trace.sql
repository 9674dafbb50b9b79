-- get_transaction_trace: every stage of one transaction, in order.
--
-- Parameters:
--   :transaction_id  the workflow's public transaction id
--
-- One row per stage: the workflow's own status changes (pending at
-- created_at_us, running, compensating, and its terminal state) and each
-- event's lifecycle stages (dispatched, picked_up, processing, and its
-- terminal status). An in-flight event shows the stages it has reached.
-- No rows means the transaction id is unknown: a known one always has its
-- pending stage. timestamp is ISO-8601 UTC with microseconds, built from the
-- integer so that no float rounding creeps in.
--
-- Order: by time; at the same microsecond the workflow's pending/running
-- come first and its compensating/terminal stages last, events in id order
-- (ids are allocated in dispatch order) and each event's stages in
-- lifecycle order.
--
-- Index: workflows_by_transaction finds the workflow, the primary key of
-- event_rows its events: the id range (workflow id, last_event_id], to the
-- end of its run's ids (2^40 - 1) while it runs
-- (migrations/0006_compact_events.sql). (The event_stages view gives the
-- same rows for people.)
WITH wf AS MATERIALIZED (
    SELECT id, state, created_at_us, started_at_us, compensating_at_us, ended_at_us,
           coalesce(last_event_id, id | 1099511627775) AS last_event_id
    FROM workflows
    WHERE transaction_id = :transaction_id
),
ev AS MATERIALIZED (
    SELECT events.id, events.event_type, events.status, events.step, events.worker_id,
           events.dispatched_at_us, events.picked_up_at_us, events.processing_at_us, events.finished_at_us
    FROM events
    WHERE events.id > (SELECT id FROM wf)
      AND events.id <= (SELECT last_event_id FROM wf)
      AND events.workflow_id = (SELECT id FROM wf)
),
stages (event_id, event_type, stage, at_us, worker_id, step, grp, ord) AS (
    SELECT NULL, 'workflow', 'pending', created_at_us, NULL, NULL, 0, 0 FROM wf
    UNION ALL
    SELECT NULL, 'workflow', 'running', started_at_us, NULL, NULL, 1, 0 FROM wf WHERE started_at_us IS NOT NULL
    UNION ALL
    SELECT NULL, 'workflow', 'compensating', compensating_at_us, NULL, NULL, 3, 0 FROM wf
    WHERE compensating_at_us IS NOT NULL
    UNION ALL
    SELECT NULL, 'workflow', state, ended_at_us, NULL, NULL, 4, 0 FROM wf WHERE ended_at_us IS NOT NULL
    UNION ALL
    SELECT id, event_type, 'dispatched', dispatched_at_us, worker_id, step, 2, 0 FROM ev
    UNION ALL
    SELECT id, event_type, 'picked_up', picked_up_at_us, worker_id, step, 2, 1 FROM ev WHERE picked_up_at_us IS NOT NULL
    UNION ALL
    SELECT id, event_type, 'processing', processing_at_us, worker_id, step, 2, 2 FROM ev
    WHERE processing_at_us IS NOT NULL
    UNION ALL
    SELECT id, event_type, status, finished_at_us, worker_id, step, 2, 3 FROM ev WHERE finished_at_us IS NOT NULL
)
SELECT strftime('%Y-%m-%dT%H:%M:%S', stages.at_us / 1000000, 'unixepoch') || printf('.%06dZ', stages.at_us % 1000000) AS timestamp,
       stages.event_type,
       stages.stage,
       workers.name AS worker,
       stages.step,
       stages.event_id,
       stages.at_us
FROM stages
LEFT JOIN workers ON workers.id = stages.worker_id
ORDER BY stages.at_us, stages.grp, stages.event_id, stages.ord;
