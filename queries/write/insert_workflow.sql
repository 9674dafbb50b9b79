INSERT INTO workflows (id, transaction_id, run_id, workflow_name, state, current_step, created_at_us,
                       started_at_us, compensating_at_us, ended_at_us, input_size_bytes, error)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
