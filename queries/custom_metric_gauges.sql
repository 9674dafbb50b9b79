-- The latest gauge value per name and label set among the observations in
-- [:window_start, :window_end), for one run (:run_id) or every run
-- (:run_id NULL). Ties on the timestamp go to the row inserted
-- last (highest id), which is the one recorded last.
--
-- Loose index scan over names, as in custom_metric_counters.sql.
WITH RECURSIVE names (name) AS (
    SELECT min(name) FROM custom_metrics
    UNION ALL
    SELECT (SELECT min(c.name) FROM custom_metrics c WHERE c.name > names.name)
    FROM names
    WHERE names.name IS NOT NULL
),
ranked AS (
    SELECT m.name, m.labels_json, m.value, m.recorded_at_us,
           row_number() OVER (PARTITION BY m.name, m.labels_json
                              ORDER BY m.recorded_at_us DESC, m.id DESC) AS recency
    FROM names
    CROSS JOIN custom_metrics m
    WHERE m.name = names.name
      AND m.recorded_at_us >= :window_start
      AND m.recorded_at_us < :window_end
      AND (:run_id IS NULL OR m.run_id = :run_id)
      AND m.metric_type = 'gauge'
)
SELECT name, labels_json, value, recorded_at_us
FROM ranked
WHERE recency = 1
ORDER BY name, labels_json
