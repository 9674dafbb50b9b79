-- One worker's executions (commands and compensations) that ended in
-- [:window_start, :window_end) within the id range [:run_first, :run_last],
-- newest first, at most :limit: the dashboard's worker drill-down derives
-- the worker's slowest executions and its own trend (executions, errors and
-- p95 duration per bucket) from these rows.
--
-- Parameters:
--   :worker                     the worker's name
--   :window_start, :window_end  the window [start, end) in microseconds
--   :run_first, :run_last       event id bounds of one run, or the whole i64 range for all runs
--   :limit                      how many rows at most
--
-- Index: the UNIQUE constraint on workers.name finds the worker, then
-- events_by_worker_finish is one range (worker_id, finished_at_us) read
-- backwards; each row's workflow is a primary-key lookup.
SELECT e.finished_at_us,
       e.duration_us,
       e.status,
       e.step,
       e.attempt,
       e.error_type,
       w.transaction_id
FROM workers k
CROSS JOIN events e
LEFT JOIN workflows w ON w.id = e.workflow_id
WHERE k.name = :worker
  AND e.worker_id = k.id
  AND e.finished_at_us >= :window_start
  AND e.finished_at_us < :window_end
  AND +e.id BETWEEN :run_first AND :run_last
ORDER BY e.finished_at_us DESC
LIMIT :limit;
