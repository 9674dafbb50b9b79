INSERT INTO runs (started_at_us, command, config_json, version, host) VALUES (?1, ?2, ?3, ?4, ?5)
