-- How far retention deleted each copied run's raw rows in the input, so
-- that an answer about it in OUT is as partial, and says so, as it was
-- there (monitor::coverage). Run 0 (rollup rows of no run, from before
-- schema version 4) keeps the later of OUT's and the input's watermark.
-- Index: the primary key (run_id, kind) of both.
INSERT INTO main.retention_watermarks (run_id, kind, deleted_before_us)
SELECT m.new_id, w.kind, w.deleted_before_us
FROM temp.merge_runs m
CROSS JOIN src.retention_watermarks w
WHERE w.run_id = m.old_id
ON CONFLICT (run_id, kind) DO UPDATE
SET deleted_before_us = max(deleted_before_us, excluded.deleted_before_us)
