-- The workflows of the runs being copied (temp.merge_runs), renumbered:
-- row ids are (run_id << 40) | sequence (migrations/0001_initial.sql), so
-- a workflow of old run r becomes (new run << 40) | (its id & (2^40 - 1)),
-- its run_id the new run, and its last_event_id (an event of the same run,
-- or its own id) the same way. Transaction ids stay: they are the
-- workflows' identities (a clash with OUT fails the merge).
-- Index: per run, a primary-key range scan of src.workflows (the run's id
-- range); OUT's rows are appended in id order (new runs are OUT's newest).
INSERT INTO main.workflows (id, transaction_id, run_id, workflow_name, state, current_step,
                            created_at_us, started_at_us, compensating_at_us, ended_at_us,
                            input_size_bytes, error, last_event_id)
SELECT (m.new_id << 40) | (w.id & 1099511627775), w.transaction_id, m.new_id, w.workflow_name,
       w.state, w.current_step, w.created_at_us, w.started_at_us, w.compensating_at_us,
       w.ended_at_us, w.input_size_bytes, w.error,
       (m.new_id << 40) | (w.last_event_id & 1099511627775)
FROM temp.merge_runs m
CROSS JOIN src.workflows w
WHERE m.old_id > 0
  AND w.id BETWEEN m.old_id << 40 AND (m.old_id << 40) | 1099511627775
ORDER BY m.old_id, w.id
