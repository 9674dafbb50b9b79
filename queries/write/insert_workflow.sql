-- A workflow, running or (its changes merged in the same batch) already ended;
-- :last_event_id bounds its events' id range once it ended
-- (migrations/0006_compact_events.sql).
-- Index: workflows_by_transaction checks that :transaction_id is new; ids are
-- time-ordered, so the primary key grows at its end.
INSERT INTO workflows (id, transaction_id, run_id, workflow_name, state, current_step, created_at_us,
                       started_at_us, compensating_at_us, ended_at_us, input_size_bytes, error,
                       last_event_id)
VALUES (:id, :transaction_id, :run_id, :workflow_name, :state, :current_step, :created_at_us,
        :started_at_us, :compensating_at_us, :ended_at_us, :input_size_bytes, :error, :last_event_id)
