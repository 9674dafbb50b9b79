DELETE FROM workflows WHERE id = ?1
