-- One run's time bounds: its start, and its end — or, for a run that is
-- still going or was killed (no end recorded), the latest record of any
-- kind it wrote: a workflow's creation or end, an event's dispatch or end,
-- a system sample, a custom metric, an alert firing or resolving. Workflow
-- timestamps alone would cut off the tail of a killed run (events that
-- finished after its last workflow ended, samples taken while it idled).
--
-- Parameters:
--   :run_id  the run, or NULL for the newest run
--
-- Only evaluated for a run without an end (coalesce stops at the first
-- non-NULL). Index: the run's workflows and events are rowid ranges (ids
-- are (run_id << 40) | sequence); samples, metrics and alerts by run use
-- system_samples_by_run, custom_metrics_by_run and alerts_by_run
-- (migration 0002).
SELECT r.id,
       r.started_at_us,
       coalesce(r.ended_at_us,
                max(r.started_at_us,
                    coalesce((SELECT max(max(w.created_at_us, coalesce(w.ended_at_us, 0))) FROM workflows w
                               WHERE w.id BETWEEN (r.id << 40) AND (r.id << 40) + 1099511627775), 0),
                    coalesce((SELECT max(max(e.dispatched_at_us, coalesce(e.finished_at_us, 0))) FROM events e
                               WHERE e.id BETWEEN (r.id << 40) AND (r.id << 40) + 1099511627775), 0),
                    coalesce((SELECT max(s.sampled_at_us) FROM system_samples s WHERE s.run_id = r.id), 0),
                    coalesce((SELECT max(m.recorded_at_us) FROM custom_metrics m WHERE m.run_id = r.id), 0),
                    coalesce((SELECT max(max(a.fired_at_us, coalesce(a.resolved_at_us, 0))) FROM alerts a
                               WHERE a.run_id = r.id), 0))) AS ended_at_us,
       r.ended_at_us IS NULL AS unfinished
FROM runs r
WHERE r.id = coalesce(:run_id, (SELECT max(id) FROM runs))
