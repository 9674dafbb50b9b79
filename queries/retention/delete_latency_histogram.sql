DELETE FROM event_minute_latency_histogram WHERE minute_us < ?1
RETURNING run_id, minute_us + 59999999  -- the minute's last microsecond
