INSERT INTO alerts (id, run_id, alert_type, subject, severity, message, value, threshold, fired_at_us, details_json)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
