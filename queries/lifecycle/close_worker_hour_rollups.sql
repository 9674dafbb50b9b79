-- Closing a run: the cancelled events of close_worker_rollups.sql added to
-- the run's row of the hour :hour_us (the hour of :minute_us's minute), so
-- the hour stays the sum of its minutes. Run before close_events.sql.
-- Primary-key range scan.
INSERT INTO worker_hour_rollups (hour_us, run_id, worker_id, event_type, cancelled, duration_sum_us,
                                 duration_min_us, duration_max_us, latency_sum_us,
                                 latency_max_us, payload_sum_bytes)
SELECT :hour_us, :run_id, worker_id, event_type, count(*), 0, 0, 0,
       sum(:end_us - dispatched_at_us), max(:end_us - dispatched_at_us), sum(payload_size_bytes)
FROM events
WHERE id BETWEEN :first AND :last
  AND status = 'dispatched'
GROUP BY worker_id, event_type
ON CONFLICT (hour_us, run_id, worker_id, event_type) DO UPDATE
SET cancelled         = cancelled + excluded.cancelled,
    duration_min_us   = min(coalesce(duration_min_us, excluded.duration_min_us), excluded.duration_min_us),
    duration_max_us   = max(coalesce(duration_max_us, excluded.duration_max_us), excluded.duration_max_us),
    latency_sum_us    = latency_sum_us + excluded.latency_sum_us,
    latency_max_us    = max(coalesce(latency_max_us, excluded.latency_max_us), excluded.latency_max_us),
    payload_sum_bytes = payload_sum_bytes + excluded.payload_sum_bytes
