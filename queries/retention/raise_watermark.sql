-- Raise (never lower) a run's retention watermark of one kind: raw rows of
-- that kind at or after :deleted_before_us are all still in the file.
-- Index: the primary key (run_id, kind) of retention_watermarks finds the row.
INSERT INTO retention_watermarks (run_id, kind, deleted_before_us) VALUES (:run_id, :kind, :deleted_before_us)
ON CONFLICT (run_id, kind) DO UPDATE
SET deleted_before_us = max(deleted_before_us, excluded.deleted_before_us)
