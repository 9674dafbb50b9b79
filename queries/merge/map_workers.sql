-- Each worker id of the input, and OUT's id of the same name.
-- Index: the unique index on main.workers (name), per worker of the input.
INSERT INTO temp.merge_workers (old_id, new_id)
SELECT s.id, m.id FROM src.workers s JOIN main.workers m ON m.name = s.name
