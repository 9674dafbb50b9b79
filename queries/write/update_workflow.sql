-- A state change of a workflow inserted by an earlier batch. Each state has
-- its own timestamp column; the others keep their value. A terminal change
-- brings :last_event_id, the end of its events' id range.
-- Index: the primary key of workflows (:id).
UPDATE workflows
SET state              = :state,
    compensating_at_us = CASE WHEN :state = 'compensating' THEN :at_us ELSE compensating_at_us END,
    ended_at_us        = CASE WHEN :state = 'completed' OR :state = 'failed' OR :state = 'compensated' OR :state = 'cancelled' THEN :at_us ELSE ended_at_us END,
    current_step       = coalesce(:current_step, current_step),
    error              = coalesce(:error, error),
    last_event_id      = coalesce(:last_event_id, last_event_id)
WHERE id = :id
