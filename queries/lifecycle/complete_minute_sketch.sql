-- Closing a run: the minutes at and after :until_us (its sketched_until_us),
-- which its writer held in memory and the file has no row of, built from
-- the run's raw events (cancelled ones included: run after close_events.sql).
-- Index: events_by_worker_finish, one range per worker from :until_us (the
-- run's ids filtered from the index entries); sketch_buckets' unique
-- upper_us for each value's bucket.
INSERT INTO worker_minute_sketch (minute_us, run_id, worker_id, key, durations, latencies)
SELECT minute_us, :run_id, worker_id, key, sum(d), sum(l)
FROM (
    SELECT (finished_at_us / 60000000) * 60000000 AS minute_us, worker_id,
           (SELECT b.key FROM sketch_buckets b WHERE b.upper_us >= e.duration_us ORDER BY b.upper_us LIMIT 1) AS key,
           1 AS d, 0 AS l
    FROM events e
    WHERE e.worker_id IN (SELECT id FROM workers) AND e.finished_at_us >= :until_us
      AND e.finished_at_us IS NOT NULL AND +e.id BETWEEN :first AND :last
    UNION ALL
    SELECT (finished_at_us / 60000000) * 60000000, worker_id,
           (SELECT b.key FROM sketch_buckets b WHERE b.upper_us >= e.finished_at_us - e.dispatched_at_us
             ORDER BY b.upper_us LIMIT 1),
           0, 1
    FROM events e
    WHERE e.worker_id IN (SELECT id FROM workers) AND e.finished_at_us >= :until_us
      AND e.finished_at_us IS NOT NULL AND +e.id BETWEEN :first AND :last
)
GROUP BY minute_us, worker_id, key
ON CONFLICT (minute_us, run_id, worker_id, key) DO UPDATE
SET durations = durations + excluded.durations,
    latencies = latencies + excluded.latencies
