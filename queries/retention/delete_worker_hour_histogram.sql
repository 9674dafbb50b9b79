-- Worker duration histogram rows of hours that ended at or before the cutoff (an hour
-- row stays whole while any minute of it is kept, like worker_hour_sketch).
-- Index: the primary key of worker_hour_histogram starts with hour_us.
DELETE FROM worker_hour_histogram WHERE hour_us <= :cutoff_us - 3600000000
RETURNING run_id, hour_us + 3599999999  -- the hour's last microsecond
