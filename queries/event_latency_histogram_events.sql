-- Event latency (dispatch -> terminal) histogram of the raw events that
-- ended in [:window_start, :window_end) within the id range
-- [:run_first, :run_last]: the same buckets as
-- event_latency_histogram_rollups.sql, so a window read partly from raw rows
-- and partly from rollups estimates one percentile over both.
-- Index: events_by_worker_finish, one range per worker.
SELECT CASE
           WHEN e.finished_at_us - e.dispatched_at_us <= 1000 THEN 1
           WHEN e.finished_at_us - e.dispatched_at_us <= 5000 THEN 5
           WHEN e.finished_at_us - e.dispatched_at_us <= 10000 THEN 10
           WHEN e.finished_at_us - e.dispatched_at_us <= 25000 THEN 25
           WHEN e.finished_at_us - e.dispatched_at_us <= 50000 THEN 50
           WHEN e.finished_at_us - e.dispatched_at_us <= 100000 THEN 100
           WHEN e.finished_at_us - e.dispatched_at_us <= 250000 THEN 250
           WHEN e.finished_at_us - e.dispatched_at_us <= 500000 THEN 500
           WHEN e.finished_at_us - e.dispatched_at_us <= 1000000 THEN 1000
           WHEN e.finished_at_us - e.dispatched_at_us <= 2500000 THEN 2500
           WHEN e.finished_at_us - e.dispatched_at_us <= 5000000 THEN 5000
           WHEN e.finished_at_us - e.dispatched_at_us <= 10000000 THEN 10000
           ELSE -1
       END AS le_ms,
       count(*) AS count
FROM workers
CROSS JOIN events e
WHERE e.worker_id = workers.id
  AND e.finished_at_us >= :window_start
  AND e.finished_at_us < :window_end
  AND +e.id BETWEEN :run_first AND :run_last
GROUP BY le_ms
ORDER BY le_ms
