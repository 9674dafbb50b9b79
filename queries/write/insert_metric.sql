INSERT INTO custom_metrics (run_id, name, metric_type, labels_json, value, recorded_at_us)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
