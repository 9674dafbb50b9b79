-- Per-minute worker rollups of the runs being copied, with the run and the
-- worker renumbered.
-- Rows of run 0 (the rollups of no run, from before schema version 4) are
-- copied only when the merge maps run 0 (see store::merge), and then add to
-- OUT's own run-0 rows as the writer's upsert adds a batch
-- (queries/write/upsert_worker_rollup.sql). The new runs' rows never meet an
-- existing row: the run ids are new.
-- `WHERE true`: the ON CONFLICT is the upsert's, not the join's.
-- Index: one scan of the input's table (its key starts with the time, not
-- the run), the run map by its primary key; OUT's primary key per row.
INSERT INTO main.worker_minute_rollups (run_id, worker_id, event_type, minute_us, completed, failed,
                                        timeout, cancelled, duration_sum_us, duration_min_us,
                                        duration_max_us, latency_sum_us, latency_max_us,
                                        payload_sum_bytes)
SELECT m.new_id, (SELECT k.new_id FROM temp.merge_workers k WHERE k.old_id = r.worker_id),
       r.event_type, r.minute_us, r.completed, r.failed, r.timeout, r.cancelled, r.duration_sum_us,
       r.duration_min_us, r.duration_max_us, r.latency_sum_us, r.latency_max_us, r.payload_sum_bytes
FROM src.worker_minute_rollups r
JOIN temp.merge_runs m ON m.old_id = r.run_id
WHERE true
ON CONFLICT (minute_us, run_id, worker_id, event_type) DO UPDATE
SET completed         = completed + excluded.completed,
    failed            = failed + excluded.failed,
    timeout           = timeout + excluded.timeout,
    cancelled         = cancelled + excluded.cancelled,
    duration_sum_us   = duration_sum_us + excluded.duration_sum_us,
    duration_min_us   = min(coalesce(duration_min_us, excluded.duration_min_us), excluded.duration_min_us),
    duration_max_us   = max(coalesce(duration_max_us, excluded.duration_max_us), excluded.duration_max_us),
    latency_sum_us    = latency_sum_us + excluded.latency_sum_us,
    latency_max_us    = max(coalesce(latency_max_us, excluded.latency_max_us), excluded.latency_max_us),
    payload_sum_bytes = payload_sum_bytes + excluded.payload_sum_bytes
