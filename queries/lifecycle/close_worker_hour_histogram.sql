-- Closing a run: the in-flight events close_worker_histogram.sql counts in
-- the 0 ms bucket (:le_ms) added to the run's row of the hour :hour_us too.
-- Run before close_events.sql. Primary-key range scan.
INSERT INTO worker_hour_histogram (hour_us, run_id, worker_id, le_ms, count)
SELECT :hour_us, :run_id, worker_id, :le_ms, count(*)
FROM events
WHERE id BETWEEN :first AND :last
  AND status = 'dispatched'
GROUP BY worker_id
ON CONFLICT (hour_us, run_id, worker_id, le_ms) DO UPDATE SET count = count + excluded.count
