-- Error rollup rows of minutes before the cutoff.
-- Index: the primary key of error_minute_rollups starts with minute_us.
DELETE FROM error_minute_rollups WHERE minute_us < :cutoff_us
RETURNING run_id, minute_us + 59999999  -- the minute's last microsecond
