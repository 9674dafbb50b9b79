-- An alert that fired.
-- Index: none searched (an insert); ids are time-ordered, so the primary key
-- and alerts_by_fired grow at their end.
INSERT INTO alerts (id, run_id, alert_type, subject, severity, message, value, threshold, fired_at_us, details_json)
VALUES (:id, :run_id, :alert_type, :subject, :severity, :message, :value, :threshold, :fired_at_us, :details_json)
