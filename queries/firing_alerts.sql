-- Alerts still firing (not resolved), newest first: the dashboard's alert
-- panel, for one run (:run_id) or every run (:run_id NULL). Reads only the
-- partial index alerts_firing, which holds exactly the unresolved rows, so
-- the cost follows the number firing, not the history.
-- The unary `+` keeps the planner from walking alerts_by_fired (the whole
-- history) just to get the order; the few firing rows are sorted instead.
SELECT id, alert_type, subject, severity, message, value, threshold,
       fired_at_us, resolved_at_us, details_json
FROM alerts
WHERE resolved_at_us IS NULL
  AND (:run_id IS NULL OR run_id = :run_id)
ORDER BY +fired_at_us DESC, id DESC
