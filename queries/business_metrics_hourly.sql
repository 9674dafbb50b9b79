-- Hourly rollup of one metric (e.g. the seed's `order_value`) over
-- [:window_start, :window_end), all label sets together, for one run
-- (:run_id) or every run (:run_id NULL): per UTC hour, keyed
-- "YYYY-MM-DD-HH" as the seed's CustomMetricsCollector keys it, the number of
-- observations, their sum, maximum and minimum.
-- Uses custom_metrics_by_name_time (name = :name, range on the time).
SELECT strftime('%Y-%m-%d-%H', recorded_at_us / 1000000, 'unixepoch') AS hour,
       count(*)   AS total_orders,
       sum(value) AS total_value,
       max(value) AS max_value,
       min(value) AS min_value
FROM custom_metrics
WHERE name = :name
  AND recorded_at_us >= :window_start
  AND recorded_at_us < :window_end
  AND (:run_id IS NULL OR run_id = :run_id)
GROUP BY hour
ORDER BY hour
