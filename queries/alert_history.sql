-- alert_history(window): alerts that fired in [:window_start, :window_end),
-- newest first, with their resolution time (NULL while still firing), for
-- one run (:run_id) or every run (:run_id NULL).
-- Uses alerts_by_fired for the range and the order.
SELECT id, alert_type, subject, severity, message, value, threshold,
       fired_at_us, resolved_at_us, details_json
FROM alerts
WHERE fired_at_us >= :window_start
  AND fired_at_us < :window_end
  AND (:run_id IS NULL OR run_id = :run_id)
ORDER BY fired_at_us DESC, id DESC
