-- Executions per worker and event type over the minutes whose start lies in
-- [:window_start, :window_end), from the per-minute rollups of one run
-- (:run_id), or of every run in the file when it is NULL, and still there
-- after retention deleted the raw events. The
-- Prometheus counters (multiagents_events_total,
-- multiagents_worker_executions_total) and the histogram's _sum and _count.
-- Index: the primary key of worker_minute_rollups starts with minute_us.
SELECT k.name AS worker,
       r.event_type,
       sum(r.completed)       AS completed,
       sum(r.failed)          AS failed,
       sum(r.timeout)         AS timeout,
       sum(r.cancelled)       AS cancelled,
       sum(r.duration_sum_us) AS duration_sum_us
FROM worker_minute_rollups r
JOIN workers k ON k.id = r.worker_id
WHERE r.minute_us >= :window_start
  AND r.minute_us < :window_end
  AND (:run_id IS NULL OR r.run_id = :run_id)
GROUP BY k.name, r.event_type
ORDER BY k.name, r.event_type
