-- One run's descriptive fields: what `query runs` lists of it without the
-- workflow counts (which read every workflow of the run), for the report.
--
-- Parameters:
--   :run_id  the run
--
-- Index: the primary key of runs.
SELECT command, version, host, status, end_reason
FROM runs
WHERE id = :run_id
