-- Adds a batch's executions of one worker and event type in one minute to
-- this run's row of the minute's hour (the sum of the hour's minute rows,
-- kept in the same transaction as upsert_worker_rollup.sql).
-- Index: the primary key (hour_us, run_id, worker_id, event_type) finds the
-- row to add to.
INSERT INTO worker_hour_rollups (hour_us, run_id, worker_id, event_type, completed, failed, timeout, cancelled,
                                 duration_sum_us, duration_min_us, duration_max_us, latency_sum_us,
                                 latency_max_us, payload_sum_bytes)
VALUES (:hour_us, :run_id, :worker_id, :event_type, :completed, :failed, :timeout, :cancelled,
        :duration_sum_us, :duration_min_us, :duration_max_us, :latency_sum_us,
        :latency_max_us, :payload_sum_bytes)
ON CONFLICT (hour_us, run_id, worker_id, event_type) DO UPDATE
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
