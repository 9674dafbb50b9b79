UPDATE runs SET ended_at_us = ?2 WHERE id = ?1
