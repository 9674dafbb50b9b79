-- Run :old_run of the input as run :new_run of OUT: every column as
-- recorded (status, end, process identity, heartbeat, how far its sketches
-- are complete), with the merge source it came from and its origin.
-- Index: the primary key of src.runs.
INSERT INTO main.runs (id, started_at_us, ended_at_us, command, config_json, version, host, status,
                       end_reason, pid, process_start_ticks, boot_id, pid_namespace, heartbeat_at_us,
                       sketched_until_us, source_id, origin)
SELECT :new_run, started_at_us, ended_at_us, command, config_json, version, host, status,
       end_reason, pid, process_start_ticks, boot_id, pid_namespace, heartbeat_at_us,
       sketched_until_us, :source_id, :origin
FROM src.runs
WHERE id = :old_run
