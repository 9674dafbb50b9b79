-- Runs that never recorded their end: a crash, a kill, a full disk, or a run
-- still going in another process. One row per process run: a scan of a
-- small table.
SELECT count(*) FROM runs WHERE ended_at_us IS NULL
