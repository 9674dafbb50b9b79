-- Executions per worker and event type over the minutes whose start lies in
-- [:window_start, :window_end), from the rollups of one run (:run_id), or
-- of every run in the file when it is NULL, and still there after
-- retention deleted the raw events. The Prometheus counters
-- (multiagents_events_total, multiagents_worker_executions_total) and the
-- histogram's _sum and _count.
--
-- Read as worker_histogram_rollups.sql reads the histogram (the same whole
-- hours from worker_hour_rollups, the other minutes from
-- worker_minute_rollups), so the histogram's buckets add up to its _count.
--
-- Index: the primary keys of worker_hour_rollups and worker_minute_rollups
-- (both start with the time).
WITH hours AS MATERIALIZED (
    -- [h0, h1): the hours all of whose minute starts lie in the window.
    SELECT h0, max(h0, h1) AS h1
    FROM (SELECT ((max(:window_start, 0) + 3599999999) / 3600000000) * 3600000000 AS h0,
                 ((((min(:window_end, 253402300800000000) + 59999999) / 60000000) * 60000000)
                  / 3600000000) * 3600000000 AS h1)
),
parts AS (
    SELECT r.worker_id, r.event_type, r.completed, r.failed, r.timeout, r.cancelled, r.duration_sum_us
    FROM hours CROSS JOIN worker_hour_rollups r
    WHERE r.hour_us >= hours.h0
      AND r.hour_us < hours.h1
      AND (:run_id IS NULL OR r.run_id = :run_id)
    UNION ALL
    SELECT r.worker_id, r.event_type, r.completed, r.failed, r.timeout, r.cancelled, r.duration_sum_us
    FROM hours CROSS JOIN worker_minute_rollups r
    WHERE r.minute_us >= :window_start
      AND r.minute_us < min(:window_end, hours.h0)
      AND (:run_id IS NULL OR r.run_id = :run_id)
    UNION ALL
    SELECT r.worker_id, r.event_type, r.completed, r.failed, r.timeout, r.cancelled, r.duration_sum_us
    FROM hours CROSS JOIN worker_minute_rollups r
    WHERE r.minute_us >= max(:window_start, hours.h1)
      AND r.minute_us < :window_end
      AND (:run_id IS NULL OR r.run_id = :run_id)
),
summed AS (
    SELECT worker_id, event_type,
           sum(completed)       AS completed,
           sum(failed)          AS failed,
           sum(timeout)         AS timeout,
           sum(cancelled)       AS cancelled,
           sum(duration_sum_us) AS duration_sum_us
    FROM parts
    GROUP BY worker_id, event_type
)
SELECT workers.name AS worker,
       summed.event_type,
       summed.completed,
       summed.failed,
       summed.timeout,
       summed.cancelled,
       summed.duration_sum_us
FROM summed
JOIN workers ON workers.id = summed.worker_id
ORDER BY workers.name, summed.event_type
