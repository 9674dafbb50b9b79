//! Small statistics helpers shared by the monitors and reports.

/// The `p`-th percentile of `sorted` (ascending) by the nearest-rank method:
/// the smallest value such that at least `p` % of the values are less than
/// or equal to it. Its rank is `ceil(p / 100 × n)`, at least 1.
///
/// Always one of the values (no interpolation), which is what the SQL form
/// `ORDER BY duration LIMIT 1 OFFSET rank - 1` returns too. `None` for an
/// empty slice or a `p` outside `0..=100` (or NaN). `p = 0` gives the
/// minimum, `p = 100` the maximum.
///
/// ```
/// use multiagents::stats::nearest_rank;
/// let durations = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
/// assert_eq!(nearest_rank(&durations, 50.0), Some(&50));
/// assert_eq!(nearest_rank(&durations, 95.0), Some(&100));
/// assert_eq!(nearest_rank(&durations, 0.0), Some(&10));
/// assert_eq!(nearest_rank::<i32>(&[], 50.0), None);
/// ```
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition, by counting: the smallest value `v` of the data with
    /// `count(x <= v) >= p% of n`.
    fn naive<T: Ord + Clone>(values: &[T], p: f64) -> Option<T> {
        let mut sorted = values.to_vec();
        sorted.sort();
        let n = values.len() as f64;
        sorted
            .iter()
            .find(|v| {
                let at_most = values.iter().filter(|x| x <= v).count() as f64;
                at_most * 100.0 >= p * n
            })
            .cloned()
    }

    #[test]
    fn whole_percentages_of_twenty_values() {
        let v: Vec<i64> = (1..=20).collect();
        assert_eq!(nearest_rank(&v, 95.0), Some(&19));
        assert_eq!(nearest_rank(&v, 5.0), Some(&1));
        assert_eq!(nearest_rank(&v, 100.0), Some(&20));
        assert_eq!(nearest_rank(&v, 100.5), None);
        assert_eq!(nearest_rank(&v, -1.0), None);
        assert_eq!(nearest_rank(&v, f64::NAN), None);
    }

    proptest! {
        #[test]
        fn matches_the_counting_definition(
            values in proptest::collection::vec(-1000i64..1000, 1..200),
            p in prop_oneof![(0u32..=100).prop_map(f64::from), 0.0f64..=100.0],
        ) {
            let mut sorted = values.clone();
            sorted.sort();
            prop_assert_eq!(nearest_rank(&sorted, p).cloned(), naive(&values, p));
        }

        #[test]
        fn is_monotonic_in_p(
            values in proptest::collection::vec(any::<u16>(), 1..100),
            a in 0.0f64..=100.0,
            b in 0.0f64..=100.0,
        ) {
            let mut sorted = values;
            sorted.sort();
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(nearest_rank(&sorted, lo) <= nearest_rank(&sorted, hi));
        }
    }
}
