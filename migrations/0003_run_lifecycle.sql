-- multiagents schema, version 3: how each run ended, and how a later process
-- tells a live run from one whose process died (docs/storage.md, "Run
-- lifecycle").

-- running: the process is (believed to be) recording; completed: it ended
-- normally; interrupted: it stopped on SIGINT/SIGTERM and closed the run;
-- crashed: its process died without closing it, and a later process did.
ALTER TABLE runs ADD COLUMN status TEXT NOT NULL DEFAULT 'running'
    CHECK (status = 'running' OR status = 'completed' OR status = 'interrupted' OR
           status = 'crashed');
-- Why it ended, in words ("interrupted by SIGINT", "process 123 is gone").
ALTER TABLE runs ADD COLUMN end_reason TEXT;
-- Who records it. Same host and boot and pid namespace: the run is alive
-- while /proc/<pid> exists with the same start time (field 22 of
-- /proc/<pid>/stat, clock ticks since boot), so a recycled pid is not
-- mistaken for it. Otherwise the heartbeat decides.
ALTER TABLE runs ADD COLUMN pid INTEGER;
ALTER TABLE runs ADD COLUMN process_start_ticks INTEGER;
ALTER TABLE runs ADD COLUMN boot_id TEXT;        -- /proc/sys/kernel/random/boot_id
ALTER TABLE runs ADD COLUMN pid_namespace TEXT;  -- readlink /proc/self/ns/pid
-- Updated by the writer every few seconds while the run records: the
-- evidence of life for a run from another host (stale after 30 s).
ALTER TABLE runs ADD COLUMN heartbeat_at_us INTEGER;

-- Runs recorded before this version that ended were ended normally.
UPDATE runs SET status = 'completed', end_reason = 'ended' WHERE ended_at_us IS NOT NULL;

-- Runs still recording (or dead and not yet closed): the liveness check
-- (queries/lifecycle/running_runs.sql) reads only these.
CREATE INDEX runs_running ON runs (id) WHERE status = 'running';

-- Why an alert stopped firing: NULL when its condition cleared, otherwise
-- the end of its run ("run ended", "run crashed: ...").
ALTER TABLE alerts ADD COLUMN resolved_reason TEXT;

-- Maintenance commands (cleanup) are not runs: they record what they did
-- here, so that `--run latest` stays the latest run that recorded something.
CREATE TABLE maintenance_log (
    id             INTEGER PRIMARY KEY,
    command        TEXT    NOT NULL,  -- the command line
    started_at_us  INTEGER NOT NULL,
    ended_at_us    INTEGER,
    version        TEXT    NOT NULL,
    host           TEXT    NOT NULL,
    details_json   TEXT    NOT NULL DEFAULT '{}'  -- what it did (rows deleted, runs closed)
) STRICT;

-- Earlier versions registered each `cleanup` as a run. Those that recorded
-- nothing move to the maintenance log.
CREATE TEMP TABLE cleanup_runs AS
SELECT r.id
FROM runs r
WHERE (' ' || r.command || ' ') LIKE '% cleanup %'
  AND NOT EXISTS (SELECT 1 FROM workflows w
                   WHERE w.id BETWEEN (r.id << 40) AND (r.id << 40) + 1099511627775)
  AND NOT EXISTS (SELECT 1 FROM system_samples s WHERE s.run_id = r.id)
  AND NOT EXISTS (SELECT 1 FROM custom_metrics m WHERE m.run_id = r.id)
  AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.run_id = r.id);
INSERT INTO maintenance_log (command, started_at_us, ended_at_us, version, host, details_json)
SELECT command, started_at_us, ended_at_us, version, host, json_object('was_run', id)
FROM runs WHERE id IN (SELECT id FROM temp.cleanup_runs);
DELETE FROM runs WHERE id IN (SELECT id FROM temp.cleanup_runs);
DROP TABLE temp.cleanup_runs;

DROP VIEW runs_view;
CREATE VIEW runs_view AS
SELECT id AS run_id, status,
       strftime('%Y-%m-%dT%H:%M:%fZ', started_at_us / 1e6, 'unixepoch') AS started_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', ended_at_us / 1e6, 'unixepoch')   AS ended_at,
       end_reason, command, version, host, pid
FROM runs;

DROP VIEW alerts_view;
CREATE VIEW alerts_view AS
SELECT id AS alert_id, run_id, alert_type, subject, severity, message, value, threshold,
       strftime('%Y-%m-%dT%H:%M:%fZ', fired_at_us / 1e6, 'unixepoch')    AS fired_at,
       strftime('%Y-%m-%dT%H:%M:%fZ', resolved_at_us / 1e6, 'unixepoch') AS resolved_at,
       resolved_reason
FROM alerts;
