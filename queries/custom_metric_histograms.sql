-- Histogram summaries per name and label set over [:window_start, :window_end)
-- for one run (:run_id) or every run (:run_id NULL):
-- count, sum, min, max and nearest-rank percentiles. The p-th percentile is
-- the value at 1-based rank ceil(p/100 * n), computed as (p * n + 99) / 100
-- in integer arithmetic so that no floating-point rounding can move a rank.
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
    SELECT m.name, m.labels_json, m.value,
           row_number() OVER (PARTITION BY m.name, m.labels_json ORDER BY m.value) AS rank,
           count(*) OVER (PARTITION BY m.name, m.labels_json) AS n
    FROM names
    CROSS JOIN custom_metrics m
    WHERE m.name = names.name
      AND m.recorded_at_us >= :window_start
      AND m.recorded_at_us < :window_end
      AND (:run_id IS NULL OR m.run_id = :run_id)
      AND m.metric_type = 'histogram'
)
SELECT name, labels_json,
       count(*)   AS count,
       sum(value) AS sum,
       min(value) AS min,
       max(value) AS max,
       max(CASE WHEN rank = (50 * n + 99) / 100 THEN value END) AS p50,
       max(CASE WHEN rank = (95 * n + 99) / 100 THEN value END) AS p95,
       max(CASE WHEN rank = (99 * n + 99) / 100 THEN value END) AS p99
FROM ranked
GROUP BY name, labels_json
ORDER BY name, labels_json
