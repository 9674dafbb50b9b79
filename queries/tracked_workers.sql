-- get_tracked_workers: the workers that have executions ending in a time window.
--
-- Parameters:
--   :window_start, :window_end  the window [start, end) in microseconds; pass
--                               -9223372036854775808 / 9223372036854775807 for all time
--   :run_first, :run_last       event id bounds of one run, or the whole i64 range for all runs
--
-- In-flight events do not count (they have not ended); every worker the
-- writer has seen has a `workers` row, so the all-time, all-runs answer is
-- that table. Ordered by name.
--
-- Index: the small `workers` table is scanned; for each worker an EXISTS
-- probe of events_by_worker_finish stops at the first matching entry.
SELECT workers.name
FROM workers
WHERE EXISTS (
    SELECT 1 FROM events
    WHERE events.worker_id = workers.id
      AND events.finished_at_us >= :window_start
      AND events.finished_at_us < :window_end
      AND events.finished_at_us IS NOT NULL
      AND +events.id BETWEEN :run_first AND :run_last
)
ORDER BY workers.name;
