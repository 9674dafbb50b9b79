//! Every monitoring query of the system, custom-metric and alert monitors
//! reads its table through an index: EXPLAIN QUERY PLAN shows no full scan
//! of system_samples, custom_metrics or alerts — on a fresh database and
//! after ANALYZE has statistics of a populated one.

mod support;

use multiagents::monitor::RunScope;
use std::sync::Arc;

use multiagents::monitor::alerts::{
    AlertInputs, AlertThresholds, MonitoringAlerts, alert_history, firing_alerts,
};
use multiagents::monitor::custom::{
    CustomMetrics, Labels, MetricRegistry, counter_totals, histogram_summaries, hourly_rollups,
    latest_gauges,
};
use multiagents::monitor::system::{system_metrics, system_samples_series};
use multiagents::sql::queries;
use multiagents::store::{MetricType, Record, SystemSample};
use multiagents::window::TimeWindow;
use rusqlite::Connection;
use support::*;

const WINDOWED: &[(&str, &str)] = &[
    ("system_metrics", queries::SYSTEM_METRICS),
    ("system_samples_series", queries::SYSTEM_SAMPLES_SERIES),
    ("custom_metric_counters", queries::CUSTOM_METRIC_COUNTERS),
    ("custom_metric_gauges", queries::CUSTOM_METRIC_GAUGES),
    (
        "custom_metric_histograms",
        queries::CUSTOM_METRIC_HISTOGRAMS,
    ),
    ("business_metrics_hourly", queries::BUSINESS_METRICS_HOURLY),
    ("alert_history", queries::ALERT_HISTORY),
];

const FIRING: &str = queries::FIRING_ALERTS;

fn plan(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("query prepares");
    // Parameters stay unbound (NULL): the plan does not depend on them.
    let mut rows = stmt.raw_query();
    let mut lines = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        lines.push(row.get::<_, String>(3).unwrap());
    }
    lines
}

/// Scans of anything but our own CTEs and subqueries are table scans.
fn table_scans(plan: &[String]) -> Vec<&String> {
    plan.iter()
        .filter(|line| {
            let Some(object) = line.strip_prefix("SCAN ") else {
                return false;
            };
            !(object.starts_with("names")
                || object.starts_with("ranked")
                || object.starts_with("(subquery"))
        })
        .collect()
}

fn check_plans(conn: &Connection) {
    for (name, sql) in WINDOWED {
        let plan = plan(conn, sql);
        let scans = table_scans(&plan);
        assert!(scans.is_empty(), "{name} scans: {scans:?}\n{plan:#?}");
        assert!(
            plan.iter()
                .any(|l| l.starts_with("SEARCH ") && l.contains("INDEX")),
            "{name} uses no index:\n{plan:#?}"
        );
    }
    let plan = plan(conn, FIRING);
    assert!(
        plan.iter().any(|l| l.contains("alerts_firing"))
            && !plan.iter().any(|l| l.contains("alerts_by_fired")),
        "firing_alerts must read the partial index of unresolved alerts only:\n{plan:#?}"
    );
}

#[test]
fn queries_use_indexes_on_a_fresh_database() {
    let db = temp_db();
    let (_store, writer) = open(&db.path);
    let conn = Connection::open(&db.path).unwrap();
    check_plans(&conn);
    writer.blocking_shutdown().unwrap();
}

#[tokio::test]
async fn queries_use_indexes_after_analyze_on_a_populated_database() {
    let db = temp_db();
    let (store, writer) = open(&db.path);
    let metrics = CustomMetrics::new(writer.clone(), Arc::new(MetricRegistry::new()));
    let mut alerts = MonitoringAlerts::new(AlertThresholds::default(), writer.clone());
    for i in 0..2000i64 {
        let t = 1_000_000 + i * 1_000;
        writer
            .record(Record::SystemSample(SystemSample {
                sampled_at_us: t,
                ..Default::default()
            }))
            .await
            .unwrap();
        let ty = [
            MetricType::Counter,
            MetricType::Gauge,
            MetricType::Histogram,
        ][(i % 3) as usize];
        let name = format!("m{}_{}", i % 7, ty.as_str());
        metrics
            .observe_at(ty, &name, &Labels::new(), 1.0, t)
            .await
            .unwrap();
        let bad = AlertInputs {
            error_rate_percent: if i % 2 == 0 { 50.0 } else { 0.0 },
            ..Default::default()
        };
        alerts.check_alerts(&bad, t).await.unwrap();
    }
    writer.flush().await.unwrap();
    {
        let conn = Connection::open(&db.path).unwrap();
        conn.execute_batch("ANALYZE").unwrap();
        check_plans(&conn);
    }
    // And each typed function runs against this database.
    let conn = store.reader().unwrap();
    let w = TimeWindow {
        start_us: 0,
        end_us: i64::MAX,
    };
    assert_eq!(
        system_metrics(&conn, w, RunScope::AllRuns)
            .unwrap()
            .sample_count,
        2000
    );
    assert_eq!(
        system_samples_series(&conn, w, RunScope::AllRuns)
            .unwrap()
            .len(),
        2000
    );
    assert_eq!(
        counter_totals(&conn, w, RunScope::AllRuns).unwrap().len(),
        7
    );
    assert_eq!(latest_gauges(&conn, w, RunScope::AllRuns).unwrap().len(), 7);
    assert_eq!(
        histogram_summaries(&conn, w, RunScope::AllRuns)
            .unwrap()
            .len(),
        7
    );
    assert_eq!(
        hourly_rollups(&conn, "m0_counter", w, RunScope::AllRuns)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        alert_history(&conn, w, RunScope::AllRuns).unwrap().len(),
        1000
    );
    assert_eq!(firing_alerts(&conn, RunScope::AllRuns).unwrap().len(), 0);
    writer.shutdown().await.unwrap();
}
