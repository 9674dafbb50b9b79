-- One run's time bounds: its start, and its end (or, for a run that is
-- still going or crashed, the last thing it recorded).
SELECT r.id,
       r.started_at_us,
       coalesce(r.ended_at_us,
                (SELECT max(coalesce(w.ended_at_us, w.created_at_us)) FROM workflows w
                  WHERE w.id BETWEEN (r.id << 40) AND (r.id << 40) + 1099511627775),
                r.started_at_us) AS ended_at_us,
       r.ended_at_us IS NULL AS unfinished
FROM runs r
WHERE r.id = coalesce(:run_id, (SELECT max(id) FROM runs))
