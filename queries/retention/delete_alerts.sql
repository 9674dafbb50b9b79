-- Resolved alerts only: a firing alert stays until it resolves.
-- Index: alerts_by_fired, oldest first, at most :limit rows.
DELETE FROM alerts
WHERE id IN (SELECT id FROM alerts WHERE fired_at_us < :cutoff_us AND resolved_at_us IS NOT NULL ORDER BY fired_at_us LIMIT :limit)
RETURNING run_id, max(fired_at_us, coalesce(resolved_at_us, fired_at_us))
