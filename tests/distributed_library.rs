//! The worker host API of the library (`transport::host::serve` with a
//! user's own registry) and the orchestrator's side (`Session::start_remote`
//! with `RedisWorkers`), against a real `redis-server` of the test's own.
//!
//! - A step timeout is the orchestrator's: the attempt is recorded
//!   `timeout`, and the host's reply that comes later is counted as a
//!   duplicate, never recorded.
//! - A context over the payload limit fails its step at once with a clear
//!   error, without retrying.
//! - A host stopped with a step running hands it back within its grace;
//!   another host runs it and the workflow completes.
//! - The streams hold only work not yet done: empty after the run.

mod support;

use std::sync::Arc;
use std::time::Duration;

use multiagents::session::Session;
use multiagents::store::WriterOptions;
use multiagents::transport::RemoteWorkers;
use multiagents::transport::host::{self, HostOptions, HostSummary};
use multiagents::transport::redis::{RedisOptions, RedisWorkers};
use multiagents::worker::{Context, WorkerRegistry};
use multiagents::workflow::{RetryPolicy, WorkflowBuilder};
use redis::AsyncCommands;
use rusqlite::Connection;
use serde_json::json;
use support::redis::RedisServer;
use tokio::sync::oneshot;

/// A user's registry: `sleepy` sleeps `ms` from its context, `echo` returns it.
fn registry() -> WorkerRegistry {
    let mut workers = WorkerRegistry::new();
    workers.register("sleepy", |ctx: Context| async move {
        let ms = ctx.get_i64("ms").unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms as u64)).await;
        Ok(json!({ "slept_ms": ms }))
    });
    workers.register("echo", |ctx: Context| async move {
        Ok(json!({ "echo": ctx.get_str("data").unwrap_or("") }))
    });
    workers
}

/// A host of `registry()` serving in this process until the sender fires.
fn spawn_host(
    url: &str,
    name: &str,
    grace: Duration,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<HostSummary>) {
    let mut options = HostOptions::new(url, vec!["sleepy".into(), "echo".into()]);
    options.name = name.to_string();
    options.grace = grace;
    options.visibility_timeout = Duration::from_secs(30);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        host::serve(registry(), options, async {
            let _ = stopped.await;
        })
        .await
        .unwrap()
    });
    (stop, task)
}

async fn session(
    db: &std::path::Path,
    url: &str,
    tune: impl FnOnce(&mut RedisOptions),
) -> (Session, RedisWorkers) {
    let mut options = RedisOptions::new(url);
    tune(&mut options);
    let remote = RedisWorkers::connect(options).await.unwrap();
    remote
        .wait_for_hosts(&["sleepy".into(), "echo".into()], Duration::from_secs(10))
        .await
        .unwrap();
    let session = Session::start_remote(
        db,
        multiagents::config::MonitoringConfig::default(),
        WorkerRegistry::new(),
        support::run_info(),
        WriterOptions::default(),
        Some(Arc::new(remote.clone()) as Arc<dyn RemoteWorkers>),
    )
    .await
    .unwrap();
    (session, remote)
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_reply_after_the_timeout_is_counted_never_recorded() {
    let Some(redis) =
        RedisServer::start("a_late_reply_after_the_timeout_is_counted_never_recorded")
    else {
        return;
    };
    let db = support::temp_db();
    let (stop, host) = spawn_host(&redis.url(), "h1", Duration::from_secs(5));
    let (session, remote) = session(&db.path, &redis.url(), |_| {}).await;
    let o = session.orchestrator();
    o.register_workflow(
        WorkflowBuilder::new("slow")
            .step("nap", "sleepy")
            .timeout(Duration::from_millis(100))
            .build()
            .unwrap(),
    )
    .unwrap();
    let tx = o
        .execute_workflow("slow", json!({"ms": 600}))
        .await
        .unwrap();
    let status = o.wait(&tx).await.unwrap();
    assert_eq!(status.state.as_str(), "failed");
    // The host finishes the step later; its reply is a duplicate.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while remote.duplicates() < 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no duplicate counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    session.shutdown().await.unwrap();
    let _ = stop.send(());
    let summary = host.await.unwrap();
    assert_eq!(summary.executed, 1);
    let conn = Connection::open(&db.path).unwrap();
    assert_eq!(count(&conn, "SELECT count(*) FROM events"), 1);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM events WHERE status = 'timeout'"
        ),
        1
    );
    assert_eq!(count(&conn, "SELECT duplicates FROM run_hosts"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_over_the_limit_fails_its_step_at_once() {
    let Some(redis) = RedisServer::start("a_context_over_the_limit_fails_its_step_at_once") else {
        return;
    };
    let db = support::temp_db();
    let (stop, host) = spawn_host(&redis.url(), "h1", Duration::from_secs(5));
    let (session, _remote) = session(&db.path, &redis.url(), |o| o.max_payload_bytes = 1_000).await;
    let o = session.orchestrator();
    o.register_workflow(
        WorkflowBuilder::new("big")
            .step("say", "echo")
            .retry(RetryPolicy::attempts(3))
            .build()
            .unwrap(),
    )
    .unwrap();
    let tx = o
        .execute_workflow("big", json!({"data": "x".repeat(2_000)}))
        .await
        .unwrap();
    let status = o.wait(&tx).await.unwrap();
    assert_eq!(status.state.as_str(), "failed");
    let small = o
        .execute_workflow("big", json!({"data": "hello"}))
        .await
        .unwrap();
    let status = o.wait(&small).await.unwrap();
    assert_eq!(status.state.as_str(), "completed");
    assert_eq!(status.step_results["say"]["echo"], "hello");
    session.shutdown().await.unwrap();
    let _ = stop.send(());
    host.await.unwrap();
    let conn = Connection::open(&db.path).unwrap();
    let (attempts, error_type, message): (i64, String, String) = conn
        .query_row(
            "SELECT count(*), error_type, error_message FROM events WHERE status = 'failed'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(attempts, 1, "not retried");
    assert_eq!(error_type, "PayloadTooLarge");
    assert!(
        message.contains("over the limit of 1000 bytes"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_host_hands_its_running_step_back_to_another() {
    let Some(redis) = RedisServer::start("a_stopped_host_hands_its_running_step_back_to_another")
    else {
        return;
    };
    let db = support::temp_db();
    let url = redis.url();
    let (stop_first, first) = spawn_host(&url, "first", Duration::from_millis(100));
    let (session, _remote) = session(&db.path, &url, |_| {}).await;
    let o = session.orchestrator();
    o.register_workflow(
        WorkflowBuilder::new("long")
            .step("nap", "sleepy")
            .build()
            .unwrap(),
    )
    .unwrap();
    let tx = o
        .execute_workflow("long", json!({"ms": 1_500}))
        .await
        .unwrap();
    // The first host holds it, then stops: the step is handed back.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop_first.send(());
    let summary = first.await.unwrap();
    assert_eq!(summary.handed_back, 1, "{summary:?}");
    assert_eq!(summary.executed, 0);
    let (stop_second, second) = spawn_host(&url, "second", Duration::from_secs(5));
    let status = o.wait(&tx).await.unwrap();
    assert_eq!(status.state.as_str(), "completed");
    session.shutdown().await.unwrap();
    let _ = stop_second.send(());
    assert_eq!(second.await.unwrap().executed, 1);
    let conn = Connection::open(&db.path).unwrap();
    let host: String = conn
        .query_row("SELECT host FROM executions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(host, "second");
    // Nothing left in Redis but the heartbeats' set: done commands are
    // deleted, the reply stream read and trimmed.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for worker in ["sleepy", "echo"] {
        let len: i64 = conn
            .xlen(format!("multiagents:commands:{worker}"))
            .await
            .unwrap();
        assert_eq!(len, 0, "{worker}");
    }
    let replies: Vec<String> = conn.keys("multiagents:replies:*").await.unwrap();
    for key in replies {
        let len: i64 = conn.xlen(&key).await.unwrap();
        assert!(len <= 1, "{key} holds {len}");
    }
}
