-- Workflow outcomes over a time window: per workflow name, and for all
-- workflows together (the row whose workflow_name is NULL, listed last).
--
-- Parameters:
--   :window_start, :window_end  the window [start, end) in microseconds
--   :run_first, :run_last       workflow id bounds of one run, or the whole i64 range for all runs
--
-- What counts: every workflow whose terminal state (completed, failed,
-- compensated, cancelled) was reached inside the window; unfinished
-- workflows have no end and are not counted.
-- Latency is created -> ended (ended_at_us - created_at_us): what the caller
-- of execute_workflow waited for.
-- Percentiles are nearest-rank: the value at 1-based rank ceil(p n / 100)
-- of the sorted latencies of the group, written (p n + 99) / 100 in integer
-- arithmetic (no ceil() in some sqlite3 shells).
-- first_created_us / last_ended_us bound the group's activity (compare uses
-- them as the run's active span).
--
-- Index: workflows_by_end (partial: ended rows only) for the window; the `+`
-- on id keeps the planner from scanning the rowid range of "all runs".
WITH win AS MATERIALIZED (
    SELECT w.workflow_name,
           w.state,
           w.created_at_us,
           w.ended_at_us,
           w.ended_at_us - w.created_at_us AS latency_us
    FROM workflows AS w
    WHERE w.ended_at_us >= :window_start
      AND w.ended_at_us < :window_end
      AND w.ended_at_us IS NOT NULL
      AND +w.id BETWEEN :run_first AND :run_last
),
grouped AS MATERIALIZED (
    SELECT workflow_name AS grp, state, created_at_us, ended_at_us, latency_us FROM win
    UNION ALL
    SELECT NULL AS grp, state, created_at_us, ended_at_us, latency_us FROM win
),
ranked AS MATERIALIZED (
    SELECT grp, state, created_at_us, ended_at_us, latency_us,
           row_number() OVER (PARTITION BY grp ORDER BY latency_us) AS latency_rank,
           count(*) OVER (PARTITION BY grp) AS n
    FROM grouped
)
SELECT grp                                                                   AS workflow_name,
       count(*)                                                              AS total,
       sum(state = 'completed')                                              AS completed,
       sum(state = 'failed')                                                 AS failed,
       sum(state = 'compensated')                                            AS compensated,
       sum(state = 'cancelled')                                              AS cancelled,
       sum(latency_us)                                                       AS latency_sum_us,
       max(CASE WHEN latency_rank = (50 * n + 99) / 100 THEN latency_us END) AS p50_latency_us,
       max(CASE WHEN latency_rank = (95 * n + 99) / 100 THEN latency_us END) AS p95_latency_us,
       max(CASE WHEN latency_rank = (99 * n + 99) / 100 THEN latency_us END) AS p99_latency_us,
       max(latency_us)                                                       AS max_latency_us,
       min(created_at_us)                                                    AS first_created_us,
       max(ended_at_us)                                                      AS last_ended_us
FROM ranked
GROUP BY grp
ORDER BY grp IS NULL, grp;
