-- Closing a run: alerts of the run still firing resolve with the reason —
-- nobody is left to watch their conditions. Primary-key range scan (alert
-- ids are in their run's id range).
UPDATE alerts
SET resolved_at_us  = max(:end_us, fired_at_us),
    resolved_reason = :reason
WHERE id BETWEEN :first AND :last
  AND resolved_at_us IS NULL
