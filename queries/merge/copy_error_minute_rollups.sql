-- Per-minute error rollups of the runs being copied, with the run and the worker
-- renumbered, and the example event renumbered as events are
-- (copy_events.sql).
-- Rows of run 0 (the rollups of no run, from before schema version 4) are
-- copied only when the merge maps run 0 (see store::merge), and then add to
-- OUT's own run-0 rows as the writer's upsert adds a batch
-- (queries/write/upsert_error_rollup.sql). The new runs' rows never meet an
-- existing row: the run ids are new.
-- `WHERE true`: the ON CONFLICT is the upsert's, not the join's.
-- Index: one scan of the input's table (its key starts with the time, not
-- the run), the run map by its primary key; OUT's primary key per row.
INSERT INTO main.error_minute_rollups (minute_us, run_id, worker_id, error_type, count,
                                       first_seen_us, last_seen_us, example_id)
SELECT r.minute_us, m.new_id,
       (SELECT k.new_id FROM temp.merge_workers k WHERE k.old_id = r.worker_id), r.error_type,
       r.count, r.first_seen_us, r.last_seen_us, (m.new_id << 40) | (r.example_id & 1099511627775)
FROM src.error_minute_rollups r
JOIN temp.merge_runs m ON m.old_id = r.run_id
WHERE true
ON CONFLICT (minute_us, run_id, worker_id, error_type) DO UPDATE
SET count         = count + excluded.count,
    first_seen_us = min(first_seen_us, excluded.first_seen_us),
    example_id    = CASE WHEN (excluded.last_seen_us, excluded.example_id) > (last_seen_us, example_id)
                         THEN excluded.example_id ELSE example_id END,
    last_seen_us  = max(last_seen_us, excluded.last_seen_us)
