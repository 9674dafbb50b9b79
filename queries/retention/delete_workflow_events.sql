-- The events of one expired workflow: the rows of its id range
-- (migrations/0006_compact_events.sql; to the end of its run's ids when it
-- never ended); their times raise the run's traces watermark
-- (retention_watermarks). Runs before its workflows row is deleted.
-- Index: the primary keys of workflows and event_rows (a range).
DELETE FROM event_rows
WHERE id > :workflow_id
  AND id <= (SELECT coalesce(w.last_event_id, w.id | 1099511627775) FROM workflows w WHERE w.id = :workflow_id)
  AND workflow_id = :workflow_id
RETURNING max(dispatched_at_us, coalesce(finished_at_us, dispatched_at_us))
