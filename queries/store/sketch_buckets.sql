-- The sketch buckets, for the writer to put values in the same buckets as
-- the queries' lookup (key, upper bound), by upper bound.
-- Index: sketch_buckets' unique index on upper_us.
SELECT key, upper_us FROM sketch_buckets ORDER BY upper_us
