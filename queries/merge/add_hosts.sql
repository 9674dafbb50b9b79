-- The input's host names that OUT does not know yet, in the input's order.
-- Index: the unique index on hosts (name).
INSERT INTO main.hosts (name)
SELECT name FROM src.hosts WHERE true ORDER BY id
ON CONFLICT (name) DO NOTHING
