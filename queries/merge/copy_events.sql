-- The events of the runs being copied, renumbered as their workflows
-- (copy_workflows.sql): id and workflow_id keep their sequence under the
-- new run; the worker and the host by name (temp.merge_workers,
-- temp.merge_hosts; NULL host: the orchestrator's own process).
-- Index: per run, a primary-key range scan of src.event_rows; the maps by
-- their primary keys. OUT's rows are appended in id order.
INSERT INTO main.event_rows (id, workflow_id, compensation, step, worker_id, attempt, status_code,
                             dispatched_at_us, picked_up_after_us, processing_after_us,
                             finished_at_us, duration_us, payload_size_bytes, result_size_bytes,
                             error_type, error_message, host_id)
SELECT (m.new_id << 40) | (e.id & 1099511627775),
       (m.new_id << 40) | (e.workflow_id & 1099511627775),
       e.compensation, e.step,
       (SELECT k.new_id FROM temp.merge_workers k WHERE k.old_id = e.worker_id),
       e.attempt, e.status_code, e.dispatched_at_us, e.picked_up_after_us, e.processing_after_us,
       e.finished_at_us, e.duration_us, e.payload_size_bytes, e.result_size_bytes, e.error_type,
       e.error_message,
       (SELECT h.new_id FROM temp.merge_hosts h WHERE h.old_id = e.host_id)
FROM temp.merge_runs m
CROSS JOIN src.event_rows e
WHERE m.old_id > 0
  AND e.id BETWEEN m.old_id << 40 AND (m.old_id << 40) | 1099511627775
ORDER BY m.old_id, e.id
