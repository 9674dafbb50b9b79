-- Per-worker executions over the minutes whose start lies in
-- [:window_start, :window_end), from the per-minute rollups (one run, :run_id,
-- or every run in the file when it is NULL, commands and compensations together, as worker_performance.sql
-- counts them): counts by status, duration sum, min and max. The whole-hour
-- worker performance summary without reading raw events; equal to the raw
-- counts and averages on minute-aligned windows. No percentiles: those stay
-- exact from the raw rows (worker_performance.sql).
-- Index: the primary key of worker_minute_rollups starts with minute_us.
SELECT workers.name            AS worker,
       sum(r.completed)        AS completed,
       sum(r.failed)           AS failed,
       sum(r.timeout)          AS timeout,
       sum(r.cancelled)        AS cancelled,
       sum(r.duration_sum_us)  AS duration_sum_us,
       min(r.duration_min_us)  AS duration_min_us,
       max(r.duration_max_us)  AS duration_max_us,
       max(r.minute_us)        AS last_minute_us
FROM worker_minute_rollups r
JOIN workers ON workers.id = r.worker_id
WHERE r.minute_us >= :window_start
  AND r.minute_us < :window_end
  AND (:run_id IS NULL OR r.run_id = :run_id)
GROUP BY workers.name
ORDER BY workers.name
