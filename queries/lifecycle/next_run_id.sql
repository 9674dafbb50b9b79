-- The id the next run will get (AUTOINCREMENT: one more than the largest id
-- ever used, kept in sqlite_sequence).
SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'runs'), 0),
           coalesce((SELECT max(id) FROM runs), 0)) + 1
