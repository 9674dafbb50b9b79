-- Workflows not yet terminal, oldest first, with the step each is at (its
-- latest dispatched event). Reads the partial index workflows_active, which
-- holds only unfinished rows, and events_by_workflow per row.
-- :crashed_runs (a JSON array of run ids) names runs whose process died and
-- that no process has closed yet: their workflows are not in flight.
SELECT w.transaction_id,
       w.workflow_name,
       w.state,
       w.created_at_us,
       (SELECT e.step FROM events e WHERE e.workflow_id = w.id ORDER BY e.id DESC LIMIT 1) AS current_step,
       w.run_id
FROM workflows w
WHERE w.ended_at_us IS NULL
  AND w.created_at_us <= :window_end
  AND +w.id BETWEEN :run_first AND :run_last
  AND w.run_id NOT IN (SELECT value FROM json_each(coalesce(:crashed_runs, '[]')))
ORDER BY w.created_at_us
LIMIT :limit
