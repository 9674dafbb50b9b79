INSERT INTO worker_minute_histogram (run_id, worker_id, minute_us, le_ms, count)
VALUES (?5, ?1, ?2, ?3, ?4)
ON CONFLICT (minute_us, run_id, worker_id, le_ms) DO UPDATE SET count = count + excluded.count
