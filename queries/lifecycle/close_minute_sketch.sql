-- Closing a run: its events still in flight, about to end `cancelled` at
-- max(:end_us, dispatched) with a 0 duration (close_events.sql), are added
-- to the minute sketches where those are already complete in the file
-- (before :until_us, the run's sketched_until_us); later minutes are built
-- from the raw rows afterwards (complete_minute_sketch.sql). Run before
-- close_events.sql. The 0 duration is in bucket :zero_key.
-- Index: primary-key range scan of the run's events; sketch_buckets' unique
-- upper_us for the latency's bucket.
INSERT INTO worker_minute_sketch (minute_us, run_id, worker_id, key, durations, latencies)
SELECT minute_us, :run_id, worker_id, key, sum(d), sum(l)
FROM (
    SELECT (max(:end_us, dispatched_at_us) / 60000000) * 60000000 AS minute_us, worker_id,
           :zero_key AS key, 1 AS d, 0 AS l
    FROM events
    WHERE id BETWEEN :first AND :last AND status = 'dispatched' AND max(:end_us, dispatched_at_us) < :until_us
    UNION ALL
    SELECT (max(:end_us, dispatched_at_us) / 60000000) * 60000000, worker_id,
           (SELECT b.key FROM sketch_buckets b WHERE b.upper_us >= max(:end_us, dispatched_at_us) - dispatched_at_us
             ORDER BY b.upper_us LIMIT 1),
           0, 1
    FROM events
    WHERE id BETWEEN :first AND :last AND status = 'dispatched' AND max(:end_us, dispatched_at_us) < :until_us
)
GROUP BY minute_us, worker_id, key
ON CONFLICT (minute_us, run_id, worker_id, key) DO UPDATE
SET durations = durations + excluded.durations,
    latencies = latencies + excluded.latencies
