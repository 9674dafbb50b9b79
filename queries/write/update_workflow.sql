-- A state change of a workflow inserted by an earlier batch. Each state has
-- its own timestamp column; the others keep their value.
UPDATE workflows
SET state              = ?2,
    compensating_at_us = CASE WHEN ?2 = 'compensating' THEN ?3 ELSE compensating_at_us END,
    ended_at_us        = CASE WHEN ?2 = 'completed' OR ?2 = 'failed' OR ?2 = 'compensated' OR ?2 = 'cancelled' THEN ?3 ELSE ended_at_us END,
    current_step       = coalesce(?4, current_step),
    error              = coalesce(?5, error)
WHERE id = ?1
