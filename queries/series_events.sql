-- Time series from the raw rows (exact): per bucket of :bucket_us
-- microseconds counted from :window_start (bucket k is
-- [:window_start + k :bucket_us, :window_start + (k + 1) :bucket_us)),
-- within [:window_start, :window_end) and the id range
-- [:run_first, :run_last]: workflows that ended, executions (events) that
-- ended, errors among them (failed + timeout; cancelled counts in the
-- executions only), and the nearest-rank p50/p95 of the event latency
-- (dispatch -> terminal) in µs: the value at 1-based rank ceil(p n / 100),
-- written (p n + 99) / 100. Buckets without anything ended are absent (the
-- caller fills them with zeros).
-- Index: events_by_worker_finish, one range per worker (then the table for
-- dispatched_at_us); workflows_by_end for the workflows.
WITH ev AS MATERIALIZED (
    SELECT (e.finished_at_us - :window_start) / :bucket_us AS bucket,
           e.status,
           e.finished_at_us - e.dispatched_at_us AS latency_us
    FROM workers
    CROSS JOIN events e
    WHERE e.worker_id = workers.id
      AND e.finished_at_us >= :window_start
      AND e.finished_at_us < :window_end
      AND +e.id BETWEEN :run_first AND :run_last
),
ranked AS (
    SELECT bucket, status, latency_us,
           row_number() OVER (PARTITION BY bucket ORDER BY latency_us) AS rn,
           count(*) OVER (PARTITION BY bucket) AS n
    FROM ev
),
ex AS (
    SELECT bucket,
           count(*) AS executions,
           sum(status = 'failed' OR status = 'timeout') AS errors,
           max(CASE WHEN rn = (50 * n + 99) / 100 THEN latency_us END) AS p50_latency_us,
           max(CASE WHEN rn = (95 * n + 99) / 100 THEN latency_us END) AS p95_latency_us
    FROM ranked
    GROUP BY bucket
),
wf AS (
    SELECT (w.ended_at_us - :window_start) / :bucket_us AS bucket,
           count(*) AS workflows_ended
    FROM workflows w
    WHERE w.ended_at_us >= :window_start
      AND w.ended_at_us < :window_end
      AND +w.id BETWEEN :run_first AND :run_last
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
       ex.p50_latency_us,
       ex.p95_latency_us
FROM buckets
LEFT JOIN ex ON ex.bucket = buckets.bucket
LEFT JOIN wf ON wf.bucket = buckets.bucket
ORDER BY buckets.bucket
