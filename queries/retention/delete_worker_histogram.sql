DELETE FROM worker_minute_histogram WHERE minute_us < ?1
RETURNING run_id, minute_us + 59999999  -- the minute's last microsecond
