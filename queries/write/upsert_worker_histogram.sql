-- Adds a batch's count of one worker's durations in one bucket and minute to
-- this run's row.
-- Index: the primary key (minute_us, run_id, worker_id, le_ms) finds the row
-- to add to.
INSERT INTO worker_minute_histogram (run_id, worker_id, minute_us, le_ms, count)
VALUES (:run_id, :worker_id, :minute_us, :le_ms, :count)
ON CONFLICT (minute_us, run_id, worker_id, le_ms) DO UPDATE SET count = count + excluded.count
