-- Resolved alerts only: a firing alert stays until it resolves.
DELETE FROM alerts
WHERE id IN (SELECT id FROM alerts WHERE fired_at_us < ?1 AND resolved_at_us IS NOT NULL ORDER BY fired_at_us LIMIT ?2)
RETURNING run_id, max(fired_at_us, coalesce(resolved_at_us, fired_at_us))
