-- Runs recorded in the file (one row per process run: a scan of a small
-- table).
SELECT count(*) FROM runs
