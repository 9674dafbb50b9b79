-- One input of a merge: the path as the user gave it, and how many of its
-- runs were copied or were already in OUT. Its id is the source_id of the
-- runs copied from it.
-- Index: none searched (an insert).
INSERT INTO main.merge_sources (path, merged_at_us, runs_added, runs_skipped)
VALUES (:path, :merged_at_us, :runs_added, :runs_skipped)
