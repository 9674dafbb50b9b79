-- The committed state of one workflow, for get_status after it has left
-- the orchestrator's memory. Uses workflows_by_transaction.
SELECT workflow_name, state, current_step, error,
       created_at_us, started_at_us, compensating_at_us, ended_at_us
FROM workflows
WHERE transaction_id = :transaction_id
