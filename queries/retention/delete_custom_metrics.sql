-- Rows are appended in time order, so the oldest are the lowest ids: look at
-- the first :limit rows only, never the whole table.
-- Index: the primary key (rowid) of custom_metrics, lowest first.
DELETE FROM custom_metrics
WHERE id IN (SELECT id FROM (SELECT id, recorded_at_us FROM custom_metrics ORDER BY id LIMIT :limit) WHERE recorded_at_us < :cutoff_us)
RETURNING run_id, recorded_at_us
