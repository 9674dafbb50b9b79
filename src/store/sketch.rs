//! Duration and latency sketches per worker, minute and hour
//! (`migrations/0005_sketches.sql`): log-spaced buckets whose
//! representative value is within 1 % of any value in the bucket, so a
//! percentile read from merged sketches is within 1 % of the exact
//! nearest-rank value.
//!
//! The bucket bounds live in the file (`sketch_buckets`), built once by
//! the migration; the writer loads them ([`SketchBuckets::load`]) and the
//! queries look raw values up in the same table, so a value lands in the
//! same bucket whoever puts it there.
//!
//! The writer sums a live run's minutes in memory (`writer::sketch`) and adds
//! them to the file one minute behind its latest event, moving the run's
//! `sketched_until_us` forward in the same transaction: the file always
//! holds complete sketches before it and none at or after it. An event
//! that ends in a minute already added (late) is added with its batch.
//! Closing a run (normally or after a crash) builds the minutes after
//! `sketched_until_us`: from memory when the writer closes its own run,
//! from the raw rows ([`super::lifecycle`]) when its process died.

/// One minute in microseconds.
pub const MINUTE_US: i64 = 60_000_000;
/// One hour in microseconds.
pub const HOUR_US: i64 = 3_600_000_000;

/// The largest relative error of a percentile read from a sketch, against
/// the exact nearest-rank value of the same rows (strictly less).
pub const RELATIVE_ERROR: f64 = 0.01;

/// The bucket bounds of `sketch_buckets`, sorted by upper bound.
#[derive(Debug, Clone, PartialEq)]
pub struct SketchBuckets {
    uppers: Vec<i64>,
    keys: Vec<i64>,
}

impl SketchBuckets {
    /// Reads the buckets from the file.
    pub fn load(conn: &rusqlite::Connection) -> rusqlite::Result<Self> {
        let mut stmt = conn.prepare(crate::sql::store::SKETCH_BUCKETS)?;
        let rows = stmt
            .query_map([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let (keys, uppers) = rows.into_iter().unzip();
        Ok(SketchBuckets { uppers, keys })
    }

    /// The key of the bucket holding `x`: that of the first bucket whose
    /// upper bound is at least `x` (the last bucket's is `i64::MAX`).
    pub fn key(&self, x: i64) -> i64 {
        let i = self.uppers.partition_point(|&u| u < x);
        self.keys.get(i).or(self.keys.last()).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::migrate;

    fn buckets() -> SketchBuckets {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrate::migrate(&mut conn, std::path::Path::new(":memory:")).unwrap();
        SketchBuckets::load(&conn).unwrap()
    }

    #[test]
    fn every_value_is_within_one_percent_of_its_buckets_value() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrate::migrate(&mut conn, std::path::Path::new(":memory:")).unwrap();
        let b = SketchBuckets::load(&conn).unwrap();
        let mut stmt = conn
            .prepare("SELECT key, lower_us, upper_us, value_us FROM sketch_buckets WHERE key >= 0 AND upper_us < 9223372036854775807")
            .unwrap();
        let rows: Vec<(i64, i64, i64, f64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(rows.len() > 1000, "{} buckets", rows.len());
        assert!(rows.last().unwrap().2 > 10_000_000_000_000);
        let mut prev_upper = 0;
        for (key, lower, upper, value) in rows {
            assert_eq!(lower, prev_upper + 1, "buckets are contiguous at {key}");
            prev_upper = upper;
            for x in [lower, upper] {
                assert_eq!(b.key(x), key);
                assert!(
                    (value - x as f64).abs() / (x as f64) < RELATIVE_ERROR,
                    "{x} in {key}"
                );
            }
        }
        assert_eq!(b.key(0), -1);
        assert_eq!(b.key(-5), -1);
        assert_eq!(b.key(1), 0);
        assert_eq!(b.key(i64::MAX), b.key(prev_upper + 1));
    }

    #[test]
    fn the_sql_lookup_and_the_writers_agree() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrate::migrate(&mut conn, std::path::Path::new(":memory:")).unwrap();
        let b = buckets();
        let mut stmt = conn
            .prepare(
                "SELECT key FROM sketch_buckets WHERE upper_us >= ?1 ORDER BY upper_us LIMIT 1",
            )
            .unwrap();
        let mut x: i64 = 0;
        while x < 100_000_000_000 {
            let sql: i64 = stmt.query_row([x], |r| r.get(0)).unwrap();
            assert_eq!(sql, b.key(x), "{x}");
            x = x * 11 / 10 + 1;
        }
    }
}
