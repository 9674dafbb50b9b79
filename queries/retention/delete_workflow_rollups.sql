DELETE FROM workflow_minute_rollups WHERE minute_us < ?1
