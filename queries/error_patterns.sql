-- get_error_patterns: errors over a time window, grouped by error type.
--
-- Parameters:
--   :window_start, :window_end  the window [start, end) in microseconds
--   :run_first, :run_last       event id bounds of one run, or the whole i64 range for all runs
--   :worker                     a worker's name, or '' for every worker
--
-- An error is an event (command or compensation) that ended failed or
-- timeout inside the window. Its type is the recorded error_type (the text
-- before the first ':' of the message, "NetworkError: Connection timeout" ->
-- NetworkError); an error recorded without one is grouped under its status
-- ('failed' or 'timeout').
-- workers is a JSON array of the distinct worker names (unordered here; the
-- Rust function sorts it). first_seen/last_seen are ISO-8601 UTC with
-- microseconds, built from the integers (the *_us
-- columns are the same instants in microseconds). example and
-- example_transaction come from the most recent error of the type.
-- Most frequent type first.
--
-- Index: events_by_worker_finish, one range per selected worker; status is
-- in the index, so only error rows are read from the table.
WITH errs AS MATERIALIZED (
    SELECT coalesce(e.error_type, e.status) AS error_type,
           e.worker_id,
           e.finished_at_us,
           e.error_message,
           e.workflow_id,
           e.id
    FROM events AS e
    WHERE e.worker_id IN (SELECT id FROM workers WHERE :worker = '' OR name = :worker)
      AND e.finished_at_us >= :window_start
      AND e.finished_at_us < :window_end
      AND e.finished_at_us IS NOT NULL
      AND e.status IN ('failed', 'timeout')
      AND +e.id BETWEEN :run_first AND :run_last
),
groups AS MATERIALIZED (
    SELECT errs.error_type,
           count(*)                            AS count,
           json_group_array(DISTINCT workers.name) AS workers,
           min(errs.finished_at_us)            AS first_seen_us,
           max(errs.finished_at_us)            AS last_seen_us
    FROM errs
    JOIN workers ON workers.id = errs.worker_id
    GROUP BY errs.error_type
),
latest AS MATERIALIZED (
    -- The most recent error of each type (latest end, then highest id).
    SELECT error_type, error_message, workflow_id
    FROM (SELECT error_type, error_message, workflow_id,
                 row_number() OVER (PARTITION BY error_type ORDER BY finished_at_us DESC, id DESC) AS rn
          FROM errs)
    WHERE rn = 1
)
SELECT groups.error_type,
       groups.count,
       groups.workers,
       strftime('%Y-%m-%dT%H:%M:%S', groups.first_seen_us / 1000000, 'unixepoch') || printf('.%06dZ', groups.first_seen_us % 1000000) AS first_seen,
       strftime('%Y-%m-%dT%H:%M:%S', groups.last_seen_us / 1000000, 'unixepoch') || printf('.%06dZ', groups.last_seen_us % 1000000)  AS last_seen,
       latest.error_message AS example,
       workflows.transaction_id AS example_transaction,
       groups.first_seen_us,
       groups.last_seen_us
FROM groups
JOIN latest ON latest.error_type = groups.error_type
LEFT JOIN workflows ON workflows.id = latest.workflow_id
ORDER BY groups.count DESC, groups.error_type;
