-- A run of the input (:old_run) becomes run :new_run of OUT.
-- Index: the primary key of temp.merge_runs.
INSERT INTO temp.merge_runs (old_id, new_id) VALUES (:old_run, :new_run)
