-- Closing a run: the duration histogram counts its in-flight events in the
-- bucket of a 0 ms duration (:le_ms). Primary-key range scan.
INSERT INTO worker_minute_histogram (run_id, worker_id, minute_us, le_ms, count)
SELECT :run_id, worker_id, :minute_us, :le_ms, count(*)
FROM events
WHERE id BETWEEN :first AND :last
  AND status = 'dispatched'
GROUP BY worker_id
ON CONFLICT (minute_us, run_id, worker_id, le_ms) DO UPDATE SET count = count + excluded.count
