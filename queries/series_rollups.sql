-- Time series from the per-minute rollups (long windows, or minutes whose
-- raw rows retention deleted): the columns of series_events.sql, per bucket
-- of :bucket_us (a whole number of minutes) counted from :window_start (a
-- minute start), over the minutes whose start lies in
-- [:window_start, :window_end), for one run (:run_id) or every run (NULL).
-- Counts are exact; p50/p95 latency are the upper bound (ms, turned into
-- µs) of the event_minute_latency_histogram bucket holding the nearest rank
-- ceil(p n / 100), and the bucket's largest latency (latency_max_us) where
-- that rank falls in +Inf: approximate. Buckets without anything ended are
-- absent (the caller fills them with zeros).
-- Index: the primary keys of worker_minute_rollups, workflow_minute_rollups
-- and event_minute_latency_histogram start with minute_us.
WITH ex AS (
    SELECT (minute_us - :window_start) / :bucket_us AS bucket,
           sum(completed + failed + timeout + cancelled) AS executions,
           sum(failed + timeout) AS errors,
           max(latency_max_us) AS latency_max_us
    FROM worker_minute_rollups
    WHERE minute_us >= :window_start
      AND minute_us < :window_end
      AND (:run_id IS NULL OR run_id = :run_id)
    GROUP BY bucket
),
wf AS (
    SELECT (minute_us - :window_start) / :bucket_us AS bucket,
           sum(completed + failed + compensated + cancelled) AS workflows_ended
    FROM workflow_minute_rollups
    WHERE minute_us >= :window_start
      AND minute_us < :window_end
      AND (:run_id IS NULL OR run_id = :run_id)
    GROUP BY bucket
),
hist AS (
    -- +Inf (le_ms = -1) sorts last.
    SELECT (minute_us - :window_start) / :bucket_us AS bucket,
           CASE WHEN le_ms < 0 THEN 9223372036854775807 ELSE le_ms END AS le_key,
           sum(count) AS count
    FROM event_minute_latency_histogram
    WHERE minute_us >= :window_start
      AND minute_us < :window_end
      AND (:run_id IS NULL OR run_id = :run_id)
    GROUP BY bucket, le_key
),
cumulative AS (
    SELECT bucket, le_key,
           sum(count) OVER (PARTITION BY bucket ORDER BY le_key ROWS UNBOUNDED PRECEDING) AS seen,
           sum(count) OVER (PARTITION BY bucket) AS n
    FROM hist
),
pct AS (
    SELECT bucket,
           min(CASE WHEN seen >= (50 * n + 99) / 100 THEN le_key END) AS p50_key,
           min(CASE WHEN seen >= (95 * n + 99) / 100 THEN le_key END) AS p95_key
    FROM cumulative
    GROUP BY bucket
),
buckets AS (
    SELECT bucket FROM ex UNION SELECT bucket FROM wf
)
SELECT buckets.bucket,
       :window_start + buckets.bucket * :bucket_us AS bucket_start_us,
       coalesce(wf.workflows_ended, 0) AS workflows_ended,
       coalesce(ex.executions, 0) AS executions,
       coalesce(ex.errors, 0) AS errors,
       CASE WHEN pct.p50_key = 9223372036854775807 THEN ex.latency_max_us
            ELSE pct.p50_key * 1000 END AS p50_latency_us,
       CASE WHEN pct.p95_key = 9223372036854775807 THEN ex.latency_max_us
            ELSE pct.p95_key * 1000 END AS p95_latency_us
FROM buckets
LEFT JOIN ex ON ex.bucket = buckets.bucket
LEFT JOIN wf ON wf.bucket = buckets.bucket
LEFT JOIN pct ON pct.bucket = buckets.bucket
ORDER BY buckets.bucket
