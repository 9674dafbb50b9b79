//! Custom metrics: counters, gauges and histograms by name with labels, and
//! the seed's business metric (order value) rolled up per hour.
//!
//! Every observation is one `custom_metrics` row recorded through the single
//! writer; totals, latest values and percentiles are computed in SQL at query
//! time, so nothing is aggregated (or lost) in memory. Names follow the
//! Prometheus rules so that the exporter can publish them unchanged.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use super::error::MonitorError;
use super::scope::{RunScope, WindowParams};
use crate::clock;
use crate::store::{MetricObservation, MetricType, Record, Writer};
use crate::window::TimeWindow;

/// Labels of one observation. A `BTreeMap` so that the JSON text is
/// canonical (keys sorted): equal label sets are equal strings, which is what
/// the queries group by.
pub type Labels = BTreeMap<String, String>;

/// Name of the seed's business metric, a histogram of order values.
pub const ORDER_VALUE_METRIC: &str = "order_value";

/// Checks a metric name against Prometheus's `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn validate_metric_name(name: &str) -> Result<(), MonitorError> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(MonitorError::InvalidName {
            name: name.to_string(),
        })
    }
}

/// Checks a label name against Prometheus's `[a-zA-Z_][a-zA-Z0-9_]*`;
/// names starting with `__` are reserved for Prometheus itself.
fn validate_label_name(metric: &str, label: &str) -> Result<(), MonitorError> {
    let mut chars = label.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && !label.starts_with("__") && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        Ok(())
    } else {
        Err(MonitorError::InvalidLabel {
            metric: metric.to_string(),
            label: label.to_string(),
        })
    }
}

/// The canonical JSON text of a label set (keys sorted, `{}` for none),
/// after checking every label name.
pub fn labels_json(metric: &str, labels: &Labels) -> Result<String, MonitorError> {
    for label in labels.keys() {
        validate_label_name(metric, label)?;
    }
    // A map of strings always serializes; the fallback only keeps this
    // function free of a panic path.
    Ok(serde_json::to_string(labels).unwrap_or_else(|_| "{}".to_string()))
}

/// Parses a stored `labels_json` back into labels.
fn parse_labels(name: &str, labels_json: &str) -> Result<Labels, MonitorError> {
    serde_json::from_str(labels_json).map_err(|_| MonitorError::CorruptLabels {
        name: name.to_string(),
        labels_json: labels_json.to_string(),
    })
}

/// Parses a metric type as the config file spells it (`counter`, `gauge`,
/// `histogram`), naming the metric when the type is unknown.
pub fn parse_metric_type(name: &str, given: &str) -> Result<MetricType, MonitorError> {
    match given {
        "counter" => Ok(MetricType::Counter),
        "gauge" => Ok(MetricType::Gauge),
        "histogram" => Ok(MetricType::Histogram),
        _ => Err(MonitorError::UnknownType {
            name: name.to_string(),
            given: given.to_string(),
        }),
    }
}

/// Refuses values SQLite cannot store in a `NOT NULL REAL` column (NaN
/// would become NULL and fail the writer's whole batch) and negative counter
/// increments (counters only go up, as Prometheus expects).
fn validate_value(name: &str, metric_type: MetricType, value: f64) -> Result<(), MonitorError> {
    let reason = if !value.is_finite() {
        Some("not a finite number")
    } else if metric_type == MetricType::Counter && value < 0.0 {
        Some("a counter cannot be decremented")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(MonitorError::InvalidValue {
            name: name.to_string(),
            value,
            reason,
        }),
        None => Ok(()),
    }
}

/// The type of every metric name in use: declared ones from the config
/// (`metrics_collection.custom_metrics`), and undeclared ones as first used.
///
/// One name keeps one type for the life of the process, so that a gauge is
/// never summed as a counter and the Prometheus exporter can give each name
/// one `# TYPE` line.
#[derive(Debug, Default)]
pub struct MetricRegistry {
    types: Mutex<HashMap<String, (MetricType, bool)>>,
}

impl MetricRegistry {
    /// An empty registry: every name takes the type of its first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry of the metrics declared in the configuration, as
    /// `(name, type)` pairs. Invalid names and a name declared with two
    /// different types are refused.
    pub fn from_declared(
        declared: impl IntoIterator<Item = (String, MetricType)>,
    ) -> Result<Self, MonitorError> {
        let registry = Self::new();
        for (name, metric_type) in declared {
            registry.declare(&name, metric_type)?;
        }
        Ok(registry)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (MetricType, bool)>> {
        // The map is valid after any panic elsewhere: entries are inserted
        // whole.
        self.types.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Declares a metric. Declaring it again with the same type is a no-op.
    pub fn declare(&self, name: &str, metric_type: MetricType) -> Result<(), MonitorError> {
        validate_metric_name(name)?;
        let mut types = self.lock();
        match types.get(name) {
            Some(&(first, true)) if first != metric_type => {
                Err(MonitorError::ConflictingDeclaration {
                    name: name.to_string(),
                    first,
                    second: metric_type,
                })
            }
            Some(&(used, false)) if used != metric_type => Err(MonitorError::TypeMismatch {
                name: name.to_string(),
                declared: used,
                observed: metric_type,
            }),
            _ => {
                types.insert(name.to_string(), (metric_type, true));
                Ok(())
            }
        }
    }

    /// Checks an observation's name and type; an undeclared name is
    /// registered with the type of this first use.
    pub fn check(&self, name: &str, metric_type: MetricType) -> Result<(), MonitorError> {
        validate_metric_name(name)?;
        let mut types = self.lock();
        match types.get(name) {
            Some(&(declared, _)) if declared != metric_type => Err(MonitorError::TypeMismatch {
                name: name.to_string(),
                declared,
                observed: metric_type,
            }),
            Some(_) => Ok(()),
            None => {
                types.insert(name.to_string(), (metric_type, false));
                Ok(())
            }
        }
    }

    /// The type of a name, if declared or used.
    pub fn metric_type(&self, name: &str) -> Option<MetricType> {
        self.lock().get(name).map(|&(t, _)| t)
    }

    /// Every known name and its type, sorted by name.
    pub fn metrics(&self) -> Vec<(String, MetricType)> {
        let mut all: Vec<_> = self
            .lock()
            .iter()
            .map(|(name, &(t, _))| (name.clone(), t))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

/// Handle for recording custom metrics; cheap to clone and share.
///
/// Each call checks the name, labels, value and type, then queues one row
/// with the writer (waiting if its queue is full, never dropping).
#[derive(Debug, Clone)]
pub struct CustomMetrics {
    writer: Writer,
    registry: Arc<MetricRegistry>,
    /// `metrics_collection.enabled`: with `false` observations are checked
    /// and then not recorded.
    recording: bool,
}

impl CustomMetrics {
    /// Records through `writer`, checking types against `registry`.
    pub fn new(writer: Writer, registry: Arc<MetricRegistry>) -> Self {
        CustomMetrics {
            writer,
            registry,
            recording: true,
        }
    }

    /// The same handle, recording (`true`, the default) or only checking
    /// observations (`false`: `metrics_collection.enabled: false`). Checks
    /// stay on so that a program's mistakes show whether or not metrics are
    /// collected.
    pub fn recording(mut self, recording: bool) -> Self {
        self.recording = recording;
        self
    }

    /// Whether observations are recorded.
    pub fn is_recording(&self) -> bool {
        self.recording
    }

    /// The registry of metric names and types.
    pub fn registry(&self) -> &Arc<MetricRegistry> {
        &self.registry
    }

    /// Adds `by` (finite, not negative) to a counter.
    pub async fn increment_counter(
        &self,
        name: &str,
        labels: &Labels,
        by: f64,
    ) -> Result<(), MonitorError> {
        self.observe_at(MetricType::Counter, name, labels, by, clock::now_us())
            .await
    }

    /// Sets a gauge to `value`.
    pub async fn set_gauge(
        &self,
        name: &str,
        labels: &Labels,
        value: f64,
    ) -> Result<(), MonitorError> {
        self.observe_at(MetricType::Gauge, name, labels, value, clock::now_us())
            .await
    }

    /// Adds an observation to a histogram.
    pub async fn observe_histogram(
        &self,
        name: &str,
        labels: &Labels,
        value: f64,
    ) -> Result<(), MonitorError> {
        self.observe_at(MetricType::Histogram, name, labels, value, clock::now_us())
            .await
    }

    /// Records one observation at a given time: the general form of the
    /// three calls above, for back-filling and for tests with a fixed clock.
    pub async fn observe_at(
        &self,
        metric_type: MetricType,
        name: &str,
        labels: &Labels,
        value: f64,
        recorded_at_us: i64,
    ) -> Result<(), MonitorError> {
        let observation = self.observation(metric_type, name, labels, value, recorded_at_us)?;
        if !self.recording {
            return Ok(());
        }
        tracing::debug!(
            metric = name,
            metric_type = metric_type.as_str(),
            labels = %observation.labels_json,
            value,
            "custom metric recorded"
        );
        self.writer.record(Record::Metric(observation)).await?;
        Ok(())
    }

    fn observation(
        &self,
        metric_type: MetricType,
        name: &str,
        labels: &Labels,
        value: f64,
        recorded_at_us: i64,
    ) -> Result<MetricObservation, MonitorError> {
        validate_metric_name(name)?;
        validate_value(name, metric_type, value)?;
        let labels_json = labels_json(name, labels)?;
        self.registry.check(name, metric_type)?;
        Ok(MetricObservation {
            name: name.to_string(),
            metric_type,
            labels_json,
            value,
            recorded_at_us,
        })
    }

    /// The seed's `CustomMetricsCollector.track_order_value`: one
    /// observation of the `order_value` histogram. Hourly totals come from
    /// [`get_business_metrics`].
    pub async fn track_order_value(&self, order_value: f64) -> Result<(), MonitorError> {
        self.observe_histogram(ORDER_VALUE_METRIC, &Labels::new(), order_value)
            .await
    }
}

/// Total of one counter with one label set over a window.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CounterTotal {
    /// Metric name.
    pub name: String,
    /// Its labels.
    pub labels: Labels,
    /// Sum of the increments in the window.
    pub total: f64,
    /// Number of increments in the window.
    pub increments: i64,
}

/// The latest value of one gauge with one label set in a window.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GaugeValue {
    /// Metric name.
    pub name: String,
    /// Its labels.
    pub labels: Labels,
    /// The value last set in the window.
    pub value: f64,
    /// When it was set.
    pub recorded_at_us: i64,
}

/// Summary of one histogram with one label set over a window. Percentiles
/// are nearest-rank: the value at 1-based rank `ceil(p/100 * count)`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HistogramSummary {
    /// Metric name.
    pub name: String,
    /// Its labels.
    pub labels: Labels,
    /// Number of observations.
    pub count: i64,
    /// Sum of the observations.
    pub sum: f64,
    /// Smallest observation.
    pub min: f64,
    /// Largest observation.
    pub max: f64,
    /// Median (nearest rank).
    pub p50: f64,
    /// 95th percentile (nearest rank).
    pub p95: f64,
    /// 99th percentile (nearest rank).
    pub p99: f64,
}

/// One hour of a business metric, with the seed's keys.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HourlyRollup {
    /// Number of observations (orders) in the hour.
    pub total_orders: i64,
    /// Their sum.
    pub total_value: f64,
    /// The largest.
    pub max_value: f64,
    /// The smallest.
    pub min_value: f64,
}

/// Counter totals per name and label set over `window` for the runs in
/// `scope`
/// (`queries/custom_metric_counters.sql`), sorted by name then labels.
pub fn counter_totals(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
) -> Result<Vec<CounterTotal>, MonitorError> {
    labelled_rows(
        conn,
        crate::sql::queries::CUSTOM_METRIC_COUNTERS,
        window,
        scope,
        |row| Ok((row.get::<_, f64>(2)?, row.get::<_, i64>(3)?)),
        |name, labels, (total, increments)| CounterTotal {
            name,
            labels,
            total,
            increments,
        },
    )
}

/// The latest gauge values per name and label set in `window` for the runs
/// in `scope`
/// (`queries/custom_metric_gauges.sql`), sorted by name then labels.
pub fn latest_gauges(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
) -> Result<Vec<GaugeValue>, MonitorError> {
    labelled_rows(
        conn,
        crate::sql::queries::CUSTOM_METRIC_GAUGES,
        window,
        scope,
        |row| Ok((row.get::<_, f64>(2)?, row.get::<_, i64>(3)?)),
        |name, labels, (value, recorded_at_us)| GaugeValue {
            name,
            labels,
            value,
            recorded_at_us,
        },
    )
}

/// Histogram summaries per name and label set over `window` for the runs in
/// `scope`
/// (`queries/custom_metric_histograms.sql`), sorted by name then labels.
pub fn histogram_summaries(
    conn: &Connection,
    window: TimeWindow,
    scope: RunScope,
) -> Result<Vec<HistogramSummary>, MonitorError> {
    labelled_rows(
        conn,
        crate::sql::queries::CUSTOM_METRIC_HISTOGRAMS,
        window,
        scope,
        |row| {
            Ok((
                row.get::<_, i64>(2)?,
                [
                    row.get::<_, f64>(3)?,
                    row.get::<_, f64>(4)?,
                    row.get::<_, f64>(5)?,
                    row.get::<_, f64>(6)?,
                    row.get::<_, f64>(7)?,
                    row.get::<_, f64>(8)?,
                ],
            ))
        },
        |name, labels, (count, [sum, min, max, p50, p95, p99])| HistogramSummary {
            name,
            labels,
            count,
            sum,
            min,
            max,
            p50,
            p95,
            p99,
        },
    )
}

/// One custom histogram with one label set, in cumulative buckets for the
/// Prometheus exposition.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HistogramBuckets {
    /// Its labels.
    pub labels: Labels,
    /// `(upper bound, observations at most that bound)` for each bound
    /// asked for, in order; +Inf is `count`.
    pub buckets: Vec<(f64, u64)>,
    /// Number of observations.
    pub count: u64,
    /// Sum of the observations.
    pub sum: f64,
}

/// The observations of histogram `name` over `window` for the runs in
/// `scope` in cumulative buckets with upper bounds `bounds` (increasing),
/// per label set sorted by labels
/// (`queries/custom_metric_histogram_buckets.sql`). A label set without
/// observations is absent.
pub fn histogram_buckets(
    conn: &Connection,
    name: &str,
    bounds: &[f64],
    window: TimeWindow,
    scope: RunScope,
) -> Result<Vec<HistogramBuckets>, MonitorError> {
    let bounds_json = serde_json::to_string(bounds)?;
    let params = WindowParams::by_run_id(window, scope.run_id())
        .and(":name", name.to_string())
        .and(":bounds", bounds_json);
    let mut stmt = conn.prepare_cached(crate::sql::queries::CUSTOM_METRIC_HISTOGRAM_BUCKETS)?;
    let rows = stmt.query_map(params.bind(), |row| {
        Ok((
            row.get::<_, String>("labels_json")?,
            row.get::<_, i64>("bound_index")?,
            row.get::<_, i64>("le_count")?,
            row.get::<_, i64>("count")?,
            row.get::<_, f64>("sum")?,
        ))
    })?;
    let mut out: Vec<(String, HistogramBuckets)> = Vec::new();
    for row in rows {
        let (labels_json, index, le_count, count, sum) = row?;
        let bound = usize::try_from(index)
            .ok()
            .and_then(|i| bounds.get(i))
            .copied()
            .unwrap_or(f64::INFINITY);
        let le_count = u64::try_from(le_count).unwrap_or(0);
        match out.last_mut() {
            Some((last, h)) if *last == labels_json => h.buckets.push((bound, le_count)),
            _ => {
                let labels = parse_labels(name, &labels_json)?;
                out.push((
                    labels_json,
                    HistogramBuckets {
                        labels,
                        buckets: vec![(bound, le_count)],
                        count: u64::try_from(count).unwrap_or(0),
                        sum,
                    },
                ));
            }
        }
    }
    Ok(out.into_iter().map(|(_, h)| h).collect())
}

/// Rows of a custom-metric query whose first two columns are the metric's
/// name and its labels as JSON (every query over `custom_metrics` is shaped
/// so), bound to `window` and `scope`; `rest` reads the other columns and
/// `build` makes the answer from the name, the parsed labels and the rest.
fn labelled_rows<R, T>(
    conn: &Connection,
    sql: &str,
    window: TimeWindow,
    scope: RunScope,
    rest: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<R>,
    build: impl Fn(String, Labels, R) -> T,
) -> Result<Vec<T>, MonitorError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(
        WindowParams::by_run_id(window, scope.run_id()).bind(),
        |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                rest(row)?,
            ))
        },
    )?;
    rows.map(|row| {
        let (name, labels_json, rest) = row?;
        let labels = parse_labels(&name, &labels_json)?;
        Ok(build(name, labels, rest))
    })
    .collect()
}

/// Hourly rollups of the metric `name` over `window` for the runs in `scope`
/// (`queries/business_metrics_hourly.sql`), keyed by UTC hour
/// `"YYYY-MM-DD-HH"` like the seed's `business_metrics` dict.
pub fn hourly_rollups(
    conn: &Connection,
    name: &str,
    window: TimeWindow,
    scope: RunScope,
) -> Result<BTreeMap<String, HourlyRollup>, MonitorError> {
    let mut stmt = conn.prepare_cached(crate::sql::queries::BUSINESS_METRICS_HOURLY)?;
    let rows = stmt.query_map(
        WindowParams::by_run_id(window, scope.run_id())
            .and(":name", name.to_string())
            .bind(),
        |row| {
            Ok((
                row.get::<_, String>(0)?,
                HourlyRollup {
                    total_orders: row.get(1)?,
                    total_value: row.get(2)?,
                    max_value: row.get(3)?,
                    min_value: row.get(4)?,
                },
            ))
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The seed's `get_business_metrics(hours)`: hourly order-value rollups for
/// the last `hours` hour buckets up to `now_us`, the current (partial) hour
/// included.
///
/// The seed keeps the hours whose *start* lies in the last `hours` hours,
/// so `hours = 1` is the current hour only; the window here therefore starts
/// at a whole hour, `hours - 1` hours before the current one, rather than
/// exactly `hours` ago (which would add a partial, earlier hour). An `hours`
/// of 0 is read as 1.
pub fn get_business_metrics(
    conn: &Connection,
    hours: u32,
    now_us: i64,
    scope: RunScope,
) -> Result<BTreeMap<String, HourlyRollup>, MonitorError> {
    const HOUR_US: i64 = 3_600_000_000;
    let current_hour = now_us - now_us.rem_euclid(HOUR_US);
    let start = current_hour - i64::from(hours.max(1) - 1) * HOUR_US;
    // End just after `now_us`, so an order recorded at this very
    // microsecond counts.
    let window = TimeWindow {
        start_us: start,
        end_us: now_us.saturating_add(1),
    };
    hourly_rollups(conn, ORDER_VALUE_METRIC, window, scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_follow_prometheus_rules() {
        for ok in ["a", "_x", "ns:sub_total", "order_value", "A9:_"] {
            assert!(validate_metric_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "9a", "a-b", "a b", "é", "a.b"] {
            let err = validate_metric_name(bad).unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn labels_are_canonical_json_and_checked() {
        let mut labels = Labels::new();
        labels.insert("worker".into(), "b".into());
        labels.insert("step".into(), "a\"q".into());
        assert_eq!(
            labels_json("m", &labels).unwrap(),
            r#"{"step":"a\"q","worker":"b"}"#
        );
        assert_eq!(labels_json("m", &Labels::new()).unwrap(), "{}");
        for bad in ["__x", "a:b", "1a", ""] {
            let mut labels = Labels::new();
            labels.insert(bad.into(), "v".into());
            assert!(matches!(
                labels_json("m", &labels),
                Err(MonitorError::InvalidLabel { .. })
            ));
        }
    }

    #[test]
    fn declared_types_are_enforced_and_undeclared_names_keep_their_first_type() {
        let registry = MetricRegistry::from_declared(vec![
            ("workflow_completion_rate".to_string(), MetricType::Gauge),
            ("average_step_duration".to_string(), MetricType::Histogram),
        ])
        .unwrap();
        assert!(
            registry
                .check("workflow_completion_rate", MetricType::Gauge)
                .is_ok()
        );
        let err = registry
            .check("workflow_completion_rate", MetricType::Counter)
            .unwrap_err();
        assert!(
            matches!(&err, MonitorError::TypeMismatch { name, declared: MetricType::Gauge, observed: MetricType::Counter } if name == "workflow_completion_rate"),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "metric \"workflow_completion_rate\" is a gauge, not a counter"
        );
        registry.check("adhoc", MetricType::Counter).unwrap();
        assert!(registry.check("adhoc", MetricType::Gauge).is_err());
        assert_eq!(registry.metrics().len(), 3);
    }

    #[test]
    fn conflicting_or_invalid_declarations_are_refused() {
        let err = MetricRegistry::from_declared(vec![
            ("x".to_string(), MetricType::Gauge),
            ("x".to_string(), MetricType::Counter),
        ])
        .unwrap_err();
        assert!(
            matches!(err, MonitorError::ConflictingDeclaration { .. }),
            "{err}"
        );
        assert!(matches!(
            MetricRegistry::from_declared(vec![("bad name".to_string(), MetricType::Gauge)]),
            Err(MonitorError::InvalidName { .. })
        ));
        assert!(matches!(
            parse_metric_type("m", "summary"),
            Err(MonitorError::UnknownType { .. })
        ));
        assert_eq!(
            parse_metric_type("m", "histogram").unwrap(),
            MetricType::Histogram
        );
    }

    #[test]
    fn unstorable_values_and_negative_increments_are_refused() {
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(validate_value("m", MetricType::Gauge, v).is_err());
        }
        assert!(validate_value("m", MetricType::Counter, -1.0).is_err());
        assert!(validate_value("m", MetricType::Gauge, -1.0).is_ok());
    }
}
