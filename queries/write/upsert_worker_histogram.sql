INSERT INTO worker_minute_histogram (worker_id, minute_us, le_ms, count)
VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (minute_us, worker_id, le_ms) DO UPDATE SET count = count + excluded.count
