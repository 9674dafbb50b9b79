-- How many rows of run 0 the input holds: the rollups of no run that
-- migration 4 made of minutes several runs shared (and migration 7 their
-- hours), and the watermark that says what they may count. A merge that
-- skips some of the input's runs does not copy them (they may be in OUT
-- already), and says how many it left.
-- Index: one scan per rollup table of the input (none is keyed by run
-- first); only run when a merge skips runs of an input.
SELECT (SELECT count(*) FROM src.worker_minute_rollups WHERE run_id = 0)
     + (SELECT count(*) FROM src.worker_minute_histogram WHERE run_id = 0)
     + (SELECT count(*) FROM src.workflow_minute_rollups WHERE run_id = 0)
     + (SELECT count(*) FROM src.event_minute_latency_histogram WHERE run_id = 0)
     + (SELECT count(*) FROM src.worker_minute_sketch WHERE run_id = 0)
     + (SELECT count(*) FROM src.worker_hour_sketch WHERE run_id = 0)
     + (SELECT count(*) FROM src.error_minute_rollups WHERE run_id = 0)
     + (SELECT count(*) FROM src.worker_hour_rollups WHERE run_id = 0)
     + (SELECT count(*) FROM src.worker_hour_histogram WHERE run_id = 0)
     + (SELECT count(*) FROM src.error_hour_rollups WHERE run_id = 0)
     + (SELECT count(*) FROM src.retention_watermarks WHERE run_id = 0)
