-- The system samples of the runs being copied, in the input's order; OUT
-- numbers them (their ids are plain row ids, not per run).
-- Index: system_samples_by_run of the input, per run (then sorted by id:
-- samples are few, one every few seconds).
INSERT INTO main.system_samples (run_id, sampled_at_us, cpu_usage_percent, memory_usage_percent,
                                 memory_used_bytes, memory_total_bytes, load_avg_1m, load_avg_5m,
                                 load_avg_15m, process_cpu_percent, process_rss_bytes,
                                 active_connections, active_workflows)
SELECT m.new_id, s.sampled_at_us, s.cpu_usage_percent, s.memory_usage_percent, s.memory_used_bytes,
       s.memory_total_bytes, s.load_avg_1m, s.load_avg_5m, s.load_avg_15m, s.process_cpu_percent,
       s.process_rss_bytes, s.active_connections, s.active_workflows
FROM temp.merge_runs m
CROSS JOIN src.system_samples s
WHERE m.old_id > 0
  AND s.run_id = m.old_id
ORDER BY m.old_id, s.id
