//! A whole monitored run: demo workers, background sampling, health checks
//! and alerts, all landing in the file.

mod support;

use multiagents::config::MonitoringConfig;
use multiagents::session::Session;
use multiagents::store::WorkflowState;
use multiagents::worker::WorkerRegistry;
use multiagents::workload::{DemoSettings, register_demo_workers, register_demo_workflows};
use serde_json::json;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_records_workflows_samples_and_alerts() {
    let db = temp_db();
    let mut config = MonitoringConfig::default();
    config.metrics_collection.collection_interval_seconds = 0.2;
    // Long enough that nobody goes inactive during the test. The background
    // check's first tick may come after the workflows on a loaded machine
    // and fire the alerts before the check below does, so what fired is
    // read from the file.
    config.worker_monitoring.health_check_interval_seconds = 30.0;
    let mut workers = WorkerRegistry::new();
    // Always fail the flaky worker, so its alerts must fire.
    register_demo_workers(
        &mut workers,
        DemoSettings {
            seed: 7,
            time_scale: 0.01,
            failure_rate: 1.0,
        },
    );
    let session = Session::start(&db.path, config, workers, run_info())
        .await
        .unwrap();
    register_demo_workflows(session.orchestrator()).unwrap();
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(
            session
                .orchestrator()
                .execute_workflow(
                    "error_monitoring",
                    json!({ "data": format!("error_test_{i}") }),
                )
                .await
                .unwrap(),
        );
    }
    for id in &ids {
        assert_eq!(
            session.orchestrator().wait(id).await.unwrap().state,
            WorkflowState::Failed
        );
    }
    session.check_alerts().await.unwrap();
    session.writer().flush().await.unwrap();
    let fired: Vec<String> = {
        let conn = rusqlite::Connection::open(&db.path).unwrap();
        let mut stmt = conn
            .prepare("SELECT alert_type FROM alerts WHERE resolved_at_us IS NULL")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert!(fired.contains(&"high_error_rate".to_string()), "{fired:?}");
    assert!(fired.contains(&"worker_failed".to_string()), "{fired:?}");
    // Checking again while the conditions hold changes nothing.
    let changes = session.check_alerts().await.unwrap();
    assert!(changes.is_empty(), "{changes:?}");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let perf = session
        .worker_monitor()
        .get_worker_performance(
            "flaky_processor",
            multiagents::window::TimeWindow::last_minutes(5.0),
        )
        .unwrap();
    assert_eq!(perf.total_executions, 20);
    assert_eq!(perf.error_rate, 100.0);
    let run_id = session.run_id();
    session.shutdown().await.unwrap();
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    assert!(count(&conn, "SELECT count(*) FROM system_samples") >= 1);
    for alert_type in ["high_error_rate", "worker_failed"] {
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM alerts WHERE alert_type = ?1 AND resolved_at_us IS NOT NULL",
                [alert_type],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            n, 1,
            "{alert_type} fired once, and resolved when the run ended"
        );
    }
    let ended: Option<i64> = conn
        .query_row(
            "SELECT ended_at_us FROM runs WHERE id = ?1",
            [run_id],
            |r| r.get(0),
        )
        .unwrap();
    assert!(ended.is_some());
}

/// A worker that never finishes on its own: only a stop ends it.
async fn stuck(_ctx: multiagents::worker::Context) -> multiagents::worker::WorkerResult {
    std::future::pending::<()>().await;
    Ok(json!({}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_session_cancels_what_is_in_flight_and_closes_the_run_interrupted() {
    use multiagents::store::RunStatus;
    use multiagents::workflow::WorkflowBuilder;

    let db = temp_db();
    let mut workers = WorkerRegistry::new();
    workers.register("quick", |_ctx| async { Ok(json!({ "done": true })) });
    workers.register("stuck", stuck);
    let mut session = Session::start(&db.path, MonitoringConfig::default(), workers, run_info())
        .await
        .unwrap();
    let orchestrator = session.orchestrator().clone();
    for (name, worker) in [("quick", "quick"), ("stuck", "stuck")] {
        orchestrator
            .register_workflow(
                WorkflowBuilder::new(name)
                    .step("only", worker)
                    .build()
                    .unwrap(),
            )
            .unwrap();
    }
    // Finished before the stop: left as they are.
    for _ in 0..3 {
        let id = orchestrator
            .execute_workflow("quick", json!({}))
            .await
            .unwrap();
        assert_eq!(
            orchestrator.wait(&id).await.unwrap().state,
            WorkflowState::Completed
        );
    }
    // In flight at the stop, and never finishing within the grace period.
    for _ in 0..4 {
        orchestrator
            .execute_workflow("stuck", json!({}))
            .await
            .unwrap();
    }
    assert_eq!(orchestrator.active_workflows(), 4);
    session.set_grace(std::time::Duration::from_millis(50));
    assert!(!session.interrupter().is_triggered());
    session.interrupt("interrupted by the test");
    assert!(session.interrupter().is_triggered());
    let run_id = session.run_id();
    let grace = session.grace();
    let summary = session.shutdown_with(grace).await.unwrap();
    assert_eq!(summary.run_id, run_id);
    assert_eq!(summary.status, RunStatus::Interrupted);
    assert_eq!(summary.reason, "interrupted by the test");
    assert_eq!(summary.in_flight_at_stop, 4);
    assert_eq!(summary.finished_in_grace, 0);
    assert_eq!(summary.cancelled, 4);

    let conn = rusqlite::Connection::open(&db.path).unwrap();
    let (status, reason, ended): (String, String, Option<i64>) = conn
        .query_row(
            "SELECT status, end_reason, ended_at_us FROM runs WHERE id = ?1",
            [run_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(status, "interrupted");
    assert_eq!(reason, "interrupted by the test");
    assert!(ended.is_some());
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM workflows WHERE state = 'completed'"
        ),
        3
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM workflows WHERE state = 'cancelled' AND error = 'interrupted'"
        ),
        4
    );
    // Nothing is left in flight: every workflow and event has its end.
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM workflows WHERE ended_at_us IS NULL"
        ),
        0
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM events WHERE finished_at_us IS NULL"
        ),
        0
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM events WHERE status = 'cancelled'"
        ),
        4
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_shut_down_without_interrupt_completes_its_run() {
    let db = temp_db();
    let mut workers = WorkerRegistry::new();
    workers.register("stuck", stuck);
    let session = Session::start(&db.path, MonitoringConfig::default(), workers, run_info())
        .await
        .unwrap();
    session
        .orchestrator()
        .register_workflow(
            multiagents::workflow::WorkflowBuilder::new("stuck")
                .step("only", "stuck")
                .build()
                .unwrap(),
        )
        .unwrap();
    session
        .orchestrator()
        .execute_workflow("stuck", json!({}))
        .await
        .unwrap();
    let summary = session
        .shutdown_with(std::time::Duration::from_secs(3600))
        .await
        .unwrap();
    // No interrupt: no grace period is waited, nothing is stopped.
    assert_eq!(summary.status, multiagents::store::RunStatus::Completed);
    assert_eq!(summary.in_flight_at_stop, 0);
    assert_eq!(summary.cancelled, 0);
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    let status: String = conn
        .query_row("SELECT status FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(status, "completed");
}

fn is_disk_full(e: &multiagents::orchestrator::OrchestratorError) -> bool {
    matches!(
        e,
        multiagents::orchestrator::OrchestratorError::Store(
            multiagents::store::StoreError::WriterStopped(reason)
        ) if reason.contains("disk full writing")
    )
}

/// Set in the child process of the full-disk test: the database to record
/// into.
const FULL_DB_ENV: &str = "MULTIAGENTS_TEST_FULL_DB";

/// A library `Session` whose writer fails (a full disk, made without root
/// through `PRAGMA max_page_count`): new work stops at the first failure,
/// the failure is one clear error, and what was committed stays intact.
///
/// The page limit is read from the environment when a writer starts, so
/// the session runs in a child process (this test binary again, running
/// only this test) with the limit set.
#[test]
fn a_full_disk_stops_a_sessions_new_work_with_one_error_and_keeps_what_was_committed() {
    use multiagents::store::MAX_PAGE_COUNT_ENV;

    if let Some(db) = std::env::var_os(FULL_DB_ENV) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(full_disk_session(std::path::PathBuf::from(db)));
        return;
    }
    let db = temp_db();
    // The schema and a finished run, then room for only a few more pages.
    let (_store, writer) = open(&db.path);
    writer.blocking_shutdown().unwrap();
    let pages: i64 = rusqlite::Connection::open(&db.path)
        .unwrap()
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "a_full_disk_stops_a_sessions_new_work_with_one_error_and_keeps_what_was_committed",
            "--exact",
            "--test-threads=1",
        ])
        .env(MAX_PAGE_COUNT_ENV, (pages + 3).to_string())
        .env(FULL_DB_ENV, &db.path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
}

async fn full_disk_session(db: std::path::PathBuf) {
    use multiagents::store::StoreError;
    use multiagents::workflow::WorkflowBuilder;

    let mut workers = WorkerRegistry::new();
    workers.register("quick", |_ctx| async {
        Ok(json!({ "payload": "x".repeat(200) }))
    });
    let session = Session::start(&db, MonitoringConfig::default(), workers, run_info())
        .await
        .unwrap();
    let orchestrator = session.orchestrator().clone();
    orchestrator
        .register_workflow(
            WorkflowBuilder::new("w")
                .step("only", "quick")
                .build()
                .unwrap(),
        )
        .unwrap();
    assert_eq!(session.failure(), None);
    let mut completed = Vec::new();
    let refused = loop {
        assert!(completed.len() < 100_000, "the disk never filled");
        let id = match orchestrator
            .execute_workflow("w", json!({ "input": "y".repeat(200) }))
            .await
        {
            Ok(id) => id,
            Err(e) => break e,
        };
        match orchestrator.wait(&id).await {
            Ok(status) => {
                assert_eq!(status.state, WorkflowState::Completed);
                completed.push(id);
            }
            // Its end could not be committed: never reported done.
            Err(e) => assert!(is_disk_full(&e), "{e}"),
        }
    };
    // New work is refused with the one reason, from then on.
    assert!(is_disk_full(&refused), "{refused}");
    let again = orchestrator
        .execute_workflow("w", json!({}))
        .await
        .unwrap_err();
    assert!(is_disk_full(&again), "{again}");
    let reason = session.failure().unwrap();
    assert!(reason.starts_with("disk full writing"), "{reason}");
    assert_eq!(session.failed().await, reason);
    // Shutting down says the same, once, without waiting for anything.
    let err = session.shutdown().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        StoreError::WriterStopped(reason).to_string()
    );

    // Every workflow reported done is in the file, and the file is sound.
    assert!(!completed.is_empty());
    let conn = rusqlite::Connection::open(&db).unwrap();
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(verdict, "ok");
    for id in &completed {
        let state: String = conn
            .query_row(
                "SELECT state FROM workflows WHERE transaction_id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(state, "completed", "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_jobs_are_ticks_run_at_a_chosen_time() {
    use multiagents::schedule::Next;
    use multiagents::session::Job;

    let db = temp_db();
    let mut config = MonitoringConfig::default();
    // The schedule's own rounds come once at the start, then not for an
    // hour: what the file holds after that is what the ticks below did.
    config.metrics_collection.collection_interval_seconds = 3600.0;
    config.worker_monitoring.health_check_interval_seconds = 3600.0;
    let mut workers = WorkerRegistry::new();
    register_demo_workers(
        &mut workers,
        DemoSettings {
            seed: 7,
            time_scale: 0.01,
            failure_rate: 1.0,
        },
    );
    let session = Session::start(&db.path, config, workers, run_info())
        .await
        .unwrap();
    register_demo_workflows(session.orchestrator()).unwrap();
    for i in 0..10 {
        let id = session
            .orchestrator()
            .execute_workflow("error_monitoring", json!({ "data": format!("e{i}") }))
            .await
            .unwrap();
        session.orchestrator().wait(&id).await.unwrap();
    }
    let now = multiagents::clock::now_us();
    // A sample stamped with the time it was given.
    assert_eq!(session.tick(Job::Sample, now + 7).await, Next::Again);
    // The failures are in the alert window: the alert fires at `now`.
    assert_eq!(session.tick(Job::Check, now).await, Next::Again);
    // Ten minutes later the 5-minute window is empty: it resolves then.
    let later = now + 10 * 60 * 1_000_000;
    assert_eq!(session.tick(Job::Check, later).await, Next::Again);
    assert_eq!(session.tick(Job::Retention, now).await, Next::Again);
    session.writer().flush().await.unwrap();
    let conn = rusqlite::Connection::open(&db.path).unwrap();
    assert_eq!(
        count(
            &conn,
            &format!(
                "SELECT count(*) FROM system_samples WHERE sampled_at_us = {}",
                now + 7
            )
        ),
        1
    );
    let (fired, resolved): (i64, i64) = conn
        .query_row(
            "SELECT fired_at_us, resolved_at_us FROM alerts WHERE alert_type = 'high_error_rate'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(fired <= now, "{fired} {now}");
    assert_eq!(resolved, later);
    session.shutdown().await.unwrap();
}
