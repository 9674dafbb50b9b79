-- Empties the id maps of maps.sql before the next input.
DELETE FROM temp.merge_runs;
DELETE FROM temp.merge_workers;
DELETE FROM temp.merge_hosts;
