-- Adds a batch's count of event latencies in one bucket and minute to this
-- run's row.
-- Index: the primary key (minute_us, run_id, le_ms) finds the row to add to.
INSERT INTO event_minute_latency_histogram (run_id, minute_us, le_ms, count)
VALUES (:run_id, :minute_us, :le_ms, :count)
ON CONFLICT (minute_us, run_id, le_ms) DO UPDATE SET count = count + excluded.count
