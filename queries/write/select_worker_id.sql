SELECT id FROM workers WHERE name = ?1
