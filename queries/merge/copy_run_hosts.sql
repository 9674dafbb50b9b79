-- The worker hosts each copied run heard from, with the host by name.
-- Index: the primary key (run_id, host_id) of the input, per run.
INSERT INTO main.run_hosts (run_id, host_id, workers, concurrency, first_seen_us,
                            last_heartbeat_us, reclaimed, duplicates)
SELECT m.new_id, (SELECT h.new_id FROM temp.merge_hosts h WHERE h.old_id = r.host_id), r.workers,
       r.concurrency, r.first_seen_us, r.last_heartbeat_us, r.reclaimed, r.duplicates
FROM temp.merge_runs m
CROSS JOIN src.run_hosts r
WHERE m.old_id > 0
  AND r.run_id = m.old_id
