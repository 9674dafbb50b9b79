-- The last thing a run recorded, of any kind (µs), and never before its
-- start: the end of a run that crashed. Workflows, events and alerts are
-- primary-key range scans of the run's id range [:first, :last];
-- system_samples and custom_metrics have no index on run_id and are scanned
-- (this runs once per crashed run).
SELECT max(
    r.started_at_us,
    coalesce((SELECT max(max(created_at_us, coalesce(started_at_us, 0),
                             coalesce(compensating_at_us, 0), coalesce(ended_at_us, 0)))
              FROM workflows WHERE id BETWEEN :first AND :last), 0),
    coalesce((SELECT max(max(dispatched_at_us, coalesce(finished_at_us, 0)))
              FROM events WHERE id BETWEEN :first AND :last), 0),
    coalesce((SELECT max(max(fired_at_us, coalesce(resolved_at_us, 0)))
              FROM alerts WHERE id BETWEEN :first AND :last), 0),
    coalesce((SELECT max(sampled_at_us) FROM system_samples WHERE run_id = :run_id), 0),
    coalesce((SELECT max(recorded_at_us) FROM custom_metrics WHERE run_id = :run_id), 0))
FROM runs r
WHERE r.id = :run_id
