-- The end of an event inserted by an earlier batch.
UPDATE events
SET status = ?2, finished_at_us = ?3, duration_us = ?4, result_size_bytes = ?5, error_type = ?6, error_message = ?7
WHERE id = ?1
