-- Workflow outcomes per name from the per-minute rollups, over the minutes
-- whose start lies in [:window_start, :window_end), for one run (:run_id) or
-- every run (NULL): the part of workflow_outcomes.sql a window whose raw
-- workflows retention deleted can still answer (counts, latency sum and
-- maximum; no percentiles, no first/last times).
-- Index: the primary key of workflow_minute_rollups starts with minute_us.
SELECT workflow_name,
       sum(completed)      AS completed,
       sum(failed)         AS failed,
       sum(compensated)    AS compensated,
       sum(cancelled)      AS cancelled,
       sum(latency_sum_us) AS latency_sum_us,
       max(latency_max_us) AS max_latency_us,
       min(minute_us)      AS first_minute_us,
       max(minute_us)      AS last_minute_us
FROM workflow_minute_rollups
WHERE minute_us >= :window_start
  AND minute_us < :window_end
  AND (:run_id IS NULL OR run_id = :run_id)
GROUP BY workflow_name
ORDER BY workflow_name
