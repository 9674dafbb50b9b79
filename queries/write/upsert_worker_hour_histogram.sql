-- Adds a batch's count of one worker's durations in one bucket and minute to
-- this run's row of the minute's hour (kept with upsert_worker_histogram.sql).
-- Index: the primary key (hour_us, run_id, worker_id, le_ms) finds the row
-- to add to.
INSERT INTO worker_hour_histogram (hour_us, run_id, worker_id, le_ms, count)
VALUES (:hour_us, :run_id, :worker_id, :le_ms, :count)
ON CONFLICT (hour_us, run_id, worker_id, le_ms) DO UPDATE SET count = count + excluded.count
