-- Empties the id maps of maps.sql before the next input.
-- Index: none searched (every row goes).
DELETE FROM temp.merge_runs;
DELETE FROM temp.merge_workers;
DELETE FROM temp.merge_hosts;
