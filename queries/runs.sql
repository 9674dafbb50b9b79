-- Recorded runs, newest first, with what each recorded. Workflow counts use
-- the id range of each run (ids are (run_id << 40) | sequence), so they are
-- primary-key range scans.
--
-- A run whose raw workflows retention partly deleted (a 'traces' row in
-- retention_watermarks) is counted as monitor::coverage splits a window:
-- workflows that ended before the first whole minute at or after the
-- watermark (:resume_us below) from the per-minute rollups, those that
-- ended from that minute on, and the unfinished ones (no rollup counts
-- them), from the raw rows. The rollup sum reads the minutes of the run's
-- span through the primary key of workflow_minute_rollups (minute_us
-- first); the watermarks are primary-key lookups (run_id, kind).
--
-- A run copied by `multiagents merge` names the file it came from (the
-- path as given to merge, a primary-key lookup of merge_sources) and its
-- origin; both NULL for a run recorded in this file.
--
-- Parameters:
--   :limit  how many runs
WITH listed AS (
    SELECT r.*,
           (SELECT m.deleted_before_us FROM retention_watermarks m
             WHERE m.run_id = r.id AND m.kind = 'traces') AS traces_deleted_before_us,
           (SELECT m.deleted_before_us FROM retention_watermarks m
             WHERE m.run_id = r.id AND m.kind = 'rollups') AS rollups_deleted_before_us
    FROM runs r
    ORDER BY r.id DESC
    LIMIT :limit
),
resumed AS (
    -- The first whole minute at or after the watermark.
    SELECT listed.*,
           ((listed.traces_deleted_before_us + 59999999) / 60000000) * 60000000 AS resume_us
    FROM listed
)
SELECT resumed.id AS run_id,
       resumed.started_at_us,
       resumed.ended_at_us,
       resumed.command,
       resumed.version,
       resumed.host,
       (SELECT count(*) FROM workflows w
         WHERE w.id BETWEEN (resumed.id << 40) AND (resumed.id << 40) + 1099511627775
           AND (resumed.resume_us IS NULL OR w.ended_at_us IS NULL
                OR w.ended_at_us >= resumed.resume_us)) AS raw_workflows,
       (SELECT count(*) FROM workflows w
         WHERE w.id BETWEEN (resumed.id << 40) AND (resumed.id << 40) + 1099511627775
           AND w.ended_at_us IS NULL) AS unfinished,
       resumed.status,
       resumed.end_reason,
       CASE WHEN resumed.resume_us IS NULL THEN 0 ELSE
           (SELECT coalesce(sum(x.completed + x.failed + x.compensated + x.cancelled), 0)
              FROM workflow_minute_rollups x
             WHERE x.minute_us >= resumed.started_at_us - resumed.started_at_us % 60000000
               AND x.minute_us < resumed.resume_us
               AND x.run_id = resumed.id)
       END AS rolled_up_workflows,
       resumed.traces_deleted_before_us,
       resumed.rollups_deleted_before_us,
       (SELECT s.path FROM merge_sources s WHERE s.id = resumed.source_id) AS merged_from,
       resumed.origin
FROM resumed
ORDER BY resumed.id DESC
