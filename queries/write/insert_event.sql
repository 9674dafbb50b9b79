-- An event, dispatched or (its end merged in the same batch) already ended.
-- Index: none searched (an insert); ids are time-ordered, so the primary key
-- grows at its end (the cheap case DESIGN.md measured).
INSERT INTO events (id, workflow_id, event_type, step, worker_id, attempt, status, dispatched_at_us,
                    picked_up_at_us, processing_at_us, finished_at_us, duration_us, payload_size_bytes,
                    result_size_bytes, error_type, error_message)
VALUES (:id, :workflow_id, :event_type, :step, :worker_id, :attempt, :status, :dispatched_at_us,
        :picked_up_at_us, :processing_at_us, :finished_at_us, :duration_us, :payload_size_bytes,
        :result_size_bytes, :error_type, :error_message)
