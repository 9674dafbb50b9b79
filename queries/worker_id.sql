-- The id of a worker by name: whether a worker the caller names exists
-- (get_error_patterns for one worker, health checks), and the writer's
-- lookup after it inserted the name (cached for the writer's life).
--
-- Parameters:
--   :worker  the worker's name
--
-- Index: the UNIQUE constraint on workers.name.
SELECT id FROM workers WHERE name = :worker;
