-- Adds a batch's executions of one worker and event type in one minute to
-- this run's rollup row.
-- Index: the primary key (minute_us, run_id, worker_id, event_type) finds the
-- row to add to.
INSERT INTO worker_minute_rollups (run_id, worker_id, event_type, minute_us, completed, failed, timeout, cancelled,
                                   duration_sum_us, duration_min_us, duration_max_us, latency_sum_us,
                                   latency_max_us, payload_sum_bytes)
VALUES (:run_id, :worker_id, :event_type, :minute_us, :completed, :failed, :timeout, :cancelled,
        :duration_sum_us, :duration_min_us, :duration_max_us, :latency_sum_us,
        :latency_max_us, :payload_sum_bytes)
ON CONFLICT (minute_us, run_id, worker_id, event_type) DO UPDATE
SET completed         = completed + excluded.completed,
    failed            = failed + excluded.failed,
    timeout           = timeout + excluded.timeout,
    cancelled         = cancelled + excluded.cancelled,
    duration_sum_us   = duration_sum_us + excluded.duration_sum_us,
    duration_min_us   = min(coalesce(duration_min_us, excluded.duration_min_us), excluded.duration_min_us),
    duration_max_us   = max(coalesce(duration_max_us, excluded.duration_max_us), excluded.duration_max_us),
    latency_sum_us    = latency_sum_us + excluded.latency_sum_us,
    latency_max_us    = max(coalesce(latency_max_us, excluded.latency_max_us), excluded.latency_max_us),
    payload_sum_bytes = payload_sum_bytes + excluded.payload_sum_bytes
