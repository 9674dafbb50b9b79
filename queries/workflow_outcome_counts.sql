-- Workflows by name and outcome: those that ended in
-- [:window_start, :window_end) by terminal state, plus those created before
-- :window_end that never ended (outcome 'unfinished': still running, or the
-- process died), within the id range [:run_first, :run_last].
-- Index: workflows_by_end for the ended ones, the partial index
-- workflows_active (unfinished rows only) for the rest.
SELECT w.workflow_name, w.state AS outcome, count(*) AS count
FROM workflows w
WHERE w.ended_at_us >= :window_start
  AND w.ended_at_us < :window_end
  AND +w.id BETWEEN :run_first AND :run_last
GROUP BY w.workflow_name, w.state
UNION ALL
SELECT w.workflow_name, 'unfinished' AS outcome, count(*) AS count
FROM workflows w
WHERE w.ended_at_us IS NULL
  AND w.created_at_us < :window_end
  AND +w.id BETWEEN :run_first AND :run_last
GROUP BY w.workflow_name
ORDER BY 1, 2
