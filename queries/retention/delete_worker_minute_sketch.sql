-- Worker sketch rows of minutes before the cutoff.
-- Index: the primary key of worker_minute_sketch starts with minute_us.
DELETE FROM worker_minute_sketch WHERE minute_us < :cutoff_us
RETURNING run_id, minute_us + 59999999  -- the minute's last microsecond
