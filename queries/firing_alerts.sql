-- Alerts still firing (not resolved), newest first: the dashboard's alert
-- panel. Reads only the partial index alerts_firing, which holds exactly the
-- unresolved rows, so the cost follows the number firing, not the history.
-- The unary `+` keeps the planner from walking alerts_by_fired (the whole
-- history) just to get the order; the few firing rows are sorted instead.
SELECT id, alert_type, subject, severity, message, value, threshold,
       fired_at_us, resolved_at_us, details_json
FROM alerts
WHERE resolved_at_us IS NULL
ORDER BY +fired_at_us DESC, id DESC
