//! Regression: `active_workflows()` still counted a workflow after `wait()`
//! had reported it terminal (the count dropped only when the task retired,
//! after publishing), so a check right after `wait()` could see 1.

mod support;

use multiagents::orchestrator::Orchestrator;
use multiagents::worker::{Context, WorkerRegistry};
use multiagents::workflow::WorkflowBuilder;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn active_workflows_is_zero_once_wait_returns() {
    let db = support::temp_db();
    let (store, writer) = support::open(&db.path);
    let mut workers = WorkerRegistry::new();
    workers.register("noop", |_ctx: Context| async { Ok(json!({})) });
    let orch = Orchestrator::with_store(workers, store, writer);
    orch.register_workflow(
        WorkflowBuilder::new("one")
            .step("a", "noop")
            .build()
            .unwrap(),
    )
    .unwrap();
    let mut still_active = 0;
    for _ in 0..2_000 {
        let tx = orch.execute_workflow("one", json!({})).await.unwrap();
        orch.wait(&tx).await.unwrap();
        if orch.active_workflows() != 0 {
            still_active += 1;
        }
    }
    assert_eq!(still_active, 0, "workflows counted active after wait()");
}
