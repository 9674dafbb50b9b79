-- Workflows that never ended, created before the cutoff by another run: their
-- process died (index workflows_active).
SELECT id FROM workflows WHERE ended_at_us IS NULL AND created_at_us < ?1 AND run_id <> ?2 LIMIT ?3
