-- Latency histogram rows of minutes before the cutoff.
-- Index: the primary key of event_minute_latency_histogram starts with minute_us.
DELETE FROM event_minute_latency_histogram WHERE minute_us < :cutoff_us
RETURNING run_id, minute_us + 59999999  -- the minute's last microsecond
