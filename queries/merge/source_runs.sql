-- The runs of an input (attached as `src`), oldest first, each with its
-- origin and the run of OUT (main) that already holds it, if any.
--
-- The origin is a run's identity where it was recorded:
--   host|boot_id|pid_namespace|pid|process_start_ticks|started_at_us
-- (a missing part empty), or the origin it carries from an earlier merge.
-- OUT holds the run when one of its runs has that origin (a run merged
-- before: index runs_by_origin), or when a run recorded in OUT itself
-- (origin NULL) has that identity: a scan of OUT's runs, a small table,
-- narrowed to the same start time first.
-- Index: the primary key of src.runs (all of its rows); runs_by_origin.
WITH source AS (
    SELECT id, status, started_at_us,
           coalesce(origin,
                    host || '|' || coalesce(boot_id, '') || '|' || coalesce(pid_namespace, '') || '|'
                    || coalesce(pid, '') || '|' || coalesce(process_start_ticks, '') || '|'
                    || started_at_us) AS origin
    FROM src.runs
)
SELECT s.id,
       s.status,
       s.origin,
       coalesce((SELECT m.id FROM main.runs m WHERE m.origin = s.origin),
                (SELECT m.id FROM main.runs m
                  WHERE m.origin IS NULL
                    AND m.started_at_us = s.started_at_us
                    AND m.host || '|' || coalesce(m.boot_id, '') || '|' || coalesce(m.pid_namespace, '')
                        || '|' || coalesce(m.pid, '') || '|' || coalesce(m.process_start_ticks, '')
                        || '|' || m.started_at_us = s.origin
                  ORDER BY m.id
                  LIMIT 1)) AS out_run_id
FROM source s
ORDER BY s.id
