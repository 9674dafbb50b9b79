DELETE FROM worker_minute_histogram WHERE minute_us < ?1
