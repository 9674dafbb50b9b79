-- Adds a batch's errors of one worker and type in one minute to this run's
-- row: the count, the first and last end, and the latest error's event
-- (latest end, then highest id; SET reads the row's values before the
-- update).
-- Index: the primary key (minute_us, run_id, worker_id, error_type) finds
-- the row to add to.
INSERT INTO error_minute_rollups (minute_us, run_id, worker_id, error_type, count, first_seen_us,
                                  last_seen_us, example_id)
VALUES (:minute_us, :run_id, :worker_id, :error_type, :count, :first_seen_us, :last_seen_us, :example_id)
ON CONFLICT (minute_us, run_id, worker_id, error_type) DO UPDATE
SET count         = count + excluded.count,
    first_seen_us = min(first_seen_us, excluded.first_seen_us),
    example_id    = CASE WHEN (excluded.last_seen_us, excluded.example_id) > (last_seen_us, example_id)
                         THEN excluded.example_id ELSE example_id END,
    last_seen_us  = max(last_seen_us, excluded.last_seen_us)
