-- Where the run's sketches stop being complete in the file (NULL: complete).
-- Index: the primary key of runs (:run_id).
SELECT sketched_until_us FROM runs WHERE id = :run_id
