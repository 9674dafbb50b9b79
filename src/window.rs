//! Time windows: every monitoring question is asked over `[start, end)` in
//! microseconds, where `end` defaults to now and is fixed for offline analysis
//! (the end of a run, or `--until`), so the same command gives the same answer
//! days later.

use std::time::Duration;

/// A half-open time range `[start_us, end_us)` in microseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TimeWindow {
    /// First microsecond inside the window.
    pub start_us: i64,
    /// First microsecond after the window.
    pub end_us: i64,
}

/// A window or time that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// Not a duration like `5m`, `30s`, `1h30m`.
    #[error("invalid window {text:?}: {reason} (expected e.g. 30s, 5m, 2h, 1h30m)")]
    BadDuration {
        /// What the user gave.
        text: String,
        /// Why it was refused.
        reason: String,
    },
    /// A duration outside the range its option accepts.
    #[error("invalid duration {text:?}: must be from {range}")]
    OutOfRange {
        /// What the user gave.
        text: String,
        /// The accepted range, in words.
        range: &'static str,
    },
    /// Not a time like `2026-11-29T05:00:00Z`.
    #[error("invalid time {text:?}: expected RFC 3339 like 2026-11-29T05:00:00Z, or 'now'")]
    BadTime {
        /// What the user gave.
        text: String,
    },
}

impl TimeWindow {
    /// The window of length `length` that ends at `end_us`.
    pub fn ending_at(end_us: i64, length: Duration) -> Self {
        let len = i64::try_from(length.as_micros()).unwrap_or(i64::MAX);
        TimeWindow {
            start_us: end_us.saturating_sub(len),
            end_us,
        }
    }

    /// The window of the last `minutes` minutes, ending now: the seed's
    /// `time_window_minutes` argument.
    pub fn last_minutes(minutes: f64) -> Self {
        Self::ending_at(
            crate::clock::now_us(),
            Duration::from_secs_f64((minutes * 60.0).max(0.0)),
        )
    }

    /// Length of the window in microseconds.
    pub fn length_us(&self) -> i64 {
        self.end_us - self.start_us
    }

    /// Length of the window in minutes (for per-minute rates).
    pub fn minutes(&self) -> f64 {
        self.length_us() as f64 / 60_000_000.0
    }
}

/// Parses a window length such as `30s`, `5m`, `2h` or `1h30m`.
///
/// Zero, negative and unit-less values are refused: a window of nothing
/// answers no question, and a bare number is ambiguous.
pub fn parse_window(text: &str) -> Result<Duration, WindowError> {
    let bad = |reason: &str| WindowError::BadDuration {
        text: text.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = text.trim();
    if trimmed.starts_with('-') {
        return Err(bad("must be positive"));
    }
    let duration = humantime::parse_duration(trimmed).map_err(|e| bad(&e.to_string()))?;
    if duration.is_zero() {
        return Err(bad("must be positive"));
    }
    if i64::try_from(duration.as_micros()).is_err() {
        return Err(bad("too long"));
    }
    Ok(duration)
}

/// The lengths a duration option accepts: within them every computation
/// with the value (deadlines on the monotonic clock, microsecond windows,
/// per-minute rates) is exact and cannot overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationRange {
    /// Shortest accepted.
    pub min: Duration,
    /// Longest accepted.
    pub max: Duration,
    /// The range in words, as `--help` and errors show it.
    pub text: &'static str,
}

const DAY: u64 = 24 * 3600;

/// Windows of monitoring questions (`--window`, `cleanup --older-than`): a
/// millisecond to a hundred years.
pub const WINDOW_RANGE: DurationRange = DurationRange {
    min: Duration::from_millis(1),
    max: Duration::from_secs(36_500 * DAY),
    text: "1ms to 36500d",
};

/// How long something runs or waits (`load-test --duration`,
/// `--drain-timeout`, `soak --duration`): a millisecond to 30 days.
pub const RUN_RANGE: DurationRange = DurationRange {
    min: Duration::from_millis(1),
    max: Duration::from_secs(30 * DAY),
    text: "1ms to 30d",
};

/// How often a screen or a cache is refreshed (`dashboard --refresh`,
/// `serve --refresh`): 100 ms to an hour.
pub const REFRESH_RANGE: DurationRange = DurationRange {
    min: Duration::from_millis(100),
    max: Duration::from_secs(3600),
    text: "100ms to 1h",
};

impl DurationRange {
    /// Parses like [`parse_window`], then refuses a value outside the range.
    pub fn parse(&self, text: &str) -> Result<Duration, WindowError> {
        let d = parse_window(text)?;
        if d < self.min || d > self.max {
            return Err(WindowError::OutOfRange {
                text: text.to_string(),
                range: self.text,
            });
        }
        Ok(d)
    }
}

/// `--window` and `cleanup --older-than`: [`WINDOW_RANGE`].
pub fn parse_window_option(text: &str) -> Result<Duration, WindowError> {
    WINDOW_RANGE.parse(text)
}

/// How long something runs or waits: [`RUN_RANGE`].
pub fn parse_run_length(text: &str) -> Result<Duration, WindowError> {
    RUN_RANGE.parse(text)
}

/// A refresh interval: [`REFRESH_RANGE`].
pub fn parse_refresh(text: &str) -> Result<Duration, WindowError> {
    REFRESH_RANGE.parse(text)
}

/// Parses an absolute time: RFC 3339 (`2026-11-29T05:00:00Z`), the same
/// without a zone (read as UTC), or `now`.
pub fn parse_time(text: &str) -> Result<i64, WindowError> {
    let trimmed = text.trim();
    if trimmed.eq_ignore_ascii_case("now") {
        return Ok(crate::clock::now_us());
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(trimmed) {
        return Ok(t.timestamp_micros());
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(trimmed, format) {
            return Ok(t.and_utc().timestamp_micros());
        }
    }
    Err(WindowError::BadTime {
        text: text.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_common_forms() {
        assert_eq!(parse_window("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_window("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_window("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_window("250ms").unwrap(), Duration::from_millis(250));
    }

    #[test]
    fn bad_windows_are_refused_with_the_text() {
        for text in ["5x", "-1m", "0s", "", "m", "5", "99999999999999999999h"] {
            let err = parse_window(text).unwrap_err();
            assert!(err.to_string().contains(&format!("{text:?}")), "{err}");
        }
    }

    #[test]
    fn ranges_refuse_what_is_outside_them() {
        assert_eq!(parse_refresh("3s").unwrap(), Duration::from_secs(3));
        assert!(
            parse_refresh("10ms")
                .unwrap_err()
                .to_string()
                .contains("100ms to 1h")
        );
        assert!(parse_run_length("31d").is_err());
        assert!(parse_run_length("30d").is_ok());
        assert!(parse_window_option("36501d").is_err());
        assert!(parse_window_option("500us").is_err());
    }

    #[test]
    fn times_parse_rfc3339_and_naive_utc() {
        let t = parse_time("2023-11-14T22:13:20Z").unwrap();
        assert_eq!(t, 1_700_000_000_000_000);
        assert_eq!(parse_time("2023-11-14 22:13:20").unwrap(), t);
        assert!(parse_time("yesterday-ish").is_err());
    }

    #[test]
    fn window_ending_at_is_half_open_of_the_right_length() {
        let w = TimeWindow::ending_at(1_000_000_000, Duration::from_secs(60));
        assert_eq!(w.length_us(), 60_000_000);
        assert_eq!(w.minutes(), 1.0);
    }
}
