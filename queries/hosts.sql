-- query hosts: what each worker host did in a time window, and what the
-- runs' orchestrators last heard from it; then one row with no host for the
-- executions of the orchestrator's own process, so that the rows add up to
-- the executions of `query workers`.
--
-- Parameters:
--   :window_start, :window_end  the window [start, end) in microseconds
--   :run_first, :run_last       event id bounds of one run, or the whole i64 range for all runs
--   :run_id                     that run, or NULL for every run (its run_hosts rows)
--
-- A host is listed when an execution it ran ended in the window, or a run in
-- scope heard its heartbeat during the window (first seen before the end,
-- last heartbeat at or after the start). Its executions are counted as in
-- worker_performance.sql: every event that ended in the window, commands
-- and compensations alike; error = failed + timeout; cancelled counts in the
-- total only. Durations are the worker's own time measured on the host
-- (duration_us); p50/p95 are nearest-rank: the value at 1-based rank
-- ceil(p n / 100) of the host's sorted durations, written (p n + 99) / 100
-- in integer arithmetic.
-- From run_hosts, over the runs in scope whose heartbeats overlap the
-- window: first seen (earliest), last heartbeat (latest), the workers and
-- concurrency its latest heartbeat announced, and the deliveries it
-- reclaimed from lost hosts and the duplicate results it sent (each run's
-- totals, summed). A host that ran steps but was never recorded in
-- run_hosts (its heartbeats were lost with a crash) has NULL there.
-- The row with host NULL (in process) is every execution in the window
-- minus the hosts' ones; its percentiles are NULL (its rows are in no
-- host index, and reading them would read the table). It is there only
-- when the window has such executions.
--
-- Index: events_by_host_finish (host_id, finished_at_us, duration_us,
-- status_code), one range per host, covers the hosts' executions (the
-- index is partial: in-process rows cost it nothing); events_by_worker_finish,
-- one range per worker, covers every execution (the in-process row);
-- run_hosts' primary key (run_id, host_id), a range of run ids (one run,
-- or all); `hosts` and `workers` hold one row per name.
WITH executions AS MATERIALIZED (
    SELECT hosts.id AS host_id,
           e.duration_us,
           e.status,
           row_number() OVER (PARTITION BY hosts.id ORDER BY e.duration_us) AS duration_rank,
           count(*) OVER (PARTITION BY hosts.id) AS n
    FROM hosts
    CROSS JOIN events e
    WHERE e.host_id = hosts.id
      AND e.finished_at_us >= :window_start
      AND e.finished_at_us < :window_end
      AND +e.id BETWEEN :run_first AND :run_last
),
by_host AS MATERIALIZED (
    SELECT host_id,
           count(*)                         AS executions,
           sum(status = 'completed')        AS completed,
           sum(status = 'failed')           AS failed,
           sum(status = 'timeout')          AS timeout,
           sum(status = 'cancelled')        AS cancelled,
           sum(duration_us)                 AS duration_sum_us,
           max(CASE WHEN duration_rank = max((50 * n + 99) / 100, 1) THEN duration_us END)
                                            AS p50_duration_us,
           max(CASE WHEN duration_rank = max((95 * n + 99) / 100, 1) THEN duration_us END)
                                            AS p95_duration_us
    FROM executions
    GROUP BY host_id
),
heard_runs AS MATERIALIZED (
    SELECT host_id, first_seen_us, last_heartbeat_us, reclaimed, duplicates, workers, concurrency,
           row_number() OVER (PARTITION BY host_id ORDER BY last_heartbeat_us DESC, run_id DESC)
               AS newest
    FROM run_hosts
    WHERE run_id BETWEEN coalesce(:run_id, -9223372036854775807 - 1)
                     AND coalesce(:run_id, 9223372036854775807)
      AND first_seen_us < :window_end
      AND last_heartbeat_us >= :window_start
),
heard AS MATERIALIZED (
    SELECT host_id,
           min(first_seen_us)                              AS first_seen_us,
           max(last_heartbeat_us)                          AS last_heartbeat_us,
           sum(reclaimed)                                  AS reclaimed,
           sum(duplicates)                                 AS duplicates,
           max(CASE WHEN newest = 1 THEN workers END)      AS workers,
           max(CASE WHEN newest = 1 THEN concurrency END)  AS concurrency
    FROM heard_runs
    GROUP BY host_id
),
every AS MATERIALIZED (
    SELECT count(*)                                AS executions,
           coalesce(sum(e.status = 'completed'), 0) AS completed,
           coalesce(sum(e.status = 'failed'), 0)    AS failed,
           coalesce(sum(e.status = 'timeout'), 0)   AS timeout,
           coalesce(sum(e.status = 'cancelled'), 0) AS cancelled,
           coalesce(sum(e.duration_us), 0)          AS duration_sum_us
    FROM workers
    CROSS JOIN events e
    WHERE e.worker_id = workers.id
      AND e.finished_at_us >= :window_start
      AND e.finished_at_us < :window_end
      AND +e.id BETWEEN :run_first AND :run_last
),
remote AS MATERIALIZED (
    SELECT coalesce(sum(executions), 0)      AS executions,
           coalesce(sum(completed), 0)       AS completed,
           coalesce(sum(failed), 0)          AS failed,
           coalesce(sum(timeout), 0)         AS timeout,
           coalesce(sum(cancelled), 0)       AS cancelled,
           coalesce(sum(duration_sum_us), 0) AS duration_sum_us
    FROM by_host
)
SELECT hosts.name                          AS host,
       heard.workers,
       heard.concurrency,
       coalesce(by_host.executions, 0)     AS executions,
       coalesce(by_host.completed, 0)      AS completed,
       coalesce(by_host.failed, 0)         AS failed,
       coalesce(by_host.timeout, 0)        AS timeout,
       coalesce(by_host.cancelled, 0)      AS cancelled,
       coalesce(by_host.duration_sum_us, 0) AS duration_sum_us,
       by_host.p50_duration_us,
       by_host.p95_duration_us,
       heard.first_seen_us,
       heard.last_heartbeat_us,
       heard.reclaimed,
       heard.duplicates
FROM hosts
LEFT JOIN by_host ON by_host.host_id = hosts.id
LEFT JOIN heard ON heard.host_id = hosts.id
WHERE by_host.host_id IS NOT NULL OR heard.host_id IS NOT NULL
UNION ALL
SELECT NULL, NULL, NULL,
       every.executions - remote.executions,
       every.completed - remote.completed,
       every.failed - remote.failed,
       every.timeout - remote.timeout,
       every.cancelled - remote.cancelled,
       every.duration_sum_us - remote.duration_sum_us,
       NULL, NULL, NULL, NULL, NULL, NULL
FROM every, remote
WHERE every.executions > remote.executions
ORDER BY host NULLS LAST
