-- How far retention has deleted raw rows, per kind, for one run (:run_id)
-- or for every run (NULL: the latest watermark of any run, so that a window
-- about every run switches to rollups wherever any run lost rows). Raw rows
-- at or after deleted_before_us are all in the file.
-- Index: the primary key (run_id, kind); all runs read the small table.
SELECT kind, max(deleted_before_us) AS deleted_before_us
FROM retention_watermarks
WHERE (:run_id IS NULL OR run_id = :run_id)
GROUP BY kind
ORDER BY kind
