-- Workflows that never ended, created before the cutoff, of runs that are
-- over (ended, or closed as crashed). A run still recording keeps its
-- workflows in flight however old they are: deleting one would make its
-- writer's next event for it fail on the foreign key.
-- Index: workflows_active for the unfinished rows; runs by primary key.
SELECT w.id
FROM workflows w
WHERE w.ended_at_us IS NULL
  AND w.created_at_us < :cutoff_us
  AND w.run_id IN (SELECT r.id FROM runs r WHERE r.status <> 'running')
LIMIT :limit
