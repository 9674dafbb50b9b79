-- The id of a worker host by name.
-- Index: the UNIQUE constraint on hosts.name.
SELECT id FROM hosts WHERE name = :host
