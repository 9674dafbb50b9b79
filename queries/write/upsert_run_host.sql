-- A worker host's heartbeat as this run's orchestrator saw it, with what the
-- host did for the run so far (the counters are totals, not increments).
-- Index: the primary key of run_hosts (run_id, host_id).
INSERT INTO run_hosts (run_id, host_id, workers, concurrency, first_seen_us, last_heartbeat_us,
                       reclaimed, duplicates)
VALUES (:run_id, :host_id, :workers, :concurrency, :first_seen_us, :last_heartbeat_us, :reclaimed,
        :duplicates)
ON CONFLICT (run_id, host_id) DO UPDATE
SET workers = excluded.workers, concurrency = excluded.concurrency,
    first_seen_us = min(first_seen_us, excluded.first_seen_us),
    last_heartbeat_us = max(last_heartbeat_us, excluded.last_heartbeat_us),
    reclaimed = max(reclaimed, excluded.reclaimed), duplicates = max(duplicates, excluded.duplicates)
