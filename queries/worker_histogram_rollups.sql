-- Duration histogram per worker over the minutes whose start lies in
-- [:window_start, :window_end), from the rollups (one run, :run_id, or
-- every run when it is NULL): `count` executions took at most `le_ms` ms
-- and more than the next lower bound; le_ms = -1 is +Inf. Not cumulative:
-- the exporter accumulates.
--
-- The whole hours of the window come from worker_hour_histogram (each row
-- the sum of its hour's minutes), the minutes before the first and after
-- the last whole hour from worker_minute_histogram: a day is 24 rows per
-- worker and bound instead of 1,440. The parts are summed per worker id
-- and bound before the names are joined.
--
-- Index: the primary keys of worker_hour_histogram and
-- worker_minute_histogram (both start with the time).
WITH hours AS MATERIALIZED (
    -- [h0, h1): the hours all of whose minute starts lie in the window
    -- (none when h1 = h0). Clamped to 1970..10000 so that "all time"
    -- stays inside integer arithmetic; the minutes outside the clamp are
    -- still read from the minute rows.
    SELECT h0, max(h0, h1) AS h1
    FROM (SELECT ((max(:window_start, 0) + 3599999999) / 3600000000) * 3600000000 AS h0,
                 ((((min(:window_end, 253402300800000000) + 59999999) / 60000000) * 60000000)
                  / 3600000000) * 3600000000 AS h1)
),
parts AS (
    SELECT h.worker_id, h.le_ms, h.count
    FROM hours CROSS JOIN worker_hour_histogram h
    WHERE h.hour_us >= hours.h0
      AND h.hour_us < hours.h1
      AND (:run_id IS NULL OR h.run_id = :run_id)
    UNION ALL
    SELECT m.worker_id, m.le_ms, m.count
    FROM hours CROSS JOIN worker_minute_histogram m
    WHERE m.minute_us >= :window_start
      AND m.minute_us < min(:window_end, hours.h0)
      AND (:run_id IS NULL OR m.run_id = :run_id)
    UNION ALL
    SELECT m.worker_id, m.le_ms, m.count
    FROM hours CROSS JOIN worker_minute_histogram m
    WHERE m.minute_us >= max(:window_start, hours.h1)
      AND m.minute_us < :window_end
      AND (:run_id IS NULL OR m.run_id = :run_id)
),
summed AS (
    SELECT worker_id, le_ms, sum(count) AS count
    FROM parts
    GROUP BY worker_id, le_ms
)
SELECT workers.name AS worker,
       summed.le_ms,
       summed.count
FROM summed
JOIN workers ON workers.id = summed.worker_id
ORDER BY workers.name, summed.le_ms
