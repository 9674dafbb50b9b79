-- The run's sketches are complete in the file before :until_us (the writer
-- added the minutes it held in memory in this transaction); NULL: complete
-- (the run is closing and the writer added every minute it held).
-- Index: the primary key of runs (:run_id).
UPDATE runs SET sketched_until_us = :until_us WHERE id = :run_id AND sketched_until_us IS NOT NULL
