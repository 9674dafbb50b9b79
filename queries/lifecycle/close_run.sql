-- Closing a run: how and when it ended. Only a run still open is closed, so
-- two processes closing the same crashed run close it once (primary key).
UPDATE runs
SET status      = :status,
    ended_at_us = :end_us,
    end_reason  = :reason,
    sketched_until_us = NULL  -- complete: the caller builds the rest from raw rows
WHERE id = :run_id
  AND status = 'running'
