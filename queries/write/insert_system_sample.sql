INSERT INTO system_samples (run_id, sampled_at_us, cpu_usage_percent, memory_usage_percent, memory_used_bytes,
                            memory_total_bytes, load_avg_1m, load_avg_5m, load_avg_15m, process_cpu_percent,
                            process_rss_bytes, active_connections, active_workflows)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
