-- Duration histogram per worker of the events that ended in
-- [:window_start, :window_end) within the id range [:run_first, :run_last],
-- from the raw events: the same columns as worker_histogram_rollups.sql.
-- The bucket bounds are the writer's HISTOGRAM_BOUNDS_MS (upper-inclusive,
-- milliseconds; -1 is +Inf); a unit test keeps the two in step.
-- Index: events_by_worker_finish, covering (duration_us is in it).
SELECT workers.name AS worker,
       CASE
           WHEN e.duration_us <= 1000 THEN 1
           WHEN e.duration_us <= 5000 THEN 5
           WHEN e.duration_us <= 10000 THEN 10
           WHEN e.duration_us <= 25000 THEN 25
           WHEN e.duration_us <= 50000 THEN 50
           WHEN e.duration_us <= 100000 THEN 100
           WHEN e.duration_us <= 250000 THEN 250
           WHEN e.duration_us <= 500000 THEN 500
           WHEN e.duration_us <= 1000000 THEN 1000
           WHEN e.duration_us <= 2500000 THEN 2500
           WHEN e.duration_us <= 5000000 THEN 5000
           WHEN e.duration_us <= 10000000 THEN 10000
           ELSE -1
       END AS le_ms,
       count(*) AS count
FROM workers
CROSS JOIN events e
WHERE e.worker_id = workers.id
  AND e.finished_at_us >= :window_start
  AND e.finished_at_us < :window_end
  AND +e.id BETWEEN :run_first AND :run_last
GROUP BY workers.name, le_ms
ORDER BY workers.name, le_ms
