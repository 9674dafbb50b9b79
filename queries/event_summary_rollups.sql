-- Event metrics for long windows from the per-minute rollups
-- (worker_minute_rollups, kept by the writer and retained longer than raw
-- events), instead of reading every raw event.
--
-- Parameters:
--   :window_start, :window_end  the window [start, end) in microseconds
--   :run_id                     one run, or NULL for every run
--
-- A minute counts when its start lies in [window_start, window_end): the
-- counts, rates and average latency equal get_event_metrics exactly when
-- both ends are minute-aligned; otherwise the partial minutes at the ends
-- are shifted to whole minutes. Rollup rows carry their run (version 3), so
-- one run's figures are its own. They hold no percentiles (those are exact
-- from raw rows in event_metrics.sql, or estimated from
-- event_latency_histogram_rollups.sql). Same definitions as
-- event_metrics.sql: success = completed; error = failed + timeout;
-- cancelled counts in the total only; latency is dispatch -> terminal;
-- peak is the busiest calendar minute.
--
-- Index: the primary key of worker_minute_rollups starts with minute_us.
WITH minutes AS MATERIALIZED (
    SELECT minute_us, event_type, completed, failed, timeout, cancelled, latency_sum_us, latency_max_us,
           completed + failed + timeout + cancelled AS total
    FROM worker_minute_rollups
    WHERE minute_us >= :window_start
      AND minute_us < :window_end
      AND (:run_id IS NULL OR run_id = :run_id)
)
SELECT coalesce(sum(total), 0)                                              AS total_events,
       coalesce(sum(CASE WHEN event_type = 'command' THEN total END), 0)      AS commands,
       coalesce(sum(CASE WHEN event_type = 'compensation' THEN total END), 0) AS compensations,
       coalesce(sum(completed), 0)                                          AS completed,
       coalesce(sum(failed), 0)                                             AS failed,
       coalesce(sum(timeout), 0)                                            AS timeout,
       coalesce(sum(cancelled), 0)                                          AS cancelled,
       coalesce(sum(latency_sum_us), 0)                                     AS latency_sum_us,
       max(latency_max_us)                                                  AS latency_max_us,
       coalesce((SELECT max(n) FROM (SELECT sum(total) AS n FROM minutes GROUP BY minute_us)), 0)
           AS peak_per_minute
FROM minutes;
