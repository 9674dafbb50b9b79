-- Per-hour worker sketches of the runs being copied, with the run and the
-- worker renumbered.
-- Rows of run 0 (the rollups of no run, from before schema version 4) are
-- copied only when the merge maps run 0 (see store::merge), and then add to
-- OUT's own run-0 rows as the writer's upsert adds a batch
-- (queries/write/upsert_worker_hour_sketch.sql). The new runs' rows never
-- meet an existing row: the run ids are new.
-- `WHERE true`: the ON CONFLICT is the upsert's, not the join's.
-- Index: one scan of the input's table (its key starts with the time, not
-- the run), the run map by its primary key; OUT's primary key per row.
INSERT INTO main.worker_hour_sketch (hour_us, run_id, worker_id, key, durations, latencies)
SELECT r.hour_us, m.new_id,
       (SELECT k.new_id FROM temp.merge_workers k WHERE k.old_id = r.worker_id), r.key, r.durations,
       r.latencies
FROM src.worker_hour_sketch r
JOIN temp.merge_runs m ON m.old_id = r.run_id
WHERE true
ON CONFLICT (hour_us, run_id, worker_id, key) DO UPDATE
SET durations = durations + excluded.durations,
    latencies = latencies + excluded.latencies
