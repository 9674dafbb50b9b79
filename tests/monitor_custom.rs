//! Custom metrics against a real file: observations recorded through the
//! writer, and counter totals, latest gauges, histogram summaries
//! (nearest-rank percentiles) and hourly rollups computed in SQL compared
//! with the same figures computed here.

mod support;

use multiagents::monitor::RunScope;
use std::collections::BTreeMap;
use std::sync::Arc;

use multiagents::monitor::MonitorError;
use multiagents::monitor::custom::{
    CustomMetrics, Labels, MetricRegistry, counter_totals, get_business_metrics,
    histogram_summaries, hourly_rollups, latest_gauges,
};
use multiagents::store::MetricType;
use multiagents::window::TimeWindow;
use support::*;

const T0: i64 = 1_700_000_000_000_000; // 2023-11-14T22:13:20Z
const SEC: i64 = 1_000_000;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Nearest rank (tests/support/stats.rs) of a non-empty sorted slice.
fn nearest_rank(sorted: &[f64], p: usize) -> f64 {
    support::stats::nearest_rank(sorted, p as f64)
        .copied()
        .unwrap_or(f64::NAN)
}

/// Values that are multiples of 1/4, so every sum is exact in any order.
fn value(i: i64) -> f64 {
    ((i * 7919) % 2003) as f64 / 4.0
}

#[tokio::test]
async fn counters_gauges_and_histograms_match_figures_computed_here() {
    let db = temp_db();
    let (store, writer) = open(&db.path);
    let metrics = CustomMetrics::new(writer.clone(), Arc::new(MetricRegistry::new()));
    let label_sets = [
        labels(&[]),
        labels(&[("worker", "a")]),
        labels(&[("worker", "b"), ("step", "x")]),
    ];
    // (name, labels index) -> observations (time, value)
    let mut counters: BTreeMap<(String, usize), Vec<(i64, f64)>> = BTreeMap::new();
    let mut gauges: BTreeMap<(String, usize), Vec<(i64, f64)>> = BTreeMap::new();
    let mut histograms: BTreeMap<(String, usize), Vec<(i64, f64)>> = BTreeMap::new();
    for i in 0..3000i64 {
        let t = T0 + (i / 3) * SEC; // three observations per second: ties
        let l = (i % 3) as usize;
        let v = value(i);
        match i % 5 {
            0 | 1 => {
                let name = if i % 2 == 0 {
                    "jobs_total"
                } else {
                    "bytes_total"
                };
                metrics
                    .observe_at(MetricType::Counter, name, &label_sets[l], v, t)
                    .await
                    .unwrap();
                counters.entry((name.into(), l)).or_default().push((t, v));
            }
            2 => {
                metrics
                    .observe_at(MetricType::Gauge, "queue_depth", &label_sets[l], v, t)
                    .await
                    .unwrap();
                gauges
                    .entry(("queue_depth".into(), l))
                    .or_default()
                    .push((t, v));
            }
            _ => {
                let name = if i % 2 == 0 {
                    "step_duration_ms"
                } else {
                    "a:latency"
                };
                metrics
                    .observe_at(MetricType::Histogram, name, &label_sets[l], v, t)
                    .await
                    .unwrap();
                histograms.entry((name.into(), l)).or_default().push((t, v));
            }
        }
    }
    writer.flush().await.unwrap();
    let conn = store.reader().unwrap();

    for window in [
        TimeWindow {
            start_us: T0 + 100 * SEC,
            end_us: T0 + 700 * SEC,
        },
        TimeWindow {
            start_us: T0,
            end_us: T0 + 1000 * SEC,
        },
        TimeWindow {
            start_us: T0 + 999 * SEC,
            end_us: T0 + 1000 * SEC,
        },
    ] {
        let inside = |obs: &[(i64, f64)]| -> Vec<(i64, f64)> {
            obs.iter()
                .copied()
                .filter(|(t, _)| *t >= window.start_us && *t < window.end_us)
                .collect()
        };

        // Counters: sum and count per name + labels.
        let mut expected = Vec::new();
        for ((name, l), obs) in &counters {
            let obs = inside(obs);
            if !obs.is_empty() {
                let total: f64 = obs.iter().map(|(_, v)| v).sum();
                expected.push((
                    name.clone(),
                    label_sets[*l].clone(),
                    total,
                    obs.len() as i64,
                ));
            }
        }
        expected.sort_by(|a, b| (&a.0, json(&a.1)).cmp(&(&b.0, json(&b.1))));
        let got: Vec<_> = counter_totals(&conn, window, RunScope::AllRuns)
            .unwrap()
            .into_iter()
            .map(|c| (c.name, c.labels, c.total, c.increments))
            .collect();
        assert_eq!(got, expected, "counters in {window:?}");

        // Gauges: the last value recorded (ties on time: the later insert).
        let mut expected = Vec::new();
        for ((name, l), obs) in &gauges {
            if let Some(&(t, v)) = inside(obs).last() {
                expected.push((name.clone(), label_sets[*l].clone(), v, t));
            }
        }
        expected.sort_by(|a, b| (&a.0, json(&a.1)).cmp(&(&b.0, json(&b.1))));
        let got: Vec<_> = latest_gauges(&conn, window, RunScope::AllRuns)
            .unwrap()
            .into_iter()
            .map(|g| (g.name, g.labels, g.value, g.recorded_at_us))
            .collect();
        assert_eq!(got, expected, "gauges in {window:?}");

        // Histograms: count, sum, min, max and nearest-rank percentiles.
        let mut expected = Vec::new();
        for ((name, l), obs) in &histograms {
            let mut vs: Vec<f64> = inside(obs).iter().map(|(_, v)| *v).collect();
            if vs.is_empty() {
                continue;
            }
            vs.sort_by(f64::total_cmp);
            expected.push((
                name.clone(),
                label_sets[*l].clone(),
                vs.len() as i64,
                vs.iter().sum::<f64>(),
                vs[0],
                vs[vs.len() - 1],
                nearest_rank(&vs, 50),
                nearest_rank(&vs, 95),
                nearest_rank(&vs, 99),
            ));
        }
        expected.sort_by(|a, b| (&a.0, json(&a.1)).cmp(&(&b.0, json(&b.1))));
        let got: Vec<_> = histogram_summaries(&conn, window, RunScope::AllRuns)
            .unwrap()
            .into_iter()
            .map(|h| {
                (
                    h.name, h.labels, h.count, h.sum, h.min, h.max, h.p50, h.p95, h.p99,
                )
            })
            .collect();
        assert_eq!(got, expected, "histograms in {window:?}");
    }
    writer.shutdown().await.unwrap();
}

fn json(labels: &Labels) -> String {
    serde_json::to_string(labels).unwrap()
}

/// Nearest rank on small counts, where an off-by-one in the rank shows:
/// n = 1, 19, 20, 21 and 100.
#[tokio::test]
async fn nearest_rank_percentiles_on_small_counts() {
    for n in [1usize, 2, 19, 20, 21, 100] {
        let db = temp_db();
        let (store, writer) = open(&db.path);
        let metrics = CustomMetrics::new(writer.clone(), Arc::new(MetricRegistry::new()));
        // Insert in reverse order so that nothing depends on insertion order.
        for i in (1..=n).rev() {
            metrics
                .observe_at(
                    MetricType::Histogram,
                    "h",
                    &Labels::new(),
                    i as f64,
                    T0 + i as i64,
                )
                .await
                .unwrap();
        }
        writer.flush().await.unwrap();
        let h = histogram_summaries(
            &store.reader().unwrap(),
            TimeWindow {
                start_us: T0,
                end_us: T0 + 1_000,
            },
            RunScope::AllRuns,
        )
        .unwrap();
        assert_eq!(h.len(), 1);
        // Values are 1..=n, so the value at rank r is r.
        assert_eq!(h[0].p95, (95 * n).div_ceil(100) as f64, "n = {n}");
        assert_eq!(h[0].p50, (50 * n).div_ceil(100) as f64, "n = {n}");
        assert_eq!(h[0].p99, (99 * n).div_ceil(100) as f64, "n = {n}");
        writer.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn order_values_roll_up_per_hour_with_the_seed_keys() {
    let db = temp_db();
    let (store, writer) = open(&db.path);
    let metrics = CustomMetrics::new(writer.clone(), Arc::new(MetricRegistry::new()));
    let hour = 3600 * SEC;
    let base = T0 - T0.rem_euclid(hour); // 2023-11-14T22:00:00Z
    let mut expected: BTreeMap<String, (i64, f64, f64, f64)> = BTreeMap::new();
    for i in 0..400i64 {
        let t = base + i * 37 * SEC; // spans ~4 hours
        let v = value(i) + 1.0;
        metrics
            .observe_at(
                MetricType::Histogram,
                "order_value",
                &labels(&[("region", if i % 2 == 0 { "eu" } else { "us" })]),
                v,
                t,
            )
            .await
            .unwrap();
        let key = chrono::DateTime::from_timestamp_micros(t)
            .unwrap()
            .format("%Y-%m-%d-%H")
            .to_string();
        let e = expected.entry(key).or_insert((0, 0.0, f64::MIN, f64::MAX));
        e.0 += 1;
        e.1 += v;
        e.2 = e.2.max(v);
        e.3 = e.3.min(v);
    }
    // Another metric must not leak into the rollup.
    metrics
        .observe_at(
            MetricType::Histogram,
            "other",
            &Labels::new(),
            1e9,
            base + SEC,
        )
        .await
        .unwrap();
    writer.flush().await.unwrap();
    let conn = store.reader().unwrap();

    let all = hourly_rollups(
        &conn,
        "order_value",
        TimeWindow {
            start_us: base,
            end_us: base + 5 * hour,
        },
        RunScope::AllRuns,
    )
    .unwrap();
    let got: BTreeMap<String, (i64, f64, f64, f64)> = all
        .iter()
        .map(|(k, r)| {
            (
                k.clone(),
                (r.total_orders, r.total_value, r.max_value, r.min_value),
            )
        })
        .collect();
    assert_eq!(got, expected);
    assert!(got.contains_key("2023-11-14-22") && got.contains_key("2023-11-15-01"));

    // get_business_metrics(hours, RunScope::AllRuns) keeps the last `hours` hour buckets,
    // the current one included, like the seed.
    let now = base + 2 * hour + 10 * 60 * SEC; // 2023-11-15T00:10Z
    let two = get_business_metrics(&conn, 2, now, RunScope::AllRuns).unwrap();
    assert_eq!(
        two.keys().cloned().collect::<Vec<_>>(),
        ["2023-11-14-23", "2023-11-15-00"]
    );
    assert_eq!(two["2023-11-14-23"], all["2023-11-14-23"]);
    // The current hour counts only what happened up to now.
    let current_hour: Vec<f64> = (0..400i64)
        .filter(|i| {
            let t = base + i * 37 * SEC;
            t >= base + 2 * hour && t <= now
        })
        .map(|i| value(i) + 1.0)
        .collect();
    assert_eq!(two["2023-11-15-00"].total_orders, current_hour.len() as i64);
    assert_eq!(
        two["2023-11-15-00"].total_value,
        current_hour.iter().sum::<f64>()
    );
    let one = get_business_metrics(&conn, 1, now, RunScope::AllRuns).unwrap();
    assert_eq!(one.keys().cloned().collect::<Vec<_>>(), ["2023-11-15-00"]);

    let json = serde_json::to_value(&two).unwrap();
    for key in ["total_orders", "total_value", "max_value", "min_value"] {
        assert!(json["2023-11-14-23"].get(key).is_some(), "{key}");
    }
    writer.shutdown().await.unwrap();
}

#[tokio::test]
async fn track_order_value_records_an_order_value_histogram_now() {
    let db = temp_db();
    let (store, writer) = open(&db.path);
    let metrics = CustomMetrics::new(writer.clone(), Arc::new(MetricRegistry::new()));
    for v in [10.0, 99.5, 42.25] {
        metrics.track_order_value(v).await.unwrap();
    }
    writer.flush().await.unwrap();
    let now = multiagents::clock::now_us();
    let rollup = get_business_metrics(&store.reader().unwrap(), 1, now, RunScope::AllRuns).unwrap();
    let total: i64 = rollup.values().map(|r| r.total_orders).sum();
    // Recorded a moment ago: in this hour, unless the hour just turned.
    if rollup.len() == 1 {
        let r = rollup.values().next().unwrap();
        assert_eq!(
            (r.total_orders, r.total_value, r.max_value, r.min_value),
            (3, 151.75, 99.5, 10.0)
        );
    } else {
        assert!(total <= 3);
    }
    assert_eq!(
        metrics.registry().metric_type("order_value"),
        Some(MetricType::Histogram)
    );
    writer.shutdown().await.unwrap();
}

#[tokio::test]
async fn wrong_types_bad_names_and_bad_values_are_refused_before_recording() {
    let db = temp_db();
    let (store, writer) = open(&db.path);
    let registry = MetricRegistry::from_declared(vec![
        ("workflow_completion_rate".to_string(), MetricType::Gauge),
        ("average_step_duration".to_string(), MetricType::Histogram),
    ])
    .unwrap();
    let metrics = CustomMetrics::new(writer.clone(), Arc::new(registry));
    let none = Labels::new();

    let err = metrics
        .increment_counter("workflow_completion_rate", &none, 1.0)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, MonitorError::TypeMismatch { name, declared: MetricType::Gauge, observed: MetricType::Counter } if name == "workflow_completion_rate"),
        "{err}"
    );
    assert!(err.to_string().contains("workflow_completion_rate"));
    let err = metrics
        .set_gauge("average_step_duration", &none, 1.0)
        .await
        .unwrap_err();
    assert!(matches!(err, MonitorError::TypeMismatch { .. }), "{err}");
    let err = metrics
        .observe_histogram("bad-name", &none, 1.0)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, MonitorError::InvalidName { name } if name == "bad-name"),
        "{err}"
    );
    let err = metrics
        .set_gauge(
            "workflow_completion_rate",
            &labels(&[("bad-label", "x")]),
            1.0,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, MonitorError::InvalidLabel { .. }), "{err}");
    let err = metrics
        .set_gauge("workflow_completion_rate", &none, f64::NAN)
        .await
        .unwrap_err();
    assert!(matches!(err, MonitorError::InvalidValue { .. }), "{err}");
    let err = metrics
        .increment_counter("c_total", &none, -1.0)
        .await
        .unwrap_err();
    assert!(matches!(err, MonitorError::InvalidValue { .. }), "{err}");

    // The right types go through.
    metrics
        .set_gauge("workflow_completion_rate", &none, 0.75)
        .await
        .unwrap();
    metrics
        .observe_histogram("average_step_duration", &none, 12.0)
        .await
        .unwrap();
    writer.flush().await.unwrap();
    assert_eq!(
        count(
            &store.reader().unwrap(),
            "SELECT count(*) FROM custom_metrics"
        ),
        2,
        "refused observations are not recorded"
    );
    writer.shutdown().await.unwrap();
}

/// Two gauge settings in the same microsecond: the one recorded last is the
/// latest, as it was for whoever set them.
#[tokio::test]
async fn a_gauge_set_twice_in_one_microsecond_keeps_the_later_value() {
    let db = temp_db();
    let (store, writer) = open(&db.path);
    let metrics = CustomMetrics::new(writer.clone(), Arc::new(MetricRegistry::new()));
    for v in [5.0, 1.0, 3.0] {
        metrics
            .observe_at(MetricType::Gauge, "g", &Labels::new(), v, T0)
            .await
            .unwrap();
    }
    metrics
        .observe_at(MetricType::Gauge, "g", &Labels::new(), 9.0, T0 - 1)
        .await
        .unwrap();
    writer.flush().await.unwrap();
    let g = latest_gauges(
        &store.reader().unwrap(),
        TimeWindow {
            start_us: T0 - 10,
            end_us: T0 + 10,
        },
        RunScope::AllRuns,
    )
    .unwrap();
    assert_eq!(g.len(), 1);
    assert_eq!((g[0].value, g[0].recorded_at_us), (3.0, T0));
    writer.shutdown().await.unwrap();
}
