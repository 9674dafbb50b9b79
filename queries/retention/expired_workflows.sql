-- Workflows that ended before the cutoff, oldest first, at most :limit.
-- Index: workflows_by_end.
SELECT id FROM workflows WHERE ended_at_us < :cutoff_us ORDER BY ended_at_us LIMIT :limit
