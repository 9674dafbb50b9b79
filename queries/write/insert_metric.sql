-- One observation of a custom metric.
-- Index: none searched (an insert); the row id is SQLite's next rowid.
INSERT INTO custom_metrics (run_id, name, metric_type, labels_json, value, recorded_at_us)
VALUES (:run_id, :name, :metric_type, :labels_json, :value, :recorded_at_us)
