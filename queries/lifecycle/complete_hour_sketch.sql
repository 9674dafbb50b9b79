-- Closing a run: the minutes complete_minute_sketch.sql built (at and after
-- :until_us) added to the run's hour rows.
-- Index: the primary key of worker_minute_sketch from :until_us (run_id is
-- its second column).
INSERT INTO worker_hour_sketch (hour_us, run_id, worker_id, key, durations, latencies)
SELECT (minute_us / 3600000000) * 3600000000 AS hour_us, run_id, worker_id, key, sum(durations), sum(latencies)
FROM worker_minute_sketch
WHERE minute_us >= :until_us AND run_id = :run_id
GROUP BY hour_us, run_id, worker_id, key
ON CONFLICT (hour_us, run_id, worker_id, key) DO UPDATE
SET durations = durations + excluded.durations,
    latencies = latencies + excluded.latencies
