INSERT INTO event_minute_latency_histogram (run_id, minute_us, le_ms, count)
VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (minute_us, run_id, le_ms) DO UPDATE SET count = count + excluded.count
