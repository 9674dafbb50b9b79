-- Closing a run: events still in flight end `cancelled` (status code 4)
-- with the reason (run after the rollups, which read them as in flight).
-- Primary-key range scan of the run's events.
UPDATE event_rows
SET status_code    = 4,
    finished_at_us = max(:end_us, dispatched_at_us),
    duration_us    = 0,
    error_type     = :error_type,
    error_message  = :reason
WHERE id BETWEEN :first AND :last
  AND status_code = 0
