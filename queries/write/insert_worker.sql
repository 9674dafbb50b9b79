-- A worker name, the first time any run records it.
-- Index: the UNIQUE constraint on workers.name (the conflict check).
INSERT INTO workers (name) VALUES (:worker) ON CONFLICT (name) DO NOTHING
