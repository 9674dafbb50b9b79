-- The writer's sign of life for its run (primary key).
UPDATE runs SET heartbeat_at_us = :now_us WHERE id = :run_id AND status = 'running'
