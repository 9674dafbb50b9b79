-- The custom metric observations of the runs being copied, in the input's
-- order; OUT numbers them (plain row ids).
-- Index: custom_metrics_by_run of the input, per run.
INSERT INTO main.custom_metrics (run_id, name, metric_type, labels_json, value, recorded_at_us)
SELECT m.new_id, c.name, c.metric_type, c.labels_json, c.value, c.recorded_at_us
FROM temp.merge_runs m
CROSS JOIN src.custom_metrics c
WHERE m.old_id > 0
  AND c.run_id = m.old_id
ORDER BY m.old_id, c.id
