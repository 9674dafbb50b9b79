-- The end of an event inserted (dispatched) by an earlier batch.
-- Index: the primary key of events (:id).
UPDATE events
SET status = :status, picked_up_at_us = :picked_up_at_us, processing_at_us = :processing_at_us,
    finished_at_us = :finished_at_us, duration_us = :duration_us, result_size_bytes = :result_size_bytes,
    error_type = :error_type, error_message = :error_message
WHERE id = :id
