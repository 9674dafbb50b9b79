-- Counter totals per name and label set over [:window_start, :window_end),
-- for one run (:run_id) or every run (:run_id NULL).
--
-- The only index is custom_metrics_by_name_time (name, recorded_at_us), so a
-- window over all names is answered as a loose index scan: `names` hops from
-- one distinct name to the next through the index (one seek per name), and
-- each name's window is then a range search of that index. This avoids both
-- a full scan and a second index that every insert would pay for.
WITH RECURSIVE names (name) AS (
    SELECT min(name) FROM custom_metrics
    UNION ALL
    SELECT (SELECT min(c.name) FROM custom_metrics c WHERE c.name > names.name)
    FROM names
    WHERE names.name IS NOT NULL
)
SELECT m.name, m.labels_json, sum(m.value) AS total, count(*) AS increments
FROM names
CROSS JOIN custom_metrics m
WHERE m.name = names.name
  AND m.recorded_at_us >= :window_start
  AND m.recorded_at_us < :window_end
  AND (:run_id IS NULL OR m.run_id = :run_id)
  AND m.metric_type = 'counter'
GROUP BY m.name, m.labels_json
ORDER BY m.name, m.labels_json
