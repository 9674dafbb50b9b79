-- System samples taken before the cutoff, oldest first, at most :limit.
-- Index: system_samples_by_time.
DELETE FROM system_samples
WHERE id IN (SELECT id FROM system_samples WHERE sampled_at_us < :cutoff_us ORDER BY sampled_at_us LIMIT :limit)
RETURNING run_id, sampled_at_us
