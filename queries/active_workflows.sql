-- Workflows not yet terminal, oldest first, with the step each is at (its
-- latest dispatched event). Reads the partial index workflows_active, which
-- holds only unfinished rows, and per row its latest event: the primary key
-- of event_rows scanned back from the end of its run's ids (its events are
-- ids after its own, migrations/0006_compact_events.sql; a workflow in
-- flight dispatched its latest event recently, so the scan is short).
-- :crashed_runs (a JSON array of run ids) names runs whose process died and
-- that no process has closed yet: their workflows are not in flight.
SELECT w.transaction_id,
       w.workflow_name,
       w.state,
       w.created_at_us,
       (SELECT e.step FROM event_rows e
        WHERE e.id > w.id AND e.id <= (w.id | 1099511627775) AND e.workflow_id = w.id
        ORDER BY e.id DESC LIMIT 1) AS current_step,
       w.run_id
FROM workflows w
WHERE w.ended_at_us IS NULL
  AND w.created_at_us <= :window_end
  AND +w.id BETWEEN :run_first AND :run_last
  AND w.run_id NOT IN (SELECT value FROM json_each(coalesce(:crashed_runs, '[]')))
ORDER BY w.created_at_us
LIMIT :limit
