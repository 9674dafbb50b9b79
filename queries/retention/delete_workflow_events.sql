DELETE FROM events WHERE workflow_id = ?1
