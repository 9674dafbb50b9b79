-- A new run, with the identity of the process recording it (see
-- docs/storage.md, "Run lifecycle") and a first heartbeat.
-- Index: none searched (an insert); runs_running gains the new row.
INSERT INTO runs (started_at_us, command, config_json, version, host, status, pid,
                  process_start_ticks, boot_id, pid_namespace, heartbeat_at_us, sketched_until_us)
VALUES (:started_at_us, :command, :config_json, :version, :host, 'running', :pid,
        :process_start_ticks, :boot_id, :pid_namespace, :started_at_us,
        (:started_at_us / 60000000) * 60000000)
