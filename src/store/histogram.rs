//! The duration buckets of the per-minute histograms
//! (`worker_minute_histogram`, `event_minute_latency_histogram`).
//!
//! Its own module because both the writer (which fills the buckets) and the
//! run lifecycle (which counts a crashed run's cancelled events into the
//! fastest bucket) need it; in either of them the other would have to
//! import it back, a circle.

/// Upper bounds (ms) of the duration histogram buckets kept per worker and
/// minute; the last bucket (`-1`) is everything slower.
pub const HISTOGRAM_BOUNDS_MS: &[i64] = &[1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/// The histogram bucket (its `le_ms`) a duration falls into.
pub fn histogram_bucket(duration_us: i64) -> i64 {
    HISTOGRAM_BOUNDS_MS
        .iter()
        .copied()
        .find(|&le| duration_us <= le * 1000)
        .unwrap_or(-1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_upper_inclusive() {
        assert_eq!(histogram_bucket(0), 1);
        assert_eq!(histogram_bucket(1_000), 1);
        assert_eq!(histogram_bucket(1_001), 5);
        assert_eq!(histogram_bucket(10_000_000), 10_000);
        assert_eq!(histogram_bucket(10_000_001), -1);
    }
}
