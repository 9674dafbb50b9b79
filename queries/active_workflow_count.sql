-- How many workflows are not yet terminal (partial index workflows_active),
-- leaving out those of :crashed_runs (a JSON array of run ids whose process
-- died and that no process has closed yet: not in flight).
SELECT count(*)
FROM workflows w
WHERE w.ended_at_us IS NULL
  AND w.created_at_us <= :window_end
  AND +w.id BETWEEN :run_first AND :run_last
  AND w.run_id NOT IN (SELECT value FROM json_each(coalesce(:crashed_runs, '[]')))
