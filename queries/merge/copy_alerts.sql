-- The alerts of the runs being copied. Their ids are row ids of the run
-- (run_id << 40 | sequence), renumbered as workflows are.
-- Index: alerts_by_run of the input, per run.
INSERT INTO main.alerts (id, run_id, alert_type, subject, severity, message, value, threshold,
                         fired_at_us, resolved_at_us, details_json, resolved_reason)
SELECT (m.new_id << 40) | (a.id & 1099511627775), m.new_id, a.alert_type, a.subject, a.severity,
       a.message, a.value, a.threshold, a.fired_at_us, a.resolved_at_us, a.details_json,
       a.resolved_reason
FROM temp.merge_runs m
CROSS JOIN src.alerts a
WHERE m.old_id > 0
  AND a.run_id = m.old_id
ORDER BY m.old_id, a.id
