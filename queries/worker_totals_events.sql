-- Executions per worker and event type that ended in
-- [:window_start, :window_end) within the id range [:run_first, :run_last]
-- (one run, or the whole i64 range for every run), from the raw events:
-- the same columns as worker_totals_rollups.sql, exact for one run (rollups
-- mix every run that wrote in the same minutes).
-- Index: events_by_worker_finish, one range per worker; event_type is read
-- from the row.
SELECT workers.name AS worker,
       e.event_type,
       sum(e.status = 'completed')    AS completed,
       sum(e.status = 'failed')       AS failed,
       sum(e.status = 'timeout')      AS timeout,
       sum(e.status = 'cancelled')    AS cancelled,
       coalesce(sum(e.duration_us), 0) AS duration_sum_us
FROM workers
CROSS JOIN events e
WHERE e.worker_id = workers.id
  AND e.finished_at_us >= :window_start
  AND e.finished_at_us < :window_end
  AND +e.id BETWEEN :run_first AND :run_last
GROUP BY workers.name, e.event_type
ORDER BY workers.name, e.event_type
