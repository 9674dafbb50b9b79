-- Adds counts of one worker's durations and latencies in one sketch bucket
-- and minute to this run's row (migrations/0005_sketches.sql).
-- Index: the primary key (minute_us, run_id, worker_id, key) finds the row
-- to add to.
INSERT INTO worker_minute_sketch (minute_us, run_id, worker_id, key, durations, latencies)
VALUES (:minute_us, :run_id, :worker_id, :key, :durations, :latencies)
ON CONFLICT (minute_us, run_id, worker_id, key) DO UPDATE
SET durations = durations + excluded.durations,
    latencies = latencies + excluded.latencies
