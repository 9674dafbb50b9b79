DELETE FROM system_samples
WHERE id IN (SELECT id FROM system_samples WHERE sampled_at_us < ?1 ORDER BY sampled_at_us LIMIT ?2)
RETURNING run_id, sampled_at_us
