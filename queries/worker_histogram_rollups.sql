-- Duration histogram per worker over the minutes whose start lies in
-- [:window_start, :window_end), from worker_minute_histogram (one run,
-- :run_id, or every run when it is NULL):
-- `count` executions took at most `le_ms` ms and more than the next lower
-- bound; le_ms = -1 is +Inf. Not cumulative: the exporter accumulates.
-- Index: the primary key of worker_minute_histogram starts with minute_us.
SELECT k.name AS worker,
       h.le_ms,
       sum(h.count) AS count
FROM worker_minute_histogram h
JOIN workers k ON k.id = h.worker_id
WHERE h.minute_us >= :window_start
  AND h.minute_us < :window_end
  AND (:run_id IS NULL OR h.run_id = :run_id)
GROUP BY k.name, h.le_ms
ORDER BY k.name, h.le_ms
