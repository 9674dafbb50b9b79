-- Runs not closed yet: still recording, or dead and waiting for a later
-- process to close them. With what tells the two apart (partial index
-- runs_running, which holds exactly these rows).
SELECT id, started_at_us, host, pid, process_start_ticks, boot_id, pid_namespace, heartbeat_at_us
FROM runs
WHERE status = 'running'
ORDER BY id
