-- Recorded runs, newest first, with what each recorded. Workflow counts use
-- the id range of each run (ids are (run_id << 40) | sequence), so they are
-- primary-key range scans.
SELECT r.id AS run_id,
       r.started_at_us,
       r.ended_at_us,
       r.command,
       r.version,
       r.host,
       (SELECT count(*) FROM workflows w
         WHERE w.id BETWEEN (r.id << 40) AND (r.id << 40) + 1099511627775) AS workflows,
       (SELECT count(*) FROM workflows w
         WHERE w.id BETWEEN (r.id << 40) AND (r.id << 40) + 1099511627775
           AND w.ended_at_us IS NULL) AS unfinished,
       r.status,
       r.end_reason
FROM runs r
ORDER BY r.id DESC
LIMIT :limit
