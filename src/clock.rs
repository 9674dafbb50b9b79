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
///
/// Every `get_status` formats each history entry, so years 0-9999 are
/// written by hand (chrono's strftime parsing was ~7 % of a no-op
/// workflow's CPU); anything else goes through chrono.
pub fn format_iso(us: i64) -> String {
    // 9999-12-31T23:59:59.999999Z
    const MAX_US: i64 = 253_402_300_799_999_999;
    // 0000-01-01T00:00:00Z
    const MIN_US: i64 = -62_167_219_200_000_000;
    if !(MIN_US..=MAX_US).contains(&us) {
        return match chrono::DateTime::from_timestamp_micros(us) {
            Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            None => us.to_string(),
        };
    }
    let days = us.div_euclid(86_400_000_000);
    let in_day = us.rem_euclid(86_400_000_000);
    let (year, month, day) = civil_from_days(days);
    let (secs, micros) = (in_day / 1_000_000, in_day % 1_000_000);
    let mut out = [0u8; 27];
    let mut put = |at: usize, value: i64, width: usize| {
        let mut v = value;
        for i in (0..width).rev() {
            out[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, year, 4);
    put(5, month, 2);
    put(8, day, 2);
    put(11, secs / 3600, 2);
    put(14, secs / 60 % 60, 2);
    put(17, secs % 60, 2);
    put(20, micros, 6);
    for (at, c) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (26, b'Z'),
    ] {
        out[at] = c;
    }
    // Only ASCII digits and separators were written.
    String::from_utf8(out.to_vec()).unwrap_or_default()
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
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
    fn hand_written_iso_matches_chrono() {
        let chrono_iso = |us: i64| {
            chrono::DateTime::from_timestamp_micros(us)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                .to_string()
        };
        let mut us: i64 = -62_167_219_200_000_000;
        // Strides through every era, leap days and month ends included.
        while us < 253_402_300_799_999_999 {
            assert_eq!(format_iso(us), chrono_iso(us), "{us}");
            us += 7_919_999_999_997;
        }
        for us in [
            0,
            -1,
            951_782_400_000_000,
            951_868_799_999_999,
            253_402_300_799_999_999,
        ] {
            assert_eq!(format_iso(us), chrono_iso(us), "{us}");
        }
        assert_eq!(
            format_iso(253_402_300_800_000_000),
            chrono_iso(253_402_300_800_000_000)
        );
    }

    #[test]
    fn minute_start_truncates_down() {
        assert_eq!(minute_start_us(125_000_000), 120_000_000);
        assert_eq!(minute_start_us(120_000_000), 120_000_000);
    }
}
