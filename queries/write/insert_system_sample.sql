-- One system sample of this run.
-- Index: none searched (an insert); the row id is SQLite's next rowid.
INSERT INTO system_samples (run_id, sampled_at_us, cpu_usage_percent, memory_usage_percent, memory_used_bytes,
                            memory_total_bytes, load_avg_1m, load_avg_5m, load_avg_15m, process_cpu_percent,
                            process_rss_bytes, active_connections, active_workflows)
VALUES (:run_id, :sampled_at_us, :cpu_usage_percent, :memory_usage_percent, :memory_used_bytes,
        :memory_total_bytes, :load_avg_1m, :load_avg_5m, :load_avg_15m, :process_cpu_percent,
        :process_rss_bytes, :active_connections, :active_workflows)
