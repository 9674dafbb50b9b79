-- Closing a run: workflows that never ended end `cancelled` with the reason,
-- so nothing counts them as in flight any more, and get the end of their
-- events' id range (migrations/0006_compact_events.sql): the latest event
-- of theirs, found scanning back from the end of the run's ids (workflows
-- in flight at a crash dispatched their last events recently, so the scan
-- is short), or their own id when they dispatched none.
-- Index: primary-key range scans of workflows and of event_rows.
UPDATE workflows
SET state         = 'cancelled',
    ended_at_us   = max(:end_us, created_at_us),
    error         = :reason,
    last_event_id = coalesce((SELECT e.id FROM event_rows e
                              WHERE e.id > workflows.id AND e.id <= :last AND e.workflow_id = workflows.id
                              ORDER BY e.id DESC LIMIT 1), id)
WHERE id BETWEEN :first AND :last
  AND ended_at_us IS NULL
