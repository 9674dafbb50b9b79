-- The input's worker names that OUT does not know yet, in the input's
-- order. `WHERE true` tells SQLite's parser the ON CONFLICT is the upsert's.
-- Index: the unique index on workers (name).
INSERT INTO main.workers (name)
SELECT name FROM src.workers WHERE true ORDER BY id
ON CONFLICT (name) DO NOTHING
