-- get_system_metrics(window): averages and peaks of the system samples taken
-- in [:window_start, :window_end) (microseconds since the epoch).
-- :run_id is one run's id, or NULL for every run in the file.
-- Uses system_samples_by_time for the range; every figure is one pass over
-- the samples in the window (the run is a filter on those rows). An empty
-- window gives sample_count 0 and NULLs.
SELECT count(*)                  AS sample_count,
       avg(cpu_usage_percent)    AS avg_cpu_usage,
       max(cpu_usage_percent)    AS peak_cpu_usage,
       avg(memory_usage_percent) AS avg_memory_usage,
       max(memory_usage_percent) AS peak_memory_usage,
       avg(load_avg_1m)          AS avg_system_load,
       avg(process_cpu_percent)  AS avg_process_cpu_percent,
       max(process_cpu_percent)  AS peak_process_cpu_percent,
       max(process_rss_bytes)    AS peak_process_rss_bytes,
       max(active_connections)   AS peak_active_connections,
       max(active_workflows)     AS peak_active_workflows
FROM system_samples
WHERE sampled_at_us >= :window_start
  AND sampled_at_us < :window_end
  AND (:run_id IS NULL OR run_id = :run_id)
