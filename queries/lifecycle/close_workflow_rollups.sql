-- Closing a run: its unfinished workflows end `cancelled` at :end_us, so the
-- per-minute rollups count them like the writer counts any cancelled
-- workflow (same minute, latency created -> end). Primary-key range scan of
-- the run's workflows.
INSERT INTO workflow_minute_rollups (run_id, workflow_name, minute_us, cancelled, latency_sum_us, latency_max_us)
SELECT :run_id, workflow_name, :minute_us, count(*), sum(:end_us - created_at_us), max(:end_us - created_at_us)
FROM workflows
WHERE id BETWEEN :first AND :last
  AND ended_at_us IS NULL
GROUP BY workflow_name
ON CONFLICT (minute_us, run_id, workflow_name) DO UPDATE
SET cancelled      = cancelled + excluded.cancelled,
    latency_sum_us = latency_sum_us + excluded.latency_sum_us,
    latency_max_us = max(coalesce(latency_max_us, excluded.latency_max_us), excluded.latency_max_us)
