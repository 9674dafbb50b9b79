-- Event latency (dispatch -> terminal) histogram over the minutes whose
-- start lies in [:window_start, :window_end), for one run (:run_id) or every
-- run (NULL), from event_minute_latency_histogram: `count` events took at
-- most `le_ms` ms and more than the next lower bound (le_ms = -1 is +Inf).
-- The approximate p95 latency of a window whose raw events retention
-- deleted (the caller reads the bucket holding the nearest rank).
-- Index: the primary key starts with minute_us.
SELECT le_ms, sum(count) AS count
FROM event_minute_latency_histogram
WHERE minute_us >= :window_start
  AND minute_us < :window_end
  AND (:run_id IS NULL OR run_id = :run_id)
GROUP BY le_ms
ORDER BY le_ms
