-- get_error_patterns for long windows: errors over [:window_start,
-- :window_end) grouped by type, the whole minutes [:rollup_start,
-- :rollup_end) from the error rollups (kept by the writer with the raw
-- rows, and after retention deletes them: whole hours from
-- error_hour_rollups, the other minutes from error_minute_rollups), the
-- partial minutes at the edges from raw events. Same definitions and
-- columns as error_patterns.sql; exact (counts, first and last seen, the
-- most recent example).
--
-- Parameters:
--   :window_start, :window_end  the window [start, end) in microseconds
--   :rollup_start, :rollup_end  the whole minutes read from the rollups
--                               (minute-aligned, inside or covering the window)
--   :run_id                     one run, or NULL for every run
--   :run_first, :run_last       that run's event id bounds, or the whole i64 range
--   :worker                     a worker's name, or '' for every worker
--
-- Index: the primary keys of error_hour_rollups and error_minute_rollups
-- (both start with the time); events_by_worker_finish for the two edges,
-- one range per worker; the primary keys of events and workflows for the
-- example.
WITH chosen AS MATERIALIZED (
    SELECT id FROM workers WHERE :worker = '' OR name = :worker
),
-- [h0, h1): the hours all of whose minutes lie in [:rollup_start,
-- :rollup_end) (none when h1 = h0), clamped to 1970..10000 so that "all
-- time" stays inside integer arithmetic.
hours AS MATERIALIZED (
    SELECT h0, max(h0, h1) AS h1
    FROM (SELECT ((max(:rollup_start, 0) + 3599999999) / 3600000000) * 3600000000 AS h0,
                 ((((min(:rollup_end, 253402300800000000) + 59999999) / 60000000) * 60000000)
                  / 3600000000) * 3600000000 AS h1)
),
errs AS MATERIALIZED (
    SELECT coalesce(e.error_type, e.status) AS error_type, e.worker_id,
           e.finished_at_us AS first_us, e.finished_at_us AS last_us, 1 AS n, e.id AS example_id
    FROM events AS e
    WHERE e.worker_id IN (SELECT id FROM chosen)
      AND e.finished_at_us >= :window_start
      AND e.finished_at_us < min(:rollup_start, :window_end)
      AND e.finished_at_us IS NOT NULL
      AND e.status IN ('failed', 'timeout')
      AND +e.id BETWEEN :run_first AND :run_last
    UNION ALL
    SELECT coalesce(e.error_type, e.status), e.worker_id, e.finished_at_us, e.finished_at_us, 1, e.id
    FROM events AS e
    WHERE e.worker_id IN (SELECT id FROM chosen)
      AND e.finished_at_us >= max(:rollup_end, :window_start)
      AND e.finished_at_us < :window_end
      AND e.finished_at_us IS NOT NULL
      AND e.status IN ('failed', 'timeout')
      AND +e.id BETWEEN :run_first AND :run_last
    UNION ALL
    -- Whole hours from error_hour_rollups (the sum of their minutes), the
    -- other whole minutes from error_minute_rollups: a day is 24 rows per
    -- type and worker. Each row keeps its own example, the event of its
    -- latest error, for `latest`.
    SELECT r.error_type, r.worker_id, r.first_seen_us, r.last_seen_us, r.count, r.example_id
    FROM hours CROSS JOIN error_hour_rollups AS r
    WHERE r.hour_us >= hours.h0
      AND r.hour_us < hours.h1
      AND (:run_id IS NULL OR r.run_id = :run_id)
      AND r.worker_id IN (SELECT id FROM chosen)
    UNION ALL
    SELECT r.error_type, r.worker_id, r.first_seen_us, r.last_seen_us, r.count, r.example_id
    FROM hours CROSS JOIN error_minute_rollups AS r
    WHERE r.minute_us >= :rollup_start
      AND r.minute_us < min(:rollup_end, hours.h0)
      AND (:run_id IS NULL OR r.run_id = :run_id)
      AND r.worker_id IN (SELECT id FROM chosen)
    UNION ALL
    SELECT r.error_type, r.worker_id, r.first_seen_us, r.last_seen_us, r.count, r.example_id
    FROM hours CROSS JOIN error_minute_rollups AS r
    WHERE r.minute_us >= max(:rollup_start, hours.h1)
      AND r.minute_us < :rollup_end
      AND (:run_id IS NULL OR r.run_id = :run_id)
      AND r.worker_id IN (SELECT id FROM chosen)
),
groups AS MATERIALIZED (
    SELECT errs.error_type,
           sum(errs.n)                             AS count,
           json_group_array(DISTINCT workers.name) AS workers,
           min(errs.first_us)                      AS first_seen_us,
           max(errs.last_us)                       AS last_seen_us
    FROM errs
    JOIN workers ON workers.id = errs.worker_id
    GROUP BY errs.error_type
),
latest AS MATERIALIZED (
    SELECT error_type, example_id
    FROM (SELECT error_type, example_id,
                 row_number() OVER (PARTITION BY error_type ORDER BY last_us DESC, example_id DESC) AS rn
          FROM errs)
    WHERE rn = 1
)
SELECT groups.error_type,
       groups.count,
       groups.workers,
       strftime('%Y-%m-%dT%H:%M:%S', groups.first_seen_us / 1000000, 'unixepoch') || printf('.%06dZ', groups.first_seen_us % 1000000) AS first_seen,
       strftime('%Y-%m-%dT%H:%M:%S', groups.last_seen_us / 1000000, 'unixepoch') || printf('.%06dZ', groups.last_seen_us % 1000000)  AS last_seen,
       example.error_message AS example,
       workflows.transaction_id AS example_transaction,
       groups.first_seen_us,
       groups.last_seen_us
FROM groups
JOIN latest ON latest.error_type = groups.error_type
LEFT JOIN events AS example ON example.id = latest.example_id
LEFT JOIN workflows ON workflows.id = example.workflow_id
ORDER BY groups.count DESC, groups.error_type;
