-- Per-minute workflow outcomes of the runs being copied, with the run and
-- the worker renumbered.
-- Rows of run 0 (the rollups of no run, from before schema version 4) are
-- copied only when the merge maps run 0 (see store::merge), and then add to
-- OUT's own run-0 rows as the writer's upsert adds a batch
-- (queries/write/upsert_workflow_rollup.sql). The new runs' rows never meet
-- an existing row: the run ids are new.
-- `WHERE true`: the ON CONFLICT is the upsert's, not the join's.
-- Index: one scan of the input's table (its key starts with the time, not
-- the run), the run map by its primary key; OUT's primary key per row.
INSERT INTO main.workflow_minute_rollups (run_id, workflow_name, minute_us, completed, failed,
                                          compensated, cancelled, latency_sum_us, latency_max_us)
SELECT m.new_id, r.workflow_name, r.minute_us, r.completed, r.failed, r.compensated, r.cancelled,
       r.latency_sum_us, r.latency_max_us
FROM src.workflow_minute_rollups r
JOIN temp.merge_runs m ON m.old_id = r.run_id
WHERE true
ON CONFLICT (minute_us, run_id, workflow_name) DO UPDATE
SET completed      = completed + excluded.completed,
    failed         = failed + excluded.failed,
    compensated    = compensated + excluded.compensated,
    cancelled      = cancelled + excluded.cancelled,
    latency_sum_us = latency_sum_us + excluded.latency_sum_us,
    latency_max_us = max(coalesce(latency_max_us, excluded.latency_max_us), excluded.latency_max_us)
