-- Raise (never lower) a run's retention watermark of one kind: raw rows of
-- that kind at or after ?3 are all still in the file.
INSERT INTO retention_watermarks (run_id, kind, deleted_before_us) VALUES (?1, ?2, ?3)
ON CONFLICT (run_id, kind) DO UPDATE
SET deleted_before_us = max(deleted_before_us, excluded.deleted_before_us)
