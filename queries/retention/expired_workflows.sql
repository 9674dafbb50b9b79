-- Workflows that ended before the cutoff, oldest first (index workflows_by_end).
SELECT id FROM workflows WHERE ended_at_us < ?1 ORDER BY ended_at_us LIMIT ?2
