-- The end of an event inserted (dispatched) by an earlier batch.
UPDATE events
SET status = ?2, picked_up_at_us = ?3, processing_at_us = ?4, finished_at_us = ?5, duration_us = ?6,
    result_size_bytes = ?7, error_type = ?8, error_message = ?9
WHERE id = ?1
