INSERT INTO events (id, workflow_id, event_type, step, worker_id, attempt, status, dispatched_at_us,
                    picked_up_at_us, processing_at_us, finished_at_us, duration_us, payload_size_bytes,
                    result_size_bytes, error_type, error_message)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
