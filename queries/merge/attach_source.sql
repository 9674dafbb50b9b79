-- Attaches an input file of `multiagents merge` read-only: :uri is a
-- `file:` URI with mode=ro (SQLite opens it as a read-only reader does,
-- never writing, checkpointing or rolling back anything in it), :schema the
-- name the copy statements of this directory read it by (`src`, then
-- `src2`, ... for further inputs of the same merge).
-- Index: none (no table is read).
ATTACH DATABASE :uri AS :schema
