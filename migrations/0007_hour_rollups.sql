-- multiagents schema, version 7: the per-minute rollups summed per hour,
-- and the hour sketches of a run in the order its questions group them.
--
-- A day's report, a long window's error patterns, or a scrape of "all
-- time" summed 1,440 minute rows per worker and bucket (type, status) and
-- then sorted them to group: 90,000 histogram rows and 60,000 error rows
-- for a day of 24 M executions, a third of the report's time. Each hour
-- table holds the sum of its hour's minute rows, kept by the writer in the
-- same transaction as the minute rows (queries/write/upsert_*_hour_*.sql),
-- so a question reads whole hours from here and only the minutes at its
-- edges from the minute tables (queries/worker_histogram_rollups.sql,
-- queries/error_patterns_rollups.sql, queries/worker_totals_rollups.sql and
-- the counts of the sketch queries). Like worker_hour_sketch, an hour row
-- stays whole while any minute of it is kept (queries/retention/), and has
-- no foreign keys (each would cost the writer a seek).

-- worker_minute_rollups per hour: every column the same sum, minimum or
-- maximum of the hour's minutes.
CREATE TABLE worker_hour_rollups (
    hour_us            INTEGER NOT NULL,  -- start of the hour
    run_id             INTEGER NOT NULL,
    worker_id          INTEGER NOT NULL,
    event_type         TEXT    NOT NULL,
    completed          INTEGER NOT NULL DEFAULT 0,
    failed             INTEGER NOT NULL DEFAULT 0,
    timeout            INTEGER NOT NULL DEFAULT 0,
    cancelled          INTEGER NOT NULL DEFAULT 0,
    duration_sum_us    INTEGER NOT NULL DEFAULT 0,
    duration_min_us    INTEGER,
    duration_max_us    INTEGER,
    latency_sum_us     INTEGER NOT NULL DEFAULT 0,  -- dispatched -> finished
    latency_max_us     INTEGER,
    payload_sum_bytes  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour_us, run_id, worker_id, event_type)
) STRICT, WITHOUT ROWID;

-- worker_minute_histogram per hour (upper-inclusive ms bounds, -1 = +Inf).
CREATE TABLE worker_hour_histogram (
    hour_us    INTEGER NOT NULL,
    run_id     INTEGER NOT NULL,
    worker_id  INTEGER NOT NULL,
    le_ms      INTEGER NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (hour_us, run_id, worker_id, le_ms)
) STRICT, WITHOUT ROWID;

-- error_minute_rollups per hour: the count, the first and last error, and
-- the event of the latest one (latest end, then highest id).
CREATE TABLE error_hour_rollups (
    hour_us        INTEGER NOT NULL,
    run_id         INTEGER NOT NULL,
    worker_id      INTEGER NOT NULL,
    error_type     TEXT    NOT NULL,
    count          INTEGER NOT NULL,
    first_seen_us  INTEGER NOT NULL,
    last_seen_us   INTEGER NOT NULL,
    example_id     INTEGER NOT NULL,
    PRIMARY KEY (hour_us, run_id, worker_id, error_type)
) STRICT, WITHOUT ROWID;

-- The hour sketches of one run in (worker, bucket) order, covering: a
-- question about one run over most of its life (its report, `query --run`)
-- reads them in this order and groups them as they come, where the primary
-- key's order (hour first) made it sort every hour row of the window (a day
-- is 60,000 rows). queries/worker_performance_sketch.sql and
-- queries/event_metrics_sketch.sql choose it by the window's length.
CREATE INDEX worker_hour_sketch_by_run
    ON worker_hour_sketch (run_id, worker_id, key, hour_us, durations, latencies);

-- The hours of the minute rows already in the file.
INSERT INTO worker_hour_rollups (hour_us, run_id, worker_id, event_type, completed, failed, timeout,
                                 cancelled, duration_sum_us, duration_min_us, duration_max_us,
                                 latency_sum_us, latency_max_us, payload_sum_bytes)
SELECT (minute_us / 3600000000) * 3600000000, run_id, worker_id, event_type, sum(completed), sum(failed),
       sum(timeout), sum(cancelled), sum(duration_sum_us), min(duration_min_us), max(duration_max_us),
       sum(latency_sum_us), max(latency_max_us), sum(payload_sum_bytes)
FROM worker_minute_rollups
GROUP BY 1, run_id, worker_id, event_type;

INSERT INTO worker_hour_histogram (hour_us, run_id, worker_id, le_ms, count)
SELECT (minute_us / 3600000000) * 3600000000, run_id, worker_id, le_ms, sum(count)
FROM worker_minute_histogram
GROUP BY 1, run_id, worker_id, le_ms;

-- The example is that of the minute with the latest error (latest end,
-- then highest id), as upsert_error_hour_rollup.sql picks it.
INSERT INTO error_hour_rollups (hour_us, run_id, worker_id, error_type, count, first_seen_us,
                                last_seen_us, example_id)
SELECT hour_us, run_id, worker_id, error_type, sum(count), min(first_seen_us), max(last_seen_us),
       max(CASE WHEN rn = 1 THEN example_id END)
FROM (
    SELECT (minute_us / 3600000000) * 3600000000 AS hour_us, run_id, worker_id, error_type, count,
           first_seen_us, last_seen_us, example_id,
           row_number() OVER (PARTITION BY minute_us / 3600000000, run_id, worker_id, error_type
                              ORDER BY last_seen_us DESC, example_id DESC) AS rn
    FROM error_minute_rollups
)
GROUP BY hour_us, run_id, worker_id, error_type;
