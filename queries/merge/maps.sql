-- The maps from an input's ids to OUT's, for the copy statements of this
-- directory: its runs (old id -> new id; run 0, the rollup rows of no run
-- from before schema version 4, maps to 0 when they are copied), its
-- workers and its hosts (by name). Temporary: they live in the merging
-- connection only, never in OUT. Emptied for each input (clear_maps.sql).
-- Index: each map's primary key (old_id), which the copies look up.
CREATE TEMP TABLE IF NOT EXISTS merge_runs (
    old_id  INTEGER PRIMARY KEY,
    new_id  INTEGER NOT NULL
);
CREATE TEMP TABLE IF NOT EXISTS merge_workers (
    old_id  INTEGER PRIMARY KEY,
    new_id  INTEGER NOT NULL
);
CREATE TEMP TABLE IF NOT EXISTS merge_hosts (
    old_id  INTEGER PRIMARY KEY,
    new_id  INTEGER NOT NULL
);
