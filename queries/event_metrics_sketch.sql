-- get_event_metrics for long windows: what happened to events over
-- [:window_start, :window_end), counts, rates, mean and peak exact, the p95
-- latency within 1 % of the exact nearest-rank value
-- (migrations/0005_sketches.sql). Same definitions as event_metrics.sql.
--
-- Parameters (as worker_performance_sketch.sql):
--   :window_start, :window_end  the window [start, end) in microseconds
--   :sketch_start, :sketch_end  the whole minutes read from rollups and
--                               sketches (minute-aligned)
--   :run_id                     one run, or NULL for every run
--   :run_first, :run_last       that run's event id bounds, or the whole i64 range
--
-- The parts, which never overlap: raw events for the partial minutes at
-- the edges and for the minutes a live run has not added to its sketches
-- yet; for the rest, per run, counts from the worker rollups and latencies
-- from the worker sketches summed over workers (whole hours from
-- worker_hour_rollups and worker_hour_sketch). The peak is the busiest
-- calendar minute, raw and rollup counts of one minute added together.
--
-- Index: the primary keys of worker_hour_sketch, worker_minute_sketch,
-- worker_hour_rollups and worker_minute_rollups (all start with the time),
-- or worker_hour_sketch_by_run for one run over most of its life; raw rows
-- through events_by_worker_finish, one range per worker and part (latency
-- reads dispatched_at_us from the table); sketch_buckets' unique upper_us
-- for a raw latency's bucket.
WITH span AS MATERIALIZED (
    SELECT :sketch_start AS m0,
           :sketch_end AS m1,
           ((:sketch_start + 3599999999) / 3600000000) * 3600000000 AS h0,
           (:sketch_end / 3600000000) * 3600000000 AS h1
),
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
    SELECT min(span.h0, span.m1) AS a_end,
           max(min(span.h0, span.m1), coalesce(min(cover.e), span.m1)) AS b_start,
           coalesce(min(cover.u), span.m1) AS raw_from,
           -- One run asked about most of its life (its report, `query
           -- --run`): its hour rows are read in the order of
           -- worker_hour_sketch_by_run and grouped as they are read, instead
           -- of sorting the window's rows. Only the speed depends on it.
           coalesce((SELECT 2 * (span.h1 - span.h0) >= coalesce(r.ended_at_us, :window_end) - r.started_at_us
                     FROM runs r WHERE r.id = :run_id), 0) AS by_run
    FROM span LEFT JOIN cover ON 1
),
raw AS MATERIALIZED (
    SELECT e.event_type, e.status, e.finished_at_us, e.finished_at_us - e.dispatched_at_us AS latency_us
    FROM events e
    WHERE e.worker_id IN (SELECT id FROM workers)
      AND e.finished_at_us >= :window_start AND e.finished_at_us < min((SELECT m0 FROM span), :window_end)
      AND e.finished_at_us IS NOT NULL
      AND +e.id BETWEEN :run_first AND :run_last
    UNION ALL
    SELECT e.event_type, e.status, e.finished_at_us, e.finished_at_us - e.dispatched_at_us
    FROM events e
    WHERE e.worker_id IN (SELECT id FROM workers)
      AND e.finished_at_us >= max((SELECT raw_from FROM limits), (SELECT m0 FROM span)) AND e.finished_at_us < (SELECT m1 FROM span)
      AND e.finished_at_us IS NOT NULL
      AND +e.id BETWEEN :run_first AND :run_last
      AND e.finished_at_us >= (SELECT cover.u FROM cover WHERE cover.run_id = e.id >> 40)
    UNION ALL
    SELECT e.event_type, e.status, e.finished_at_us, e.finished_at_us - e.dispatched_at_us
    FROM events e
    WHERE e.worker_id IN (SELECT id FROM workers)
      AND e.finished_at_us >= max((SELECT m1 FROM span), :window_start) AND e.finished_at_us < :window_end
      AND e.finished_at_us IS NOT NULL
      AND +e.id BETWEEN :run_first AND :run_last
),
-- Counts in the same parts as the sketches: whole hours, then minutes.
rolled AS (
    SELECT r.event_type, r.completed, r.failed, r.timeout, r.cancelled, r.latency_sum_us, r.latency_max_us,
           r.completed + r.failed + r.timeout + r.cancelled AS total
    FROM worker_hour_rollups r CROSS JOIN cover
    WHERE cover.run_id = r.run_id AND r.hour_us >= (SELECT h0 FROM span) AND r.hour_us < (SELECT h1 FROM span) AND r.hour_us < cover.e
    UNION ALL
    SELECT r.event_type, r.completed, r.failed, r.timeout, r.cancelled, r.latency_sum_us, r.latency_max_us,
           r.completed + r.failed + r.timeout + r.cancelled
    FROM worker_minute_rollups r CROSS JOIN cover
    WHERE cover.run_id = r.run_id AND r.minute_us >= (SELECT m0 FROM span) AND r.minute_us < (SELECT a_end FROM limits) AND r.minute_us < cover.u
    UNION ALL
    SELECT r.event_type, r.completed, r.failed, r.timeout, r.cancelled, r.latency_sum_us, r.latency_max_us,
           r.completed + r.failed + r.timeout + r.cancelled
    FROM worker_minute_rollups r CROSS JOIN cover
    WHERE cover.run_id = r.run_id AND r.minute_us >= (SELECT b_start FROM limits) AND r.minute_us < (SELECT m1 FROM span) AND r.minute_us >= cover.e AND r.minute_us < cover.u
),
-- Events per calendar minute, for the peak: every minute of the rollup
-- part summed as the primary key orders it (no sort), then added to the
-- raw events of the same minute (a live run's latest minutes are raw
-- while another run's same minutes are in the rollups).
per_minute AS (
    SELECT r.minute_us, sum(r.completed + r.failed + r.timeout + r.cancelled) AS n
    FROM worker_minute_rollups r CROSS JOIN cover
    WHERE cover.run_id = r.run_id AND r.minute_us >= (SELECT m0 FROM span) AND r.minute_us < (SELECT m1 FROM span) AND r.minute_us < cover.u
    GROUP BY r.minute_us
    UNION ALL
    SELECT (finished_at_us / 60000000) * 60000000, count(*)
    FROM raw
    GROUP BY 1
),
-- Each part summed per bucket as it is read (a sort fed by the table
-- itself), then the parts added up in `ranked`.
buckets AS (
    SELECT k.key, sum(k.latencies) AS n
    FROM worker_hour_sketch k INDEXED BY worker_hour_sketch_by_run
    WHERE (SELECT by_run FROM limits) AND k.run_id = :run_id
      AND k.hour_us >= (SELECT h0 FROM span) AND k.hour_us < (SELECT h1 FROM span)
      AND k.hour_us < (SELECT cover.e FROM cover WHERE cover.run_id = :run_id) AND k.latencies > 0
    GROUP BY k.worker_id, k.key
    UNION ALL
    SELECT k.key, sum(k.latencies)
    FROM worker_hour_sketch k CROSS JOIN cover
    WHERE NOT (SELECT by_run FROM limits)
      AND cover.run_id = k.run_id AND k.hour_us >= (SELECT h0 FROM span) AND k.hour_us < (SELECT h1 FROM span) AND k.hour_us < cover.e AND k.latencies > 0
    GROUP BY k.key
    UNION ALL
    SELECT k.key, sum(k.latencies)
    FROM worker_minute_sketch k CROSS JOIN cover
    WHERE cover.run_id = k.run_id AND k.minute_us >= (SELECT m0 FROM span) AND k.minute_us < (SELECT a_end FROM limits) AND k.minute_us < cover.u AND k.latencies > 0
    GROUP BY k.key
    UNION ALL
    SELECT k.key, sum(k.latencies)
    FROM worker_minute_sketch k CROSS JOIN cover
    WHERE cover.run_id = k.run_id AND k.minute_us >= (SELECT b_start FROM limits) AND k.minute_us < (SELECT m1 FROM span) AND k.minute_us >= cover.e AND k.minute_us < cover.u
      AND k.latencies > 0
    GROUP BY k.key
    UNION ALL
    SELECT (SELECT b.key FROM sketch_buckets b WHERE b.upper_us >= raw.latency_us ORDER BY b.upper_us LIMIT 1), count(*)
    FROM raw
    GROUP BY 1
),
ranked AS (
    SELECT key,
           sum(n) OVER (ORDER BY key ROWS UNBOUNDED PRECEDING) AS cum,
           sum(n) OVER () AS n
    FROM (SELECT key, sum(n) AS n FROM buckets GROUP BY key)
),
agg AS MATERIALIZED (
    SELECT coalesce(sum(total), 0)                                              AS total_events,
           coalesce(sum(CASE WHEN event_type = 'command' THEN total END), 0)      AS commands,
           coalesce(sum(CASE WHEN event_type = 'compensation' THEN total END), 0) AS compensations,
           coalesce(sum(completed), 0)                                          AS completed,
           coalesce(sum(failed), 0)                                             AS failed,
           coalesce(sum(timeout), 0)                                            AS timeout,
           coalesce(sum(cancelled), 0)                                          AS cancelled,
           coalesce(sum(latency_sum_us), 0)                                     AS latency_sum_us,
           max(latency_max_us)                                                  AS latency_max_us
    FROM (
        SELECT event_type, completed, failed, timeout, cancelled, latency_sum_us, latency_max_us, total
        FROM rolled
        UNION ALL
        SELECT event_type, status = 'completed', status = 'failed', status = 'timeout',
               status = 'cancelled', latency_us, latency_us, 1
        FROM raw
    )
)
SELECT agg.total_events,
       agg.commands,
       agg.compensations,
       agg.completed,
       agg.failed,
       agg.timeout,
       agg.cancelled,
       agg.latency_sum_us,
       agg.latency_max_us,
       (SELECT b.value_us FROM sketch_buckets b
        WHERE b.key = (SELECT min(key) FROM ranked WHERE cum >= max((95 * n + 99) / 100, 1))) AS p95_latency_us,
       coalesce((SELECT max(n) FROM (SELECT sum(n) AS n FROM per_minute GROUP BY minute_us)), 0)
         AS peak_per_minute
FROM agg;
