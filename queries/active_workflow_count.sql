-- How many workflows are not yet terminal (partial index workflows_active).
SELECT count(*)
FROM workflows w
WHERE w.ended_at_us IS NULL
  AND w.created_at_us <= :window_end
  AND +w.id BETWEEN :run_first AND :run_last
