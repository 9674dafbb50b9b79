//! Wall-clock time as integer microseconds since the Unix epoch, the unit of
//! every timestamp in the database.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch, now.
///
/// A clock before 1970 reads as 0 rather than failing: timestamps are for
/// people and windows, and a broken clock must not stop recording.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Formats microseconds since the epoch as ISO-8601 UTC with microseconds,
/// the same text the SQL views produce.
pub fn format_iso(us: i64) -> String {
    match chrono::DateTime::from_timestamp_micros(us) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        None => us.to_string(),
    }
}

/// Start of the minute that contains `us`, the key of the per-minute rollups.
pub fn minute_start_us(us: i64) -> i64 {
    us - us.rem_euclid(60_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_format_has_microseconds_and_utc_suffix() {
        assert_eq!(
            format_iso(1_700_000_000_123_456),
            "2023-11-14T22:13:20.123456Z"
        );
    }

    #[test]
    fn minute_start_truncates_down() {
        assert_eq!(minute_start_us(125_000_000), 120_000_000);
        assert_eq!(minute_start_us(120_000_000), 120_000_000);
    }
}
