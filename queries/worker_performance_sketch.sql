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
--     worker_minute_rollups;
--   - the minutes [u, sketch_end) a live run has not added yet, from raw
--     events.
-- A percentile is the representative value of the first bucket whose
-- running count reaches the nearest rank ceil(p n / 100), written
-- (p n + 99) / 100 in integer arithmetic.
--
-- Index: the primary keys of worker_hour_sketch, worker_minute_sketch and
-- worker_minute_rollups (all start with the time); raw rows through
-- events_by_worker_finish (worker_id, finished_at_us, duration_us, status),
-- one range per worker and part, covering; sketch_buckets' unique upper_us
-- for a raw duration's bucket.
WITH span AS MATERIALIZED (
    SELECT :sketch_start AS m0,
           :sketch_end AS m1,
           ((:sketch_start + 3599999999) / 3600000000) * 3600000000 AS h0,
           (:sketch_end / 3600000000) * 3600000000 AS h1
),
-- Per run: sketched minutes [m0, u); whole hours [h0, e) from the hour table.
cover AS MATERIALIZED (
    SELECT r.id AS run_id, c.u,
           max(s.h0, min(s.h1, (c.u / 3600000000) * 3600000000)) AS e
    FROM runs r
    JOIN (SELECT r2.id, min(s2.m1, max(s2.m0, coalesce(r2.sketched_until_us, s2.m1))) AS u
          FROM runs r2, span s2) c ON c.id = r.id
    CROSS JOIN span s
    WHERE :run_id IS NULL OR r.id = :run_id
),
limits AS MATERIALIZED (
    SELECT min(s.h0, s.m1) AS a_end,                        -- minutes before the first whole hour
           max(min(s.h0, s.m1), coalesce(min(c.e), s.m1)) AS b_start,  -- minutes after the last used hour
           coalesce(min(c.u), s.m1) AS raw_from             -- the earliest minute a run has not sketched
    FROM span s LEFT JOIN cover c ON 1
),
chosen AS MATERIALIZED (
    SELECT id FROM workers WHERE :worker = '' OR name = :worker
),
raw AS MATERIALIZED (
    SELECT e.worker_id, e.status, e.duration_us
    FROM events e, span s
    WHERE e.worker_id IN (SELECT id FROM chosen)
      AND e.finished_at_us >= :window_start AND e.finished_at_us < min(s.m0, :window_end)
      AND e.finished_at_us IS NOT NULL
      AND +e.id BETWEEN :run_first AND :run_last
    UNION ALL
    SELECT e.worker_id, e.status, e.duration_us
    FROM events e, span s, limits l
    WHERE e.worker_id IN (SELECT id FROM chosen)
      AND e.finished_at_us >= max(l.raw_from, s.m0) AND e.finished_at_us < s.m1
      AND e.finished_at_us IS NOT NULL
      AND +e.id BETWEEN :run_first AND :run_last
      AND e.finished_at_us >= (SELECT c.u FROM cover c WHERE c.run_id = e.id >> 40)
    UNION ALL
    SELECT e.worker_id, e.status, e.duration_us
    FROM events e, span s
    WHERE e.worker_id IN (SELECT id FROM chosen)
      AND e.finished_at_us >= max(s.m1, :window_start) AND e.finished_at_us < :window_end
      AND e.finished_at_us IS NOT NULL
      AND +e.id BETWEEN :run_first AND :run_last
),
buckets AS (
    SELECT k.worker_id, k.key, k.durations AS n
    FROM worker_hour_sketch k, span s JOIN cover c ON c.run_id = k.run_id
    WHERE k.hour_us >= s.h0 AND k.hour_us < s.h1 AND k.hour_us < c.e
      AND k.worker_id IN (SELECT id FROM chosen) AND k.durations > 0
    UNION ALL
    SELECT k.worker_id, k.key, k.durations
    FROM worker_minute_sketch k, span s, limits l JOIN cover c ON c.run_id = k.run_id
    WHERE k.minute_us >= s.m0 AND k.minute_us < l.a_end AND k.minute_us < c.u
      AND k.worker_id IN (SELECT id FROM chosen) AND k.durations > 0
    UNION ALL
    SELECT k.worker_id, k.key, k.durations
    FROM worker_minute_sketch k, span s, limits l JOIN cover c ON c.run_id = k.run_id
    WHERE k.minute_us >= l.b_start AND k.minute_us < s.m1 AND k.minute_us >= c.e AND k.minute_us < c.u
      AND k.worker_id IN (SELECT id FROM chosen) AND k.durations > 0
    UNION ALL
    SELECT worker_id,
           (SELECT b.key FROM sketch_buckets b WHERE b.upper_us >= raw.duration_us ORDER BY b.upper_us LIMIT 1),
           1
    FROM raw
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
        SELECT r.worker_id, r.completed, r.failed, r.timeout, r.cancelled, r.duration_sum_us
        FROM worker_minute_rollups r, span s JOIN cover c ON c.run_id = r.run_id
        WHERE r.minute_us >= s.m0 AND r.minute_us < s.m1 AND r.minute_us < c.u
          AND r.worker_id IN (SELECT id FROM chosen)
        UNION ALL
        SELECT worker_id, status = 'completed', status = 'failed', status = 'timeout',
               status = 'cancelled', duration_us
        FROM raw
    )
    GROUP BY worker_id
)
SELECT w.name AS worker,
       n.completed + n.failed + n.timeout + n.cancelled AS total_executions,
       n.completed, n.failed, n.timeout, n.cancelled, n.duration_sum_us,
       b50.value_us AS p50_duration_us,
       b95.value_us AS p95_duration_us,
       b99.value_us AS p99_duration_us,
       (SELECT e.finished_at_us FROM events e
        WHERE e.worker_id = n.worker_id
          AND e.finished_at_us <= :window_end
          AND e.finished_at_us IS NOT NULL
          AND +e.id BETWEEN :run_first AND :run_last
        ORDER BY e.finished_at_us DESC
        LIMIT 1) AS last_finished_us
FROM counts n
JOIN workers w ON w.id = n.worker_id
LEFT JOIN pct p ON p.worker_id = n.worker_id
LEFT JOIN sketch_buckets b50 ON b50.key = p.k50
LEFT JOIN sketch_buckets b95 ON b95.key = p.k95
LEFT JOIN sketch_buckets b99 ON b99.key = p.k99
WHERE n.completed + n.failed + n.timeout + n.cancelled > 0
ORDER BY w.name;
