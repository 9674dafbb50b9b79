-- get_event_metrics: what happened to events over a time window.
--
-- Parameters:
--   :window_start, :window_end  the window [start, end) in microseconds
--   :run_first, :run_last       event id bounds of one run (IdAllocator::run_range),
--                               or -9223372036854775808 / 9223372036854775807 for all runs
--
-- What counts: every event (command or compensation) whose terminal stage
-- (completed, failed, timeout, cancelled) lies inside the window. In-flight
-- events have not finished and are not counted.
--   success_rate = completed / total x 100
--   error_rate   = (failed + timeout) / total x 100
-- cancelled events count in the total but in neither rate: a cancellation is
-- the caller's decision, neither the worker's success nor its failure.
-- Latency is dispatch -> terminal (finished_at_us - dispatched_at_us).
-- p95 is nearest-rank: the value at 1-based rank ceil(95 n / 100) of the
-- sorted latencies, written (95 n + 99) / 100 in integer arithmetic because
-- the sqlite3 shell may lack ceil().
-- peak is the number of events in the busiest calendar minute (the same
-- buckets as worker_minute_rollups) that overlaps the window.
--
-- Index: events_by_worker_finish, one range per worker (the IN list). The
-- `finished_at_us IS NOT NULL` term lets the partial index be used; the `+`
-- on id keeps the planner from scanning the rowid range of "all runs".
WITH win AS MATERIALIZED (
    SELECT e.event_type,
           e.status,
           e.finished_at_us,
           e.finished_at_us - e.dispatched_at_us AS latency_us
    FROM events AS e
    WHERE e.worker_id IN (SELECT id FROM workers)
      AND e.finished_at_us >= :window_start
      AND e.finished_at_us < :window_end
      AND e.finished_at_us IS NOT NULL
      AND +e.id BETWEEN :run_first AND :run_last
),
agg AS MATERIALIZED (
    SELECT count(*)                                     AS total_events,
           coalesce(sum(event_type = 'command'), 0)      AS commands,
           coalesce(sum(event_type = 'compensation'), 0) AS compensations,
           coalesce(sum(status = 'completed'), 0)        AS completed,
           coalesce(sum(status = 'failed'), 0)           AS failed,
           coalesce(sum(status = 'timeout'), 0)          AS timeout,
           coalesce(sum(status = 'cancelled'), 0)        AS cancelled,
           coalesce(sum(latency_us), 0)                  AS latency_sum_us,
           max(latency_us)                               AS latency_max_us
    FROM win
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
       (SELECT latency_us FROM win
        ORDER BY latency_us
        LIMIT 1 OFFSET (SELECT max((95 * total_events + 99) / 100 - 1, 0) FROM agg)) AS p95_latency_us,
       coalesce((SELECT max(n) FROM (SELECT count(*) AS n FROM win GROUP BY finished_at_us / 60000000)), 0)
           AS peak_per_minute
FROM agg;
