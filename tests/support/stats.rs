//! The percentile definition the tests check the SQL against: nearest rank,
//! computed here in Rust from the generated values. Only tests use it (the
//! library computes percentiles in SQL), so it lives with them.

/// The `p`-th percentile of `sorted` (ascending) by the nearest-rank method:
/// the smallest value such that at least `p` % of the values are less than
/// or equal to it. Its rank is `ceil(p / 100 × n)`, at least 1.
///
/// Always one of the values (no interpolation), which is what the SQL form
/// `ORDER BY duration LIMIT 1 OFFSET rank - 1` returns too. `None` for an
/// empty slice or a `p` outside `0..=100` (or NaN). `p = 0` gives the
/// minimum, `p = 100` the maximum.
pub fn nearest_rank<T>(sorted: &[T], p: f64) -> Option<&T> {
    if sorted.is_empty() || !(0.0..=100.0).contains(&p) {
        return None;
    }
    let n = sorted.len();
    // p × n before dividing keeps whole percentages exact (95 × 20 / 100 is
    // 19, where 0.95 × 20 may round up to 19.000000000000004).
    let rank = (p * n as f64 / 100.0).ceil();
    let rank = (rank as usize).clamp(1, n);
    sorted.get(rank - 1)
}
