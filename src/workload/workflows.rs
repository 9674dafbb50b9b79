//! The seed's "Test Workflows", plus `cpu_intensive_monitoring`, which the
//! seed runs without defining (prepare → cpu_intensive → combine).

use crate::orchestrator::{Orchestrator, OrchestratorError};
use crate::workflow::{Step, Workflow, WorkflowBuilder, WorkflowError};

/// The four demo workflows.
pub fn demo_workflows() -> Result<Vec<Workflow>, WorkflowError> {
    Ok(vec![
        WorkflowBuilder::new("simple_monitoring")
            .step("fast_step", "fast_processor")
            .step("slow_step", "slow_processor")
            .step("flaky_step", "flaky_processor")
            .build()?,
        WorkflowBuilder::new("parallel_monitoring")
            .step("prepare", "fast_processor")
            .parallel([
                Step::new("process_a", "fast_processor"),
                Step::new("process_b", "slow_processor"),
                Step::new("process_c", "flaky_processor"),
                Step::new("process_d", "cpu_intensive"),
            ])
            .step("combine", "fast_processor")
            .build()?,
        WorkflowBuilder::new("error_monitoring")
            .step("validate", "fast_processor")
            .step("risky_process", "flaky_processor")
            .step("cleanup", "fast_processor")
            .build()?,
        WorkflowBuilder::new("cpu_intensive_monitoring")
            .step("prepare", "fast_processor")
            .step("compute", "cpu_intensive")
            .step("combine", "fast_processor")
            .build()?,
    ])
}

/// Registers the four demo workflows (their workers must be registered).
pub fn register_demo_workflows(orchestrator: &Orchestrator) -> Result<(), OrchestratorError> {
    for workflow in demo_workflows()? {
        orchestrator.register_workflow(workflow)?;
    }
    Ok(())
}
