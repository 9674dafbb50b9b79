//! The runtime against a real file and a real multi-threaded tokio runtime.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use multiagents::orchestrator::{Orchestrator, OrchestratorError, OrchestratorOptions};
use multiagents::store::WorkflowState;
use multiagents::worker::{Context, WorkerError, WorkerRegistry};
use multiagents::workflow::{RetryPolicy, Step, WorkflowBuilder, WorkflowError};
use rusqlite::Connection;
use serde_json::json;
use support::*;

fn sleeper(
    ms: u64,
) -> impl Fn(
    Context,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = multiagents::worker::WorkerResult> + Send>,
> + Send
+ Sync
+ 'static {
    move |_ctx| {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(json!({ "slept_ms": ms }))
        })
    }
}

fn orchestrator(db: &TempDb, workers: WorkerRegistry) -> Orchestrator {
    let (store, writer) = open(&db.path);
    Orchestrator::with_store(workers, store, writer)
}

fn second_connection(db: &TempDb) -> Connection {
    Connection::open(&db.path).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_parallel_group_really_runs_at_the_same_time() {
    let db = temp_db();
    let mut workers = WorkerRegistry::new();
    workers.register("sleep", sleeper(200));
    let orch = orchestrator(&db, workers);
    orch.register_workflow(
        WorkflowBuilder::new("par")
            .parallel((0..4).map(|i| Step::new(&format!("p{i}"), "sleep")))
            .build()
            .unwrap(),
    )
    .unwrap();
    let tx = orch.execute_workflow("par", json!({})).await.unwrap();
    let status = orch.wait(&tx).await.unwrap();
    assert_eq!(status.state, WorkflowState::Completed);
    assert_eq!(status.step_results.len(), 4);
    let conn = second_connection(&db);
    let intervals: Vec<(i64, i64)> = conn
        .prepare("SELECT started_at_us, ended_at_us FROM executions WHERE transaction_id = ?1")
        .unwrap()
        .query_map([&tx], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(intervals.len(), 4);
    let latest_start = intervals.iter().map(|i| i.0).max().unwrap();
    let earliest_end = intervals.iter().map(|i| i.1).min().unwrap();
    assert!(
        latest_start < earliest_end,
        "intervals do not all overlap: {intervals:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_over_its_timeout_is_recorded_as_timeout() {
    let db = temp_db();
    let mut workers = WorkerRegistry::new();
    workers.register("slow", sleeper(5_000));
    let orch = orchestrator(&db, workers);
    orch.register_workflow(
        WorkflowBuilder::new("t")
            .step("slow_step", "slow")
            .timeout(Duration::from_millis(50))
            .build()
            .unwrap(),
    )
    .unwrap();
    let tx = orch.execute_workflow("t", json!({})).await.unwrap();
    let status = orch.wait(&tx).await.unwrap();
    assert_eq!(status.state, WorkflowState::Failed);
    assert!(
        status.error.as_deref().unwrap().contains("timeout"),
        "{status:?}"
    );
    let conn = second_connection(&db);
    let (st, et): (String, String) = conn
        .query_row(
            "SELECT status, error_type FROM executions WHERE transaction_id = ?1",
            [&tx],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(st, "timeout");
    assert_eq!(et, "TimeoutError");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_that_keeps_failing_is_tried_three_times() {
    let db = temp_db();
    let mut workers = WorkerRegistry::new();
    workers.register("always_fails", |_ctx: Context| async {
        Err(WorkerError::new("NetworkError: Connection timeout"))
    });
    let orch = orchestrator(&db, workers);
    orch.register_workflow(
        WorkflowBuilder::new("r")
            .step("flaky", "always_fails")
            .retry(RetryPolicy::attempts(3).with_backoff(
                Duration::from_millis(1),
                2.0,
                Duration::from_millis(10),
            ))
            .build()
            .unwrap(),
    )
    .unwrap();
    let tx = orch.execute_workflow("r", json!({})).await.unwrap();
    assert_eq!(orch.wait(&tx).await.unwrap().state, WorkflowState::Failed);
    let conn = second_connection(&db);
    let attempts: Vec<(i64, String, String)> = conn
        .prepare("SELECT attempt, status, error_type FROM executions WHERE transaction_id = ?1 ORDER BY attempt")
        .unwrap()
        .query_map([&tx], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        attempts,
        (1..=3)
            .map(|a| (a, "failed".to_string(), "NetworkError".to_string()))
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_error_is_not_retried() {
    let db = temp_db();
    let mut workers = WorkerRegistry::new();
    workers.register("bad_input", |_ctx: Context| async {
        Err(WorkerError::fatal("ValidationError: bad"))
    });
    let orch = orchestrator(&db, workers);
    orch.register_workflow(
        WorkflowBuilder::new("f")
            .step("s", "bad_input")
            .retry(RetryPolicy::attempts(5))
            .build()
            .unwrap(),
    )
    .unwrap();
    let tx = orch.execute_workflow("f", json!({})).await.unwrap();
    orch.wait(&tx).await.unwrap();
    let n = count(&second_connection(&db), "SELECT count(*) FROM executions");
    assert_eq!(n, 1);
}

fn recording_worker(
    log: Arc<Mutex<Vec<String>>>,
    name: &'static str,
) -> impl Fn(
    Context,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = multiagents::worker::WorkerResult> + Send>,
> + Send
+ Sync
+ 'static {
    move |ctx: Context| {
        let log = Arc::clone(&log);
        Box::pin(async move {
            let step = ctx.get_str("compensating_step").unwrap_or("?").to_string();
            log.lock().unwrap().push(format!("{name}:{step}"));
            Ok(json!({}))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compensations_run_in_reverse_order_of_completion() {
    let db = temp_db();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut workers = WorkerRegistry::new();
    workers.register("ok", sleeper(5));
    workers.register("fails", |_ctx: Context| async {
        Err(WorkerError::new("PaymentError: declined"))
    });
    workers.register("undo", recording_worker(Arc::clone(&log), "undo"));
    let orch = orchestrator(&db, workers);
    orch.register_workflow(
        WorkflowBuilder::new("saga")
            .step("reserve", "ok")
            .compensation("undo")
            .step("charge", "ok")
            .compensation("undo")
            .step("no_undo", "ok")
            .step("ship", "fails")
            .build()
            .unwrap(),
    )
    .unwrap();
    let tx = orch.execute_workflow("saga", json!({})).await.unwrap();
    let status = orch.wait(&tx).await.unwrap();
    assert_eq!(status.state, WorkflowState::Compensated);
    assert_eq!(*log.lock().unwrap(), vec!["undo:charge", "undo:reserve"]);
    let conn = second_connection(&db);
    let comp: Vec<String> = conn
        .prepare("SELECT step FROM executions WHERE transaction_id = ?1 AND event_type = 'compensation' ORDER BY started_at_us")
        .unwrap()
        .query_map([&tx], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(comp, vec!["charge", "reserve"]);
    let compensating: Option<i64> = conn
        .query_row(
            "SELECT compensating_at_us FROM workflows WHERE transaction_id = ?1",
            [&tx],
            |r| r.get(0),
        )
        .unwrap();
    assert!(compensating.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_the_running_step_and_compensates() {
    let db = temp_db();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut workers = WorkerRegistry::new();
    workers.register("quick", sleeper(1));
    workers.register("long", sleeper(60_000));
    workers.register("undo", recording_worker(Arc::clone(&log), "undo"));
    let orch = orchestrator(&db, workers);
    orch.register_workflow(
        WorkflowBuilder::new("c")
            .step("first", "quick")
            .compensation("undo")
            .step("second", "long")
            .step("never", "quick")
            .build()
            .unwrap(),
    )
    .unwrap();
    let tx = orch.execute_workflow("c", json!({})).await.unwrap();
    // Wait until the long step is running.
    for _ in 0..200 {
        if orch.get_status(&tx).unwrap().current_step.as_deref() == Some("second") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(orch.cancel(&tx).unwrap());
    let status = tokio::time::timeout(Duration::from_secs(5), orch.wait(&tx))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.state, WorkflowState::Cancelled);
    assert_eq!(*log.lock().unwrap(), vec!["undo:first"]);
    assert!(
        !orch.cancel(&tx).unwrap(),
        "a finished workflow cannot be cancelled again"
    );
    let conn = second_connection(&db);
    let rows: Vec<(String, String)> = conn
        .prepare(
            "SELECT step, status FROM executions WHERE transaction_id = ?1 ORDER BY execution_id",
        )
        .unwrap()
        .query_map([&tx], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        vec![
            ("first".to_string(), "completed".to_string()),
            ("second".to_string(), "cancelled".to_string()),
            ("first".to_string(), "completed".to_string()),
        ]
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM events WHERE finished_at_us IS NULL"
        ),
        0
    );
    assert_eq!(orch.active_workflows(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_worker_is_a_failed_execution_and_the_orchestrator_goes_on() {
    let db = temp_db();
    let mut workers = WorkerRegistry::new();
    workers.register("boom", |_ctx: Context| async {
        if true {
            panic!("kaboom in the worker");
        }
        Ok(json!({}))
    });
    workers.register("bad_shape", |_ctx: Context| async { Ok(json!([1, 2, 3])) });
    workers.register("ok", sleeper(1));
    let orch = orchestrator(&db, workers);
    orch.register_workflow(WorkflowBuilder::new("p").step("s", "boom").build().unwrap())
        .unwrap();
    orch.register_workflow(
        WorkflowBuilder::new("shape")
            .step("s", "bad_shape")
            .build()
            .unwrap(),
    )
    .unwrap();
    orch.register_workflow(
        WorkflowBuilder::new("fine")
            .step("s", "ok")
            .build()
            .unwrap(),
    )
    .unwrap();
    let tx = orch.execute_workflow("p", json!({})).await.unwrap();
    let status = orch.wait(&tx).await.unwrap();
    assert_eq!(status.state, WorkflowState::Failed);
    let conn = second_connection(&db);
    let (st, msg): (String, String) = conn
        .query_row(
            "SELECT status, error_message FROM executions WHERE transaction_id = ?1",
            [&tx],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(st, "failed");
    assert!(msg.contains("kaboom in the worker"), "{msg}");
    let tx = orch.execute_workflow("shape", json!({})).await.unwrap();
    let status = orch.wait(&tx).await.unwrap();
    assert!(status.error.unwrap().contains("InvalidResult"));
    let tx = orch.execute_workflow("fine", json!({})).await.unwrap();
    assert_eq!(
        orch.wait(&tx).await.unwrap().state,
        WorkflowState::Completed
    );
}

#[tokio::test]
async fn bad_definitions_and_inputs_are_rejected() {
    let mut workers = WorkerRegistry::new();
    workers.register("ok", sleeper(1));
    let orch = Orchestrator::new(workers);
    let err = orch
        .register_workflow(
            WorkflowBuilder::new("w")
                .step("a", "ok")
                .step("b", "nobody")
                .build()
                .unwrap(),
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("\"b\"") && err.to_string().contains("nobody"),
        "{err}"
    );
    let err = WorkflowBuilder::new("w")
        .step("a", "ok")
        .step("a", "ok")
        .build()
        .unwrap_err();
    assert!(matches!(err, WorkflowError::DuplicateStep { ref step, .. } if step == "a"));
    assert!(matches!(
        orch.execute_workflow("missing", json!({})).await,
        Err(OrchestratorError::UnknownWorkflow(_))
    ));
    orch.register_workflow(WorkflowBuilder::new("w").step("a", "ok").build().unwrap())
        .unwrap();
    assert!(matches!(
        orch.execute_workflow("w", json!([1])).await,
        Err(OrchestratorError::InvalidInput("an array"))
    ));
    assert!(matches!(
        orch.get_status("nope"),
        Err(OrchestratorError::UnknownTransaction(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_of_a_parallel_group_are_all_visible_to_the_next_step() {
    let db = temp_db();
    let seen = Arc::new(Mutex::new(None));
    let mut workers = WorkerRegistry::new();
    workers.register("a", |_ctx: Context| async { Ok(json!({"a": 1})) });
    workers.register("b", |_ctx: Context| async { Ok(json!({"b": 2})) });
    let s = Arc::clone(&seen);
    workers.register("check", move |ctx: Context| {
        let s = Arc::clone(&s);
        async move {
            *s.lock().unwrap() = Some(ctx.as_map().clone());
            Ok(json!({}))
        }
    });
    let orch = orchestrator(&db, workers);
    orch.register_workflow(
        WorkflowBuilder::new("w")
            .parallel([Step::new("pa", "a"), Step::new("pb", "b")])
            .step("check", "check")
            .build()
            .unwrap(),
    )
    .unwrap();
    let tx = orch
        .execute_workflow("w", json!({"data": "x"}))
        .await
        .unwrap();
    orch.wait(&tx).await.unwrap();
    let ctx = seen.lock().unwrap().clone().unwrap();
    assert_eq!(ctx["data"], "x");
    assert_eq!(ctx["a"], 1);
    assert_eq!(ctx["b"], 2);
    assert_eq!(ctx["step_results"]["pa"]["a"], 1);
    assert_eq!(ctx["step_results"]["pb"]["b"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_concurrent_workflows_are_all_fully_traced_when_waited() {
    let db = temp_db();
    let mut workers = WorkerRegistry::new();
    workers.register("noop", |_ctx: Context| async { Ok(json!({})) });
    let (store, writer) = open(&db.path);
    // A small in-memory window forces older statuses to come from the file.
    let options = OrchestratorOptions {
        finished_in_memory: 100,
        ..Default::default()
    };
    let orch = Orchestrator::build(workers, Some(store), Some(writer), options);
    orch.register_workflow(
        WorkflowBuilder::new("three")
            .step("a", "noop")
            .step("b", "noop")
            .step("c", "noop")
            .build()
            .unwrap(),
    )
    .unwrap();
    let mut ids = Vec::new();
    for i in 0..10_000 {
        ids.push(
            orch.execute_workflow("three", json!({ "i": i }))
                .await
                .unwrap(),
        );
    }
    let mut waits = Vec::new();
    for id in ids.clone() {
        let orch = orch.clone();
        waits.push(tokio::spawn(async move { orch.wait(&id).await.unwrap() }));
    }
    for w in waits {
        assert_eq!(w.await.unwrap().state, WorkflowState::Completed);
    }
    let conn = second_connection(&db);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM workflows WHERE state = 'completed'"
        ),
        10_000
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM events WHERE status = 'completed' AND picked_up_at_us IS NOT NULL AND processing_at_us IS NOT NULL"
        ),
        30_000
    );
    // Every transaction: pending, running, 3 events x 4 stages, completed.
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM (SELECT transaction_id FROM event_stages GROUP BY transaction_id HAVING count(*) = 15)"
        ),
        10_000
    );
    let old = orch.get_status(&ids[0]).unwrap();
    assert_eq!(old.state, WorkflowState::Completed);
    assert_eq!(old.workflow_name, "three");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_state_that_could_not_be_committed_is_never_reported() {
    let db = temp_db();
    let mut workers = WorkerRegistry::new();
    workers.register("slow", sleeper(200));
    let (store, writer) = open(&db.path);
    let orch = Orchestrator::with_store(workers, store, writer.clone());
    orch.register_workflow(WorkflowBuilder::new("w").step("s", "slow").build().unwrap())
        .unwrap();
    let tx = orch.execute_workflow("w", json!({})).await.unwrap();
    // The writer goes away while the step runs.
    writer.shutdown().await.unwrap();
    let err = orch.wait(&tx).await.unwrap_err();
    assert!(matches!(err, OrchestratorError::Store(_)), "{err}");
    assert!(orch.get_status(&tx).is_err());
}
