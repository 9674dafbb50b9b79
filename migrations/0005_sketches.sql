-- multiagents schema, version 5: percentiles of any window from rollups.
--
-- A sketch (DDSketch-style) counts values in log-spaced buckets: bucket
-- `key` holds the integers x (microseconds) with gamma^(key-1) < x <=
-- gamma^key, gamma = 1.01 / 0.99. Any percentile read from a sketch is the
-- bucket's representative value, within 1 % of the exact nearest-rank value
-- (relative error < (gamma - 1) / (gamma + 1) = 0.01), however many minutes
-- are merged: merging sketches is adding counts per key. The writer keeps
-- one per worker and minute, and one per worker and hour, as plain rows, so
-- a percentile is a running sum over bucket counts in SQL
-- (queries/worker_performance_sketch.sql, queries/event_metrics_sketch.sql).

-- The buckets: for integer x, key(x) is the key of the first row with
-- upper_us >= x (one seek of the unique index), the same rule in the
-- writer (which loads this table) and in SQL, so there is one definition.
-- value_us is the harmonic mean of the bucket's smallest and largest
-- integer, the value whose largest relative error over the bucket is
-- smallest: (upper - lower) / (upper + lower) < 1 %. Key -1 holds zero and
-- negative values (read as 0); the last bucket (past 1.2e13 µs, 139 days)
-- holds everything larger and reads as its lower bound.
CREATE TABLE sketch_buckets (
    key       INTEGER PRIMARY KEY,
    lower_us  INTEGER NOT NULL,
    upper_us  INTEGER NOT NULL UNIQUE,
    value_us  REAL    NOT NULL
) STRICT;

INSERT INTO sketch_buckets (key, lower_us, upper_us, value_us)
WITH RECURSIVE powers (k, g) AS (
    SELECT 0, 1.0
    UNION ALL
    SELECT k + 1, g * (1.01 / 0.99) FROM powers WHERE k < 1500
),
-- For integer x, gamma^k >= x exactly when floor(gamma^k) >= x: a bucket
-- is the integers between two distinct floors, keyed by the first k
-- reaching its floor.
floors AS (
    SELECT min(k) AS key, CAST(g AS INTEGER) AS upper_us FROM powers GROUP BY CAST(g AS INTEGER)
),
bounds AS (
    SELECT key, coalesce(lag(upper_us) OVER (ORDER BY key), 0) + 1 AS lower_us, upper_us FROM floors
)
SELECT key, lower_us, upper_us, 2.0 * lower_us * upper_us / (lower_us + upper_us) FROM bounds
UNION ALL
SELECT -1, -9223372036854775808, 0, 0.0
UNION ALL
SELECT max(key) + 1, max(upper_us) + 1, 9223372036854775807, max(upper_us) + 1 FROM floors;

-- Per worker, run and minute: `durations` of its executions (the worker's
-- own time, duration_us) and `latencies` (dispatch -> terminal) in bucket
-- `key`. One row per key holding both counts: the two spread over mostly
-- the same keys. No foreign keys: the writer's worker ids come from
-- `workers`, and each checked key would cost the writer a seek.
CREATE TABLE worker_minute_sketch (
    minute_us  INTEGER NOT NULL,  -- start of the minute
    run_id     INTEGER NOT NULL,
    worker_id  INTEGER NOT NULL,
    key        INTEGER NOT NULL,
    durations  INTEGER NOT NULL DEFAULT 0,
    latencies  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (minute_us, run_id, worker_id, key)
) STRICT, WITHOUT ROWID;

-- The same per hour (the sum of its minutes): a day is 24 rows per key
-- instead of 1,440.
CREATE TABLE worker_hour_sketch (
    hour_us    INTEGER NOT NULL,  -- start of the hour
    run_id     INTEGER NOT NULL,
    worker_id  INTEGER NOT NULL,
    key        INTEGER NOT NULL,
    durations  INTEGER NOT NULL DEFAULT 0,
    latencies  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour_us, run_id, worker_id, key)
) STRICT, WITHOUT ROWID;

-- The writer adds the minutes of a live run to the file one minute behind
-- its latest event (it sums them in memory until then): the run's sketch
-- rows are complete for every minute before sketched_until_us, and absent
-- at and after it. NULL: complete (the run was closed, and closing it built
-- the rest from its raw rows). Readers take raw rows where a run's sketches
-- are not complete yet.
ALTER TABLE runs ADD COLUMN sketched_until_us INTEGER;

-- Sketches of the raw events already in the file, for every run.
INSERT INTO worker_minute_sketch (minute_us, run_id, worker_id, key, durations, latencies)
SELECT minute_us, run_id, worker_id, key, sum(d), sum(l)
FROM (
    SELECT (e.finished_at_us / 60000000) * 60000000 AS minute_us, e.id >> 40 AS run_id, e.worker_id,
           (SELECT b.key FROM sketch_buckets b WHERE b.upper_us >= e.duration_us ORDER BY b.upper_us LIMIT 1) AS key,
           1 AS d, 0 AS l
    FROM events e WHERE e.finished_at_us IS NOT NULL
    UNION ALL
    SELECT (e.finished_at_us / 60000000) * 60000000, e.id >> 40, e.worker_id,
           (SELECT b.key FROM sketch_buckets b WHERE b.upper_us >= e.finished_at_us - e.dispatched_at_us
             ORDER BY b.upper_us LIMIT 1),
           0, 1
    FROM events e WHERE e.finished_at_us IS NOT NULL
)
GROUP BY minute_us, run_id, worker_id, key;

INSERT INTO worker_hour_sketch (hour_us, run_id, worker_id, key, durations, latencies)
SELECT (minute_us / 3600000000) * 3600000000, run_id, worker_id, key, sum(durations), sum(latencies)
FROM worker_minute_sketch
GROUP BY 1, run_id, worker_id, key;

-- ---------------------------------------------------------------------------
-- Errors per worker, type, run and minute, kept by the writer in the same
-- transactions as the raw rows: the error patterns of long windows without
-- reading every event (queries/error_patterns_rollups.sql), and after
-- retention deleted the raw rows. Same definitions as
-- queries/error_patterns.sql: an error is an event that ended failed or
-- timeout; its type is error_type, or its status when none was recorded.
-- example_id is the event of the latest error (latest end, then highest
-- id), for the example message and transaction.
CREATE TABLE error_minute_rollups (
    minute_us      INTEGER NOT NULL,
    run_id         INTEGER NOT NULL,
    worker_id      INTEGER NOT NULL,
    error_type     TEXT    NOT NULL,
    count          INTEGER NOT NULL,
    first_seen_us  INTEGER NOT NULL,
    last_seen_us   INTEGER NOT NULL,
    example_id     INTEGER NOT NULL,
    PRIMARY KEY (minute_us, run_id, worker_id, error_type)
) STRICT, WITHOUT ROWID;

INSERT INTO error_minute_rollups (minute_us, run_id, worker_id, error_type, count, first_seen_us,
                                  last_seen_us, example_id)
SELECT minute_us, run_id, worker_id, error_type, count(*), min(finished_at_us), max(finished_at_us),
       max(CASE WHEN rn = 1 THEN id END)
FROM (
    SELECT (finished_at_us / 60000000) * 60000000 AS minute_us, id >> 40 AS run_id, worker_id,
           coalesce(error_type, status) AS error_type, finished_at_us, id,
           row_number() OVER (PARTITION BY (finished_at_us / 60000000), id >> 40, worker_id,
                                           coalesce(error_type, status)
                              ORDER BY finished_at_us DESC, id DESC) AS rn
    FROM events
    WHERE status = 'failed' OR status = 'timeout'
)
GROUP BY minute_us, run_id, worker_id, error_type;
