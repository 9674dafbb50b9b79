-- The end of an event inserted (dispatched) by an earlier batch; the stages
-- are stored as offsets from its dispatch (migrations/0006_compact_events.sql),
-- the host that ran it as its id (NULL in process).
-- Index: the primary key of event_rows (:id).
UPDATE event_rows
SET status_code = :status_code, picked_up_after_us = :picked_up_at_us - dispatched_at_us,
    processing_after_us = :processing_at_us - dispatched_at_us, finished_at_us = :finished_at_us,
    duration_us = :duration_us, result_size_bytes = :result_size_bytes, error_type = :error_type,
    error_message = :error_message, host_id = :host_id
WHERE id = :id
