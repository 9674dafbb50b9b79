-- The events of one expired workflow; their times raise the run's traces
-- watermark (retention_watermarks).
-- Index: events_by_workflow.
DELETE FROM events WHERE workflow_id = :workflow_id
RETURNING max(dispatched_at_us, coalesce(finished_at_us, dispatched_at_us))
