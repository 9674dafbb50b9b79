-- One expired workflow (its events first); its run and latest time raise the
-- run's traces watermark.
DELETE FROM workflows WHERE id = ?1
RETURNING run_id, max(created_at_us, coalesce(ended_at_us, created_at_us))
