-- The sketch bucket holding :value_us (migrations/0005_sketches.sql).
-- Index: sketch_buckets' unique index on upper_us (one seek).
SELECT key FROM sketch_buckets WHERE upper_us >= :value_us ORDER BY upper_us LIMIT 1
