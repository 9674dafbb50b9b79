-- Whose database is this? Every object in the file, and how many of the
-- objects every multiagents schema has: the tables runs, workers and
-- workflows, and `events` (a table up to version 5, a view over event_rows
-- since version 6). Read before anything is written, in the same
-- transaction as `PRAGMA user_version`. sqlite_schema is a handful of rows:
-- a scan.
SELECT (SELECT count(*) FROM sqlite_schema) AS objects,
       (SELECT count(*) FROM sqlite_schema
         WHERE (type = 'table' AND (name = 'runs' OR name = 'workers' OR name = 'workflows'))
            OR ((type = 'table' OR type = 'view') AND name = 'events')) AS ours
