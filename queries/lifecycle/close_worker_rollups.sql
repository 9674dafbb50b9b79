-- Closing a run: its events still in flight end `cancelled` at :end_us with
-- a duration of 0 (the worker's time is unknown), counted in the worker
-- rollups as the writer counts a cancelled event. Primary-key range scan.
INSERT INTO worker_minute_rollups (run_id, worker_id, event_type, minute_us, cancelled, duration_sum_us,
                                   duration_min_us, duration_max_us, latency_sum_us,
                                   latency_max_us, payload_sum_bytes)
SELECT :run_id, worker_id, event_type, :minute_us, count(*), 0, 0, 0,
       sum(:end_us - dispatched_at_us), max(:end_us - dispatched_at_us), sum(payload_size_bytes)
FROM events
WHERE id BETWEEN :first AND :last
  AND status = 'dispatched'
GROUP BY worker_id, event_type
ON CONFLICT (minute_us, run_id, worker_id, event_type) DO UPDATE
SET cancelled         = cancelled + excluded.cancelled,
    duration_min_us   = min(coalesce(duration_min_us, excluded.duration_min_us), excluded.duration_min_us),
    duration_max_us   = max(coalesce(duration_max_us, excluded.duration_max_us), excluded.duration_max_us),
    latency_sum_us    = latency_sum_us + excluded.latency_sum_us,
    latency_max_us    = max(coalesce(latency_max_us, excluded.latency_max_us), excluded.latency_max_us),
    payload_sum_bytes = payload_sum_bytes + excluded.payload_sum_bytes
