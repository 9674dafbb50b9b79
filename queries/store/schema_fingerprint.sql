-- Whose database is this? Every object in the file, and how many of the
-- tables every multiagents schema has. Read before anything is written, in
-- the same transaction as `PRAGMA user_version`. sqlite_schema is a handful
-- of rows: a scan.
SELECT (SELECT count(*) FROM sqlite_schema) AS objects,
       (SELECT count(*) FROM sqlite_schema
         WHERE type = 'table'
           AND (name = 'runs' OR name = 'workers' OR name = 'workflows' OR name = 'events')) AS ours
