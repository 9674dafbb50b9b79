-- Events that ended per calendar minute for the minutes whose start lies in
-- [:window_start, :window_end), by terminal status, from the per-minute
-- rollups (one run, :run_id, or every run in the file when it is NULL): the same columns as
-- throughput_per_minute.sql, and equal to it for all runs on minute-aligned
-- windows, without reading raw events. Minutes without events are absent.
-- Index: the primary key of worker_minute_rollups starts with minute_us, so
-- the groups come out in order.
SELECT minute_us,
       sum(completed) AS completed,
       sum(failed)    AS failed,
       sum(timeout)   AS timeout,
       sum(cancelled) AS cancelled
FROM worker_minute_rollups
WHERE minute_us >= :window_start
  AND minute_us < :window_end
  AND (:run_id IS NULL OR run_id = :run_id)
GROUP BY minute_us
ORDER BY minute_us
