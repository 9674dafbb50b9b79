-- Adds counts of one worker's durations and latencies in one sketch bucket
-- to this run's row of the hour (the sum of the hour's minute rows).
-- Index: the primary key (hour_us, run_id, worker_id, key) finds the row to
-- add to.
INSERT INTO worker_hour_sketch (hour_us, run_id, worker_id, key, durations, latencies)
VALUES (:hour_us, :run_id, :worker_id, :key, :durations, :latencies)
ON CONFLICT (hour_us, run_id, worker_id, key) DO UPDATE
SET durations = durations + excluded.durations,
    latencies = latencies + excluded.latencies
