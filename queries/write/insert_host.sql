-- A worker host's name, the first time any run records it.
-- Index: the UNIQUE constraint on hosts.name (the conflict check).
INSERT INTO hosts (name) VALUES (:host) ON CONFLICT (name) DO NOTHING
