-- The id of a worker by name, cached by the writer for its life (the same
-- statement as queries/worker_id.sql, which the monitors read with).
-- Index: the UNIQUE constraint on workers.name.
SELECT id FROM workers WHERE name = :worker
