UPDATE alerts SET resolved_at_us = ?2 WHERE id = ?1 AND resolved_at_us IS NULL
