-- Events that ended per calendar minute in [:window_start, :window_end)
-- within the id range [:run_first, :run_last], by terminal status: the
-- report's throughput chart. From the raw events so that one run is counted
-- alone (the rollups mix every run that wrote in the same minutes).
-- Index: events_by_worker_finish, one range per worker (covering).
SELECT (e.finished_at_us / 60000000) * 60000000 AS minute_us,
       sum(e.status = 'completed') AS completed,
       sum(e.status = 'failed')    AS failed,
       sum(e.status = 'timeout')   AS timeout,
       sum(e.status = 'cancelled') AS cancelled
FROM workers
CROSS JOIN events e
WHERE e.worker_id = workers.id
  AND e.finished_at_us >= :window_start
  AND e.finished_at_us < :window_end
  AND +e.id BETWEEN :run_first AND :run_last
GROUP BY minute_us
ORDER BY minute_us
