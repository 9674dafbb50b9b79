-- A maintenance command (cleanup) and what it did; not a run.
INSERT INTO maintenance_log (command, started_at_us, ended_at_us, version, host, details_json)
VALUES (:command, :started_at_us, :ended_at_us, :version, :host, :details_json)
