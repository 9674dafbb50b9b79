-- An alert that stopped firing (a second resolution changes nothing).
-- Index: the primary key of alerts (:id).
UPDATE alerts SET resolved_at_us = :resolved_at_us WHERE id = :id AND resolved_at_us IS NULL
