//! How counts and durations from SQL become the figures of every answer:
//! percentages, milliseconds and means, with an empty window reading as
//! zeros (the definitions are in `docs/figures.md`).

/// `part / total` as a percentage; 0 for an empty total so that an empty
/// window reads as zeros, never NaN.
pub(crate) fn percent(part: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        part as f64 * 100.0 / total as f64
    }
}

/// A count column as `u64`. Counts are never negative; a negative one would
/// be a broken query, reported rather than wrapped.
pub(crate) fn get_count(row: &rusqlite::Row<'_>, column: &str) -> rusqlite::Result<u64> {
    let value: i64 = row.get(column)?;
    u64::try_from(value).map_err(|_| {
        rusqlite::Error::IntegralValueOutOfRange(
            row.as_ref().column_index(column).unwrap_or(0),
            value,
        )
    })
}

/// Microseconds as milliseconds, the unit of every duration in output.
pub(crate) fn us_to_ms(us: i64) -> f64 {
    us as f64 / 1000.0
}

/// `sum_us / n` in milliseconds; 0 when there is nothing to average.
pub(crate) fn mean_ms(sum_us: i64, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        sum_us as f64 / n as f64 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_totals_give_zero_not_nan() {
        assert_eq!(percent(0, 0), 0.0);
        assert_eq!(mean_ms(0, 0), 0.0);
        assert_eq!(percent(1, 4), 25.0);
        assert_eq!(mean_ms(3_000, 2), 1.5);
    }
}
