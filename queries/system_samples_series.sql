-- The system samples taken in [:window_start, :window_end), oldest first:
-- the dashboard's sparklines and the HTML report's charts. :run_id is one
-- run's id, or NULL for every run.
-- Uses system_samples_by_time for both the range and the order.
SELECT sampled_at_us, cpu_usage_percent, memory_usage_percent, memory_used_bytes, memory_total_bytes,
       load_avg_1m, load_avg_5m, load_avg_15m, process_cpu_percent, process_rss_bytes,
       active_connections, active_workflows
FROM system_samples
WHERE sampled_at_us >= :window_start
  AND sampled_at_us < :window_end
  AND (:run_id IS NULL OR run_id = :run_id)
ORDER BY sampled_at_us, id
