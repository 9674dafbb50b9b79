-- An event, dispatched or (its end merged in the same batch) already ended,
-- in its compact form (migrations/0006_compact_events.sql): :compensation
-- 0 or 1, :status_code from event_statuses, the picked-up and processing
-- stages as offsets from :dispatched_at_us; :host_id the worker host that
-- ran it, NULL in process (migrations/0008_hosts_and_merge.sql).
-- Index: none searched (an insert); ids are time-ordered, so the primary key
-- grows at its end (the cheap case DESIGN.md measured).
INSERT INTO event_rows (id, workflow_id, compensation, step, worker_id, attempt, status_code,
                        dispatched_at_us, picked_up_after_us, processing_after_us, finished_at_us,
                        duration_us, payload_size_bytes, result_size_bytes, error_type, error_message,
                        host_id)
VALUES (:id, :workflow_id, :compensation, :step, :worker_id, :attempt, :status_code, :dispatched_at_us,
        :picked_up_at_us - :dispatched_at_us, :processing_at_us - :dispatched_at_us, :finished_at_us,
        :duration_us, :payload_size_bytes, :result_size_bytes, :error_type, :error_message, :host_id)
