//! Helpers of the export tests (tests/prometheus.rs, tests/report.rs): a
//! real monitored run with the demo workers, and running the built binary.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::Path;

use multiagents::config::MonitoringConfig;
use multiagents::session::Session;
use multiagents::store::RunInfo;
use multiagents::worker::WorkerRegistry;
use multiagents::workload::{DemoSettings, register_demo_workers, register_demo_workflows};
use serde_json::json;

pub const WORKFLOWS: [&str; 4] = [
    "simple_monitoring",
    "parallel_monitoring",
    "error_monitoring",
    "cpu_intensive_monitoring",
];

/// A session with the demo workers at 1 % of the seed's timing and system
/// samples every 0.2 s.
pub async fn start_demo_session(db: &Path) -> Session {
    let mut config = MonitoringConfig::default();
    config.metrics_collection.collection_interval_seconds = 0.2;
    config.worker_monitoring.health_check_interval_seconds = 30.0;
    let mut workers = WorkerRegistry::new();
    register_demo_workers(
        &mut workers,
        DemoSettings {
            seed: 11,
            time_scale: 0.01,
            failure_rate: 0.3,
        },
    );
    let run = RunInfo {
        command: "export test".into(),
        config_json: "{}".into(),
    };
    let session = Session::start(db, config, workers, run).await.unwrap();
    register_demo_workflows(session.orchestrator()).unwrap();
    session
}

/// Runs `n` demo workflows (the four kinds in turn) and waits for all.
pub async fn run_workflows(session: &Session, n: usize) {
    let mut ids = Vec::new();
    for i in 0..n {
        let name = WORKFLOWS[i % WORKFLOWS.len()];
        ids.push(
            session
                .orchestrator()
                .execute_workflow(name, json!({ "data": format!("item_{i}") }))
                .await
                .unwrap(),
        );
    }
    for id in &ids {
        session.orchestrator().wait(id).await.unwrap();
    }
}

/// A whole run of `n` demo workflows, ended cleanly; returns its run id.
pub async fn record_demo_run(db: &Path, n: usize) -> i64 {
    let session = start_demo_session(db).await;
    run_workflows(&session, n).await;
    // Let the sampler take a few samples.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    session.check_alerts().await.unwrap();
    let run_id = session.run_id();
    session.shutdown().await.unwrap();
    run_id
}

/// The built `multiagents` binary.
pub fn binary() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_multiagents"))
}

pub fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}

/// The attribute `name` of the tag that starts at `tag` (up to its `>`).
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

/// Every opening tag `<name …>` of `html`.
pub fn tags<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name}");
    html.match_indices(&open)
        .filter(|(i, _)| {
            html[i + open.len()..]
                .chars()
                .next()
                .is_some_and(|c| c == ' ' || c == '>')
        })
        .map(|(i, _)| {
            let end = html[i..].find('>').map_or(html.len(), |e| i + e + 1);
            &html[i..end]
        })
        .collect()
}

/// The attribute `name` of a tag, if it has it.
pub fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    attribute(tag, name)
}

/// A page that reads on a 420 px phone: the viewport meta tag, no svg, img
/// or table with a fixed width over 400 px, every svg scaled by a viewBox
/// to the page's width, and no text in an svg under 12 px once the svg is
/// scaled to the phone's content width (420 px less the body's 1em padding
/// either side: 388 px).
pub fn assert_fits_a_phone(html: &str) {
    assert!(
        html.contains(r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#),
        "no viewport meta tag"
    );
    for name in ["svg", "img", "table"] {
        for tag in tags(html, name) {
            if let Some(width) = attribute(tag, "width") {
                let px = width.trim_end_matches("px");
                if let Ok(px) = px.parse::<f64>() {
                    assert!(px <= 400.0, "fixed width {width}: {tag}");
                } else {
                    assert!(width.ends_with('%'), "width {width}: {tag}");
                }
            }
        }
    }
    let svgs = tags(html, "svg");
    assert!(!svgs.is_empty(), "no charts");
    for tag in &svgs {
        let view_box = attribute(tag, "viewBox").unwrap_or_else(|| panic!("no viewBox: {tag}"));
        assert_eq!(attribute(tag, "width"), Some("100%"), "{tag}");
        let view_width: f64 = view_box.split(' ').nth(2).unwrap().parse().unwrap();
        let font: f64 = attribute(tag, "font-size")
            .unwrap_or_else(|| panic!("no font-size: {tag}"))
            .parse()
            .unwrap();
        let on_a_phone = font * 388.0 / view_width;
        assert!(
            on_a_phone >= 12.0,
            "{on_a_phone:.1} px text on a phone: {tag}"
        );
    }
    for (i, _) in html.match_indices("font-size=\"") {
        let rest = &html[i + "font-size=\"".len()..];
        let size: f64 = rest[..rest.find('"').unwrap()]
            .trim_end_matches("px")
            .parse()
            .unwrap();
        assert!(size >= 12.0, "font-size {size} at {i}");
    }
}
