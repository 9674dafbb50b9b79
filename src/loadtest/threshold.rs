//! Pass/fail criteria in k6's spirit: `p95<500ms`, `success>=0.99`,
//! `error_rate<0.01`, or one workflow's, `order_processing:p99<2s`.
//!
//! A threshold names a metric, a comparison and a value:
//! - latency metrics (created → ended, nearest-rank like the report):
//!   `p50`, `p90`, `p95`, `p99`, `p99.9`, `avg`, `max`, compared with a
//!   duration (`500ms`, `2s`, `1.5s`, `250us`, `1m`, `1h`; a bare number is
//!   milliseconds, as in k6);
//! - `success` (completed / ended) and `error_rate` (1 − success), compared
//!   with a ratio (`0.99`) or a percentage (`99%`);
//! - `rate`: workflows started per second over the load phase (overall
//!   only).
//!
//! The comparisons are `<`, `<=`, `>`, `>=`, `==` and `!=`. A threshold is
//! broken when the comparison does not hold, or when there is nothing to
//! measure (no workflow of that name ended): a criterion cannot pass on no
//! evidence.

use std::fmt;

use serde::Serialize;

/// What a threshold measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Median latency.
    P50,
    /// 90th percentile latency.
    P90,
    /// 95th percentile latency.
    P95,
    /// 99th percentile latency.
    P99,
    /// 99.9th percentile latency.
    P999,
    /// Mean latency.
    Avg,
    /// Longest latency.
    Max,
    /// completed / ended.
    Success,
    /// 1 − success.
    ErrorRate,
    /// Workflows started per second.
    Rate,
}

impl Metric {
    const NAMES: [(&'static str, Metric); 10] = [
        ("p50", Metric::P50),
        ("p90", Metric::P90),
        ("p95", Metric::P95),
        ("p99", Metric::P99),
        ("p99.9", Metric::P999),
        ("avg", Metric::Avg),
        ("max", Metric::Max),
        ("success", Metric::Success),
        ("error_rate", Metric::ErrorRate),
        ("rate", Metric::Rate),
    ];

    /// The name written in a threshold.
    pub fn name(self) -> &'static str {
        Metric::NAMES
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("?", |(n, _)| n)
    }

    /// Whether the metric is a latency (its values are milliseconds).
    pub fn is_latency(self) -> bool {
        matches!(
            self,
            Metric::P50
                | Metric::P90
                | Metric::P95
                | Metric::P99
                | Metric::P999
                | Metric::Avg
                | Metric::Max
        )
    }
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Comparison {
    /// `<`
    #[serde(rename = "<")]
    Less,
    /// `<=`
    #[serde(rename = "<=")]
    LessOrEqual,
    /// `>`
    #[serde(rename = ">")]
    Greater,
    /// `>=`
    #[serde(rename = ">=")]
    GreaterOrEqual,
    /// `==`
    #[serde(rename = "==")]
    Equal,
    /// `!=`
    #[serde(rename = "!=")]
    NotEqual,
}

impl Comparison {
    /// Longest first, so that `<=` is not read as `<`.
    const SYMBOLS: [(&'static str, Comparison); 6] = [
        ("<=", Comparison::LessOrEqual),
        (">=", Comparison::GreaterOrEqual),
        ("==", Comparison::Equal),
        ("!=", Comparison::NotEqual),
        ("<", Comparison::Less),
        (">", Comparison::Greater),
    ];

    fn symbol(self) -> &'static str {
        Comparison::SYMBOLS
            .iter()
            .find(|(_, c)| *c == self)
            .map_or("?", |(s, _)| s)
    }

    /// Whether `measured <op> limit` holds.
    pub fn holds(self, measured: f64, limit: f64) -> bool {
        match self {
            Comparison::Less => measured < limit,
            Comparison::LessOrEqual => measured <= limit,
            Comparison::Greater => measured > limit,
            Comparison::GreaterOrEqual => measured >= limit,
            Comparison::Equal => measured == limit,
            Comparison::NotEqual => measured != limit,
        }
    }
}

/// One criterion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Threshold {
    /// As written.
    pub expression: String,
    /// The workflow it is about; `None` for all together.
    pub workflow: Option<String>,
    /// What is measured.
    pub metric: Metric,
    /// How it is compared.
    pub comparison: Comparison,
    /// The limit: milliseconds for latencies, a ratio (0–1) for success and
    /// error_rate, workflows per second for rate.
    pub limit: f64,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expression)
    }
}

/// Parses one threshold; the error names the part that is wrong.
pub fn parse_threshold(text: &str) -> Result<Threshold, String> {
    let expression = text.trim();
    let bad = |what: String| format!("invalid threshold {expression:?}: {what}");
    let (at, comparison) = Comparison::SYMBOLS
        .iter()
        .filter_map(|(symbol, c)| expression.find(symbol).map(|i| (i, (symbol, *c))))
        .min_by_key(|(i, (symbol, _))| (*i, std::cmp::Reverse(symbol.len())))
        .ok_or_else(|| bad("no comparison (one of <, <=, >, >=, ==, !=)".into()))?;
    let (left, right) = (&expression[..at], &expression[at + comparison.0.len()..]);
    let comparison = comparison.1;
    // `order_processing:p99`: the metric is after the last ':' (workflow
    // names may hold ':').
    let (workflow, metric) = match left.rsplit_once(':') {
        Some((w, m)) => {
            let w = w.trim();
            if w.is_empty() {
                return Err(bad("empty workflow name before ':'".into()));
            }
            (Some(w.to_string()), m.trim())
        }
        None => (None, left.trim()),
    };
    let metric = Metric::NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(metric))
        .map(|(_, m)| *m)
        .ok_or_else(|| {
            bad(format!(
                "unknown metric {metric:?} (expected p50, p90, p95, p99, p99.9, avg, max, success, error_rate or rate)"
            ))
        })?;
    if metric == Metric::Rate && workflow.is_some() {
        return Err(bad(
            "rate is measured for all workflows together only".into()
        ));
    }
    let value = right.trim();
    if value.is_empty() {
        return Err(bad("no value after the comparison".into()));
    }
    let limit = if metric.is_latency() {
        parse_latency_ms(value).ok_or_else(|| {
            bad(format!(
                "value {value:?} is not a duration (e.g. 500ms, 2s, 1.5s; a bare number is milliseconds)"
            ))
        })?
    } else if metric == Metric::Rate {
        value
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| {
                bad(format!(
                    "value {value:?} is not a rate (workflows per second)"
                ))
            })?
    } else {
        parse_ratio(value).ok_or_else(|| {
            bad(format!(
                "value {value:?} is not a ratio from 0 to 1 or a percentage (e.g. 0.99 or 99%)"
            ))
        })?
    };
    Ok(Threshold {
        expression: expression.to_string(),
        workflow,
        metric,
        comparison,
        limit,
    })
}

/// `500ms`, `2s`, `1.5s`, `250us`, `1m`, `1h`, or a bare number of
/// milliseconds.
fn parse_latency_ms(text: &str) -> Option<f64> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit.trim() {
        "" | "ms" => 1.0,
        "us" | "µs" => 0.001,
        "s" => 1000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        _ => return None,
    };
    let ms = number * scale;
    ms.is_finite().then_some(ms)
}

/// `0.99` or `99%`, from 0 to 1.
fn parse_ratio(text: &str) -> Option<f64> {
    let ratio = match text.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().ok()? / 100.0,
        None => text.parse::<f64>().ok()?,
    };
    (0.0..=1.0).contains(&ratio).then_some(ratio)
}

/// A threshold checked against a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdVerdict {
    /// The threshold.
    pub threshold: Threshold,
    /// What was measured (same unit as the limit); `None` when nothing was.
    pub measured: Option<f64>,
    /// Whether it held.
    pub passed: bool,
}

impl ThresholdVerdict {
    /// Checks `threshold` against a measured value.
    pub fn check(threshold: &Threshold, measured: Option<f64>) -> Self {
        ThresholdVerdict {
            threshold: threshold.clone(),
            measured,
            passed: measured.is_some_and(|m| threshold.comparison.holds(m, threshold.limit)),
        }
    }

    /// The measured value in the threshold's unit, for people.
    pub fn measured_text(&self) -> String {
        match self.measured {
            None => "nothing measured".to_string(),
            Some(m) if self.threshold.metric.is_latency() => format_ms(m),
            Some(m) if self.threshold.metric == Metric::Rate => format!("{m:.2}/s"),
            Some(m) => format!("{m:.4}"),
        }
    }

    /// One line: `✓ p95<500ms: 123.4ms` or `✗ …`.
    pub fn describe(&self) -> String {
        format!(
            "{} {} (measured {})",
            if self.passed { "pass" } else { "FAIL" },
            self.threshold.expression,
            self.measured_text(),
        )
    }
}

/// Milliseconds for people: `850.2ms`, `2.31s`.
pub fn format_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2}s", ms / 1000.0)
    } else {
        format!("{ms:.1}ms")
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse_like_k6() {
        let t = parse_threshold("p95<500ms").unwrap();
        assert_eq!(
            (t.workflow.as_deref(), t.metric, t.comparison, t.limit),
            (None, Metric::P95, Comparison::Less, 500.0)
        );
        let t = parse_threshold("order_processing:p99 < 2s").unwrap();
        assert_eq!(t.workflow.as_deref(), Some("order_processing"));
        assert_eq!((t.metric, t.limit), (Metric::P99, 2000.0));
        let t = parse_threshold("success>=0.99").unwrap();
        assert_eq!(
            (t.metric, t.comparison, t.limit),
            (Metric::Success, Comparison::GreaterOrEqual, 0.99)
        );
        assert_eq!(parse_threshold("error_rate<1%").unwrap().limit, 0.01);
        assert_eq!(parse_threshold("p99.9<=1.5s").unwrap().metric, Metric::P999);
        assert_eq!(parse_threshold("p99.9<=1.5s").unwrap().limit, 1500.0);
        assert_eq!(parse_threshold("max<250").unwrap().limit, 250.0);
        assert_eq!(parse_threshold("avg!=250us").unwrap().limit, 0.25);
        assert_eq!(parse_threshold("rate>=90").unwrap().metric, Metric::Rate);
    }

    #[test]
    fn bad_thresholds_name_the_bad_part() {
        for (bad, part) in [
            ("p95", "no comparison"),
            ("p96<500ms", "\"p96\""),
            ("p95<fast", "\"fast\""),
            ("p95<500 parsecs", "\"500 parsecs\""),
            ("success>=1.5", "\"1.5\""),
            ("success>=", "no value"),
            (":p95<1s", "empty workflow"),
            ("simple:rate>1", "all workflows together"),
        ] {
            let err = parse_threshold(bad).unwrap_err();
            assert!(err.contains(part), "{bad}: {err}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn verdicts_fail_on_no_evidence() {
        let t = parse_threshold("p95<500ms").unwrap();
        assert!(ThresholdVerdict::check(&t, Some(499.0)).passed);
        assert!(!ThresholdVerdict::check(&t, Some(500.0)).passed);
        assert!(!ThresholdVerdict::check(&t, None).passed);
    }
}
