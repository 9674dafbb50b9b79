-- Adds a batch's ends of one workflow name in one minute to this run's
-- rollup row.
-- Index: the primary key (minute_us, run_id, workflow_name) finds the row to
-- add to.
INSERT INTO workflow_minute_rollups (run_id, workflow_name, minute_us, completed, failed, compensated, cancelled,
                                     latency_sum_us, latency_max_us)
VALUES (:run_id, :workflow_name, :minute_us, :completed, :failed, :compensated, :cancelled,
        :latency_sum_us, :latency_max_us)
ON CONFLICT (minute_us, run_id, workflow_name) DO UPDATE
SET completed      = completed + excluded.completed,
    failed         = failed + excluded.failed,
    compensated    = compensated + excluded.compensated,
    cancelled      = cancelled + excluded.cancelled,
    latency_sum_us = latency_sum_us + excluded.latency_sum_us,
    latency_max_us = max(coalesce(latency_max_us, excluded.latency_max_us), excluded.latency_max_us)
