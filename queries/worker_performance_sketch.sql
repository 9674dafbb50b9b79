-- get_worker_performance for long windows: each worker's executions over
-- [:window_start, :window_end), counts exact, p50/p95/p99 durations within
-- 1 % of the exact nearest-rank values (migrations/0005_sketches.sql).
--
-- Parameters:
--   :window_start, :window_end  the window [start, end) in microseconds
--   :sketch_start, :sketch_end  the whole minutes read from rollups and
--                               sketches: minute-aligned, normally the first
--                               minute start at or after :window_start and
--                               the last at or before :window_end
--   :run_id                     one run, or NULL for every run
--   :run_first, :run_last       that run's event id bounds, or the whole i64 range
--   :worker                     one worker's name, or '' for every worker
--
-- The window is read in parts that never overlap, so no execution counts
-- twice at a minute boundary:
--   - the partial minutes at the edges, [window_start, sketch_start) and
--     [sketch_end, window_end), from raw events, each duration put in its
--     sketch bucket here (exact counts, percentiles through the buckets);
--   - for each run, the whole minutes [sketch_start, u) its writer has
--     already added to the sketches (u = its sketched_until_us, or
--     sketch_end when complete): whole hours from worker_hour_sketch, the
--     other minutes from worker_minute_sketch, counts from
--     worker_hour_rollups and worker_minute_rollups alike;
--   - the minutes [u, sketch_end) a live run has not added yet, from raw
--     events.
-- A percentile is the representative value of the first bucket whose
-- running count reaches the nearest rank ceil(p n / 100), written
-- (p n + 99) / 100 in integer arithmetic.
--
-- Index: the primary keys of worker_hour_sketch, worker_minute_sketch,
-- worker_hour_rollups and worker_minute_rollups (all start with the time),
-- or worker_hour_sketch_by_run for one run over most of its life; raw rows
-- through events_by_worker_finish (worker_id, finished_at_us, duration_us,
-- status), one range per worker and part, covering; sketch_buckets' unique
-- upper_us for a raw duration's bucket.
WITH span AS MATERIALIZED (
    SELECT :sketch_start AS m0,
           :sketch_end AS m1,
           ((:sketch_start + 3599999999) / 3600000000) * 3600000000 AS h0,
           (:sketch_end / 3600000000) * 3600000000 AS h1
),
-- Per run: sketched minutes [m0, u); whole hours [h0, e) from the hour table.
unsketched AS MATERIALIZED (
    SELECT runs.id AS run_id,
           min(span.m1, max(span.m0, coalesce(runs.sketched_until_us, span.m1))) AS u
    FROM runs, span
    WHERE :run_id IS NULL OR runs.id = :run_id
    UNION ALL
    -- Rollup rows of no run (run 0, minutes several runs shared before
    -- version 4) count for every run; they have no sketches.
    SELECT 0, span.m1 FROM span WHERE :run_id IS NULL
),
cover AS MATERIALIZED (
    SELECT unsketched.run_id, unsketched.u,
           max(span.h0, min(span.h1, (unsketched.u / 3600000000) * 3600000000)) AS e
    FROM unsketched, span
),
limits AS MATERIALIZED (
    SELECT min(span.h0, span.m1) AS a_end,                              -- minutes before the first whole hour
           max(min(span.h0, span.m1), coalesce(min(cover.e), span.m1)) AS b_start,  -- minutes after the last used hour
           coalesce(min(cover.u), span.m1) AS raw_from,                 -- the earliest minute a run has not sketched
           -- One run asked about most of its life (its report, `query
           -- --run`): its hour rows are read in the order of
           -- worker_hour_sketch_by_run and grouped as they are read, instead
           -- of sorting the window's rows. Only the speed depends on it.
           coalesce((SELECT 2 * (span.h1 - span.h0) >= coalesce(r.ended_at_us, :window_end) - r.started_at_us
                     FROM runs r WHERE r.id = :run_id), 0) AS by_run
    FROM span LEFT JOIN cover ON 1
),
chosen AS MATERIALIZED (
    SELECT id FROM workers WHERE :worker = '' OR name = :worker
),
raw AS MATERIALIZED (
    SELECT e.worker_id, e.status, e.duration_us
    FROM events e
    WHERE e.worker_id IN (SELECT id FROM chosen)
      AND e.finished_at_us >= :window_start AND e.finished_at_us < min((SELECT m0 FROM span), :window_end)
      AND e.finished_at_us IS NOT NULL
      AND +e.id BETWEEN :run_first AND :run_last
    UNION ALL
    SELECT e.worker_id, e.status, e.duration_us
    FROM events e
    WHERE e.worker_id IN (SELECT id FROM chosen)
      AND e.finished_at_us >= max((SELECT raw_from FROM limits), (SELECT m0 FROM span)) AND e.finished_at_us < (SELECT m1 FROM span)
      AND e.finished_at_us IS NOT NULL
      AND +e.id BETWEEN :run_first AND :run_last
      AND e.finished_at_us >= (SELECT cover.u FROM cover WHERE cover.run_id = e.id >> 40)
    UNION ALL
    SELECT e.worker_id, e.status, e.duration_us
    FROM events e
    WHERE e.worker_id IN (SELECT id FROM chosen)
      AND e.finished_at_us >= max((SELECT m1 FROM span), :window_start) AND e.finished_at_us < :window_end
      AND e.finished_at_us IS NOT NULL
      AND +e.id BETWEEN :run_first AND :run_last
),
-- The raw executions by worker, sketch bucket and status: one pass (one
-- sort) gives both their buckets and their counts.
raw_keys AS MATERIALIZED (
    SELECT worker_id,
           (SELECT b.key FROM sketch_buckets b WHERE b.upper_us >= raw.duration_us ORDER BY b.upper_us LIMIT 1) AS key,
           status, count(*) AS n, sum(duration_us) AS duration_sum_us
    FROM raw
    GROUP BY 1, 2, 3
),
-- Each part summed per worker and bucket as it is read (a sort fed by the
-- table itself), then the parts added up in `merged`.
buckets AS (
    SELECT k.worker_id, k.key, sum(k.durations) AS n
    FROM worker_hour_sketch k INDEXED BY worker_hour_sketch_by_run
    WHERE (SELECT by_run FROM limits) AND k.run_id = :run_id
      AND k.hour_us >= (SELECT h0 FROM span) AND k.hour_us < (SELECT h1 FROM span)
      AND k.hour_us < (SELECT cover.e FROM cover WHERE cover.run_id = :run_id)
      AND k.worker_id IN (SELECT id FROM chosen) AND k.durations > 0
    GROUP BY k.worker_id, k.key
    UNION ALL
    SELECT k.worker_id, k.key, sum(k.durations)
    FROM worker_hour_sketch k CROSS JOIN cover
    WHERE NOT (SELECT by_run FROM limits)
      AND cover.run_id = k.run_id AND k.hour_us >= (SELECT h0 FROM span) AND k.hour_us < (SELECT h1 FROM span) AND k.hour_us < cover.e
      AND k.worker_id IN (SELECT id FROM chosen) AND k.durations > 0
    GROUP BY k.worker_id, k.key
    UNION ALL
    SELECT k.worker_id, k.key, sum(k.durations)
    FROM worker_minute_sketch k CROSS JOIN cover
    WHERE cover.run_id = k.run_id AND k.minute_us >= (SELECT m0 FROM span) AND k.minute_us < (SELECT a_end FROM limits) AND k.minute_us < cover.u
      AND k.worker_id IN (SELECT id FROM chosen) AND k.durations > 0
    GROUP BY k.worker_id, k.key
    UNION ALL
    SELECT k.worker_id, k.key, sum(k.durations)
    FROM worker_minute_sketch k CROSS JOIN cover
    WHERE cover.run_id = k.run_id AND k.minute_us >= (SELECT b_start FROM limits) AND k.minute_us < (SELECT m1 FROM span) AND k.minute_us >= cover.e AND k.minute_us < cover.u
      AND k.worker_id IN (SELECT id FROM chosen) AND k.durations > 0
    GROUP BY k.worker_id, k.key
    UNION ALL
    SELECT worker_id, key, n
    FROM raw_keys
),
merged AS (
    SELECT worker_id, key, sum(n) AS n FROM buckets GROUP BY worker_id, key
),
ranked AS (
    SELECT worker_id, key,
           sum(n) OVER (PARTITION BY worker_id ORDER BY key ROWS UNBOUNDED PRECEDING) AS cum,
           sum(n) OVER (PARTITION BY worker_id) AS n
    FROM merged
),
pct AS (
    SELECT worker_id,
           min(CASE WHEN cum >= max((50 * n + 99) / 100, 1) THEN key END) AS k50,
           min(CASE WHEN cum >= max((95 * n + 99) / 100, 1) THEN key END) AS k95,
           min(CASE WHEN cum >= max((99 * n + 99) / 100, 1) THEN key END) AS k99
    FROM ranked
    GROUP BY worker_id
),
counts AS (
    SELECT worker_id,
           sum(completed) AS completed, sum(failed) AS failed, sum(timeout) AS timeout,
           sum(cancelled) AS cancelled, sum(duration_sum_us) AS duration_sum_us
    FROM (
        -- The same parts as the sketches: whole hours, then minutes.
        SELECT r.worker_id, r.completed, r.failed, r.timeout, r.cancelled, r.duration_sum_us
        FROM worker_hour_rollups r CROSS JOIN cover
        WHERE cover.run_id = r.run_id AND r.hour_us >= (SELECT h0 FROM span) AND r.hour_us < (SELECT h1 FROM span) AND r.hour_us < cover.e
          AND r.worker_id IN (SELECT id FROM chosen)
        UNION ALL
        SELECT r.worker_id, r.completed, r.failed, r.timeout, r.cancelled, r.duration_sum_us
        FROM worker_minute_rollups r CROSS JOIN cover
        WHERE cover.run_id = r.run_id AND r.minute_us >= (SELECT m0 FROM span) AND r.minute_us < (SELECT a_end FROM limits) AND r.minute_us < cover.u
          AND r.worker_id IN (SELECT id FROM chosen)
        UNION ALL
        SELECT r.worker_id, r.completed, r.failed, r.timeout, r.cancelled, r.duration_sum_us
        FROM worker_minute_rollups r CROSS JOIN cover
        WHERE cover.run_id = r.run_id AND r.minute_us >= (SELECT b_start FROM limits) AND r.minute_us < (SELECT m1 FROM span) AND r.minute_us >= cover.e AND r.minute_us < cover.u
          AND r.worker_id IN (SELECT id FROM chosen)
        UNION ALL
        SELECT worker_id, n * (status = 'completed'), n * (status = 'failed'), n * (status = 'timeout'),
               n * (status = 'cancelled'), duration_sum_us
        FROM raw_keys
    )
    GROUP BY worker_id
)
SELECT workers.name AS worker,
       counts.completed + counts.failed + counts.timeout + counts.cancelled AS total_executions,
       counts.completed, counts.failed, counts.timeout, counts.cancelled, counts.duration_sum_us,
       b50.value_us AS p50_duration_us,
       b95.value_us AS p95_duration_us,
       b99.value_us AS p99_duration_us,
       (SELECT e.finished_at_us FROM events e
        WHERE e.worker_id = counts.worker_id
          AND e.finished_at_us <= :window_end
          AND e.finished_at_us IS NOT NULL
          AND +e.id BETWEEN :run_first AND :run_last
        ORDER BY e.finished_at_us DESC
        LIMIT 1) AS last_finished_us
FROM counts
JOIN workers ON workers.id = counts.worker_id
LEFT JOIN pct p ON p.worker_id = counts.worker_id
LEFT JOIN sketch_buckets b50 ON b50.key = p.k50
LEFT JOIN sketch_buckets b95 ON b95.key = p.k95
LEFT JOIN sketch_buckets b99 ON b99.key = p.k99
WHERE counts.completed + counts.failed + counts.timeout + counts.cancelled > 0
ORDER BY workers.name;
