-- One expired workflow (its events first); its run and latest time raise the
-- run's traces watermark.
-- Index: the primary key of workflows (:workflow_id).
DELETE FROM workflows WHERE id = :workflow_id
RETURNING run_id, max(created_at_us, coalesce(ended_at_us, created_at_us))
