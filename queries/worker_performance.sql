-- get_worker_performance: one worker's executions over a time window.
--
-- Parameters:
--   :worker                     the worker's name
--   :window_start, :window_end  the window [start, end) in microseconds
--   :run_first, :run_last       event id bounds of one run, or the whole i64 range for all runs
--
-- An execution is one call of the worker that ended inside the window: every
-- event of the worker, commands and compensations alike (a compensation
-- worker's calls are its executions; counting them also keeps this query on
-- the covering index, which has no event_type).
--   success_rate = completed / total x 100
--   error_rate   = (failed + timeout) / total x 100; cancelled counts in the
--                  total only.
-- Durations are the worker's own time (duration_us). Percentiles are
-- nearest-rank: the value at 1-based rank ceil(p n / 100) of the sorted
-- durations, written (p n + 99) / 100 in integer arithmetic (no ceil() in
-- some sqlite3 shells), read with ORDER BY ... LIMIT 1 OFFSET rank - 1.
-- worker_known is 0 when no worker has that name (the caller reports it).
-- last_finished_us is the worker's latest end at or before :window_end, at
-- any earlier time (for the inactivity rule of the health check).
--
-- Index: events_by_worker_finish (worker_id, finished_at_us, duration_us,
-- status) covers every column read here: nothing is read from the table.
WITH worker AS MATERIALIZED (
    SELECT id FROM workers WHERE name = :worker
),
agg AS MATERIALIZED (
    SELECT count(*)                                AS total_executions,
           coalesce(sum(status = 'completed'), 0)  AS completed,
           coalesce(sum(status = 'failed'), 0)     AS failed,
           coalesce(sum(status = 'timeout'), 0)    AS timeout,
           coalesce(sum(status = 'cancelled'), 0)  AS cancelled,
           coalesce(sum(duration_us), 0)           AS duration_sum_us
    FROM events
    WHERE worker_id = (SELECT id FROM worker)
      AND finished_at_us >= :window_start
      AND finished_at_us < :window_end
      AND finished_at_us IS NOT NULL
      AND +id BETWEEN :run_first AND :run_last
)
SELECT (SELECT count(*) FROM worker) AS worker_known,
       agg.total_executions,
       agg.completed,
       agg.failed,
       agg.timeout,
       agg.cancelled,
       agg.duration_sum_us,
       (SELECT duration_us FROM events
        WHERE worker_id = (SELECT id FROM worker)
          AND finished_at_us >= :window_start AND finished_at_us < :window_end
          AND finished_at_us IS NOT NULL
          AND +id BETWEEN :run_first AND :run_last
        ORDER BY duration_us
        LIMIT 1 OFFSET (SELECT max((50 * total_executions + 99) / 100 - 1, 0) FROM agg)) AS p50_duration_us,
       (SELECT duration_us FROM events
        WHERE worker_id = (SELECT id FROM worker)
          AND finished_at_us >= :window_start AND finished_at_us < :window_end
          AND finished_at_us IS NOT NULL
          AND +id BETWEEN :run_first AND :run_last
        ORDER BY duration_us
        LIMIT 1 OFFSET (SELECT max((95 * total_executions + 99) / 100 - 1, 0) FROM agg)) AS p95_duration_us,
       (SELECT duration_us FROM events
        WHERE worker_id = (SELECT id FROM worker)
          AND finished_at_us >= :window_start AND finished_at_us < :window_end
          AND finished_at_us IS NOT NULL
          AND +id BETWEEN :run_first AND :run_last
        ORDER BY duration_us
        LIMIT 1 OFFSET (SELECT max((99 * total_executions + 99) / 100 - 1, 0) FROM agg)) AS p99_duration_us,
       (SELECT finished_at_us FROM events
        WHERE worker_id = (SELECT id FROM worker)
          AND finished_at_us <= :window_end
          AND finished_at_us IS NOT NULL
          AND +id BETWEEN :run_first AND :run_last
        ORDER BY finished_at_us DESC
        LIMIT 1) AS last_finished_us
FROM agg;
