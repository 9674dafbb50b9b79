-- Closing a run: the same cancelled events as close_minute_sketch.sql in the
-- hour sketches (the minutes after :until_us reach them through
-- complete_hour_sketch.sql). Run before close_events.sql.
-- Index: primary-key range scan of the run's events; sketch_buckets' unique
-- upper_us for the latency's bucket.
INSERT INTO worker_hour_sketch (hour_us, run_id, worker_id, key, durations, latencies)
SELECT hour_us, :run_id, worker_id, key, sum(d), sum(l)
FROM (
    SELECT (max(:end_us, dispatched_at_us) / 3600000000) * 3600000000 AS hour_us, worker_id,
           :zero_key AS key, 1 AS d, 0 AS l
    FROM events
    WHERE id BETWEEN :first AND :last AND status = 'dispatched' AND max(:end_us, dispatched_at_us) < :until_us
    UNION ALL
    SELECT (max(:end_us, dispatched_at_us) / 3600000000) * 3600000000, worker_id,
           (SELECT b.key FROM sketch_buckets b WHERE b.upper_us >= max(:end_us, dispatched_at_us) - dispatched_at_us
             ORDER BY b.upper_us LIMIT 1),
           0, 1
    FROM events
    WHERE id BETWEEN :first AND :last AND status = 'dispatched' AND max(:end_us, dispatched_at_us) < :until_us
)
GROUP BY hour_us, worker_id, key
ON CONFLICT (hour_us, run_id, worker_id, key) DO UPDATE
SET durations = durations + excluded.durations,
    latencies = latencies + excluded.latencies
