DELETE FROM worker_minute_rollups WHERE minute_us < ?1
