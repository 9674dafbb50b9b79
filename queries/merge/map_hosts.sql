-- Each host id of the input, and OUT's id of the same name.
-- Index: the unique index on main.hosts (name), per host of the input.
INSERT INTO temp.merge_hosts (old_id, new_id)
SELECT s.id, m.id FROM src.hosts s JOIN main.hosts m ON m.name = s.name
