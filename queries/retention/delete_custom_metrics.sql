-- Rows are appended in time order, so the oldest are the lowest ids: look at
-- the first ?2 rows only, never the whole table.
DELETE FROM custom_metrics
WHERE id IN (SELECT id FROM (SELECT id, recorded_at_us FROM custom_metrics ORDER BY id LIMIT ?2) WHERE recorded_at_us < ?1)
RETURNING run_id, recorded_at_us
