-- Cumulative buckets of one custom histogram (:name) per label set over
-- [:window_start, :window_end) for one run (:run_id) or every run (:run_id
-- NULL), for the Prometheus exposition: for each upper bound of :bounds (a
-- JSON array of increasing numbers, from the configuration) the
-- observations at most that bound, with the count and sum of every
-- observation of the label set (the +Inf bucket is the count). One
-- statement, one snapshot: buckets, count and sum always agree.
-- Index: custom_metrics_by_name_time (name, recorded_at_us); json_each
-- reads the handful of bounds.
SELECT m.labels_json,
       json_each.key                   AS bound_index,
       sum(m.value <= json_each.value) AS le_count,
       count(*)                        AS count,
       total(m.value)                  AS sum
FROM custom_metrics m
CROSS JOIN json_each(:bounds)
WHERE m.name = :name
  AND m.recorded_at_us >= :window_start
  AND m.recorded_at_us < :window_end
  AND (:run_id IS NULL OR m.run_id = :run_id)
  AND m.metric_type = 'histogram'
GROUP BY m.labels_json, json_each.key
ORDER BY m.labels_json, json_each.key
