-- Adds a batch's errors of one worker and type in one minute to this run's
-- row of the minute's hour, as upsert_error_rollup.sql does to the minute's
-- row: the count, the first and last end, and the latest error's event.
-- Index: the primary key (hour_us, run_id, worker_id, error_type) finds the
-- row to add to.
INSERT INTO error_hour_rollups (hour_us, run_id, worker_id, error_type, count, first_seen_us,
                                last_seen_us, example_id)
VALUES (:hour_us, :run_id, :worker_id, :error_type, :count, :first_seen_us, :last_seen_us, :example_id)
ON CONFLICT (hour_us, run_id, worker_id, error_type) DO UPDATE
SET count         = count + excluded.count,
    first_seen_us = min(first_seen_us, excluded.first_seen_us),
    example_id    = CASE WHEN (excluded.last_seen_us, excluded.example_id) > (last_seen_us, example_id)
                         THEN excluded.example_id ELSE example_id END,
    last_seen_us  = max(last_seen_us, excluded.last_seen_us)
