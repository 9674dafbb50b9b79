-- Closing a run: the event-latency histogram counts its in-flight events,
-- each with the latency it is closed with (dispatch to :end_us, as
-- close_events.sql records), in the minute of :minute_us. Run before
-- close_events.sql, which ends them. Same buckets as
-- event_latency_histogram_events.sql (upper-inclusive ms, -1 = +Inf).
-- Index: primary-key range scan of the run's events.
INSERT INTO event_minute_latency_histogram (run_id, minute_us, le_ms, count)
SELECT :run_id, :minute_us, le_ms, count(*)
FROM (
    SELECT CASE
               WHEN latency_us <= 1000 THEN 1
               WHEN latency_us <= 5000 THEN 5
               WHEN latency_us <= 10000 THEN 10
               WHEN latency_us <= 25000 THEN 25
               WHEN latency_us <= 50000 THEN 50
               WHEN latency_us <= 100000 THEN 100
               WHEN latency_us <= 250000 THEN 250
               WHEN latency_us <= 500000 THEN 500
               WHEN latency_us <= 1000000 THEN 1000
               WHEN latency_us <= 2500000 THEN 2500
               WHEN latency_us <= 5000000 THEN 5000
               WHEN latency_us <= 10000000 THEN 10000
               ELSE -1
           END AS le_ms
    FROM (
        SELECT max(:end_us, dispatched_at_us) - dispatched_at_us AS latency_us
        FROM events
        WHERE id BETWEEN :first AND :last
          AND status = 'dispatched'
    )
)
GROUP BY le_ms
ON CONFLICT (minute_us, run_id, le_ms) DO UPDATE SET count = count + excluded.count
