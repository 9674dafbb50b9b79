-- Duration (created -> ended) histogram per workflow name of the workflows
-- that ended in [:window_start, :window_end) within the id range
-- [:run_first, :run_last], from the raw workflows: per name and bucket, how
-- many and the sum of their durations (so count and sum agree with the
-- buckets: one statement, one snapshot).
-- The bucket bounds are the writer's HISTOGRAM_BOUNDS_MS (upper-inclusive,
-- milliseconds; -1 is +Inf), as in worker_histogram_events.sql; a unit test
-- keeps the two in step.
-- Index: workflows_by_end (partial: ended rows only); the `+` on id keeps
-- the planner from scanning the rowid range of "all runs".
SELECT w.workflow_name,
       CASE
           WHEN w.ended_at_us - w.created_at_us <= 1000 THEN 1
           WHEN w.ended_at_us - w.created_at_us <= 5000 THEN 5
           WHEN w.ended_at_us - w.created_at_us <= 10000 THEN 10
           WHEN w.ended_at_us - w.created_at_us <= 25000 THEN 25
           WHEN w.ended_at_us - w.created_at_us <= 50000 THEN 50
           WHEN w.ended_at_us - w.created_at_us <= 100000 THEN 100
           WHEN w.ended_at_us - w.created_at_us <= 250000 THEN 250
           WHEN w.ended_at_us - w.created_at_us <= 500000 THEN 500
           WHEN w.ended_at_us - w.created_at_us <= 1000000 THEN 1000
           WHEN w.ended_at_us - w.created_at_us <= 2500000 THEN 2500
           WHEN w.ended_at_us - w.created_at_us <= 5000000 THEN 5000
           WHEN w.ended_at_us - w.created_at_us <= 10000000 THEN 10000
           ELSE -1
       END AS le_ms,
       count(*) AS count,
       sum(w.ended_at_us - w.created_at_us) AS duration_sum_us
FROM workflows w
WHERE w.ended_at_us >= :window_start
  AND w.ended_at_us < :window_end
  AND +w.id BETWEEN :run_first AND :run_last
GROUP BY w.workflow_name, le_ms
ORDER BY w.workflow_name, le_ms
