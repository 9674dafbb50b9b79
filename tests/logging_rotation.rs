//! The log file rotates by size and keeps at most `backup_count` old files.
//!
//! Uses the writer directly (not `init_logging`) because a global subscriber
//! can be installed only once per process.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use multiagents::logging::rotating_file_writer;

const MAX_BYTES: u64 = 10 * 1024;
const BACKUPS: u32 = 2;

fn names_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[test]
fn rotation_happens_and_backups_are_capped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("logs").join("monitoring.log");
    let mut writer = rotating_file_writer(&path, MAX_BYTES, BACKUPS).expect("writer");

    // ~3 MiB of JSON-ish lines: hundreds of rotations at 10 KiB.
    let line = format!(
        "{{\"level\":\"INFO\",\"message\":\"{}\"}}\n",
        "x".repeat(200)
    );
    let mut written = 0usize;
    let mut n = 0u64;
    while written < 3 * 1024 * 1024 {
        let numbered = line.replacen("INFO", &format!("INFO{n:08}"), 1);
        writer.write_all(numbered.as_bytes()).expect("write");
        written += numbered.len();
        n += 1;
    }
    // Waits for the background archive rename/prune work.
    writer.flush().expect("flush");
    drop(writer);

    let log_dir = path.parent().expect("parent");
    let names = names_in(log_dir);
    let backups: Vec<&String> = names.iter().filter(|n| *n != "monitoring.log").collect();
    assert!(
        names.contains("monitoring.log"),
        "live file missing: {names:?}"
    );
    assert!(!backups.is_empty(), "no rotation happened: {names:?}");
    assert!(
        backups.len() <= BACKUPS as usize,
        "more than {BACKUPS} backups kept: {names:?}"
    );
    for backup in &backups {
        assert!(
            ["monitoring.log.1", "monitoring.log.2"].contains(&backup.as_str()),
            "unexpected file {backup} in {names:?}"
        );
    }

    // No file exceeds the limit, and every line is whole.
    for name in &names {
        let text = std::fs::read_to_string(log_dir.join(name)).expect("read");
        assert!(
            text.len() as u64 <= MAX_BYTES,
            "{name} is {} bytes",
            text.len()
        );
        assert!(text.ends_with('\n'), "{name} ends mid-line");
    }
    // The newest line is in the live file: nothing written was lost at the end.
    let live = std::fs::read_to_string(&path).expect("read live");
    assert!(
        live.contains(&format!("INFO{:08}", n - 1)),
        "last line not in the live file"
    );
}

#[test]
fn reopening_appends_to_the_existing_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.log");
    {
        let mut w = rotating_file_writer(&path, MAX_BYTES, BACKUPS).expect("writer");
        w.write_all(b"first run\n").expect("write");
    }
    {
        let mut w = rotating_file_writer(&path, MAX_BYTES, BACKUPS).expect("writer");
        w.write_all(b"second run\n").expect("write");
    }
    let text = std::fs::read_to_string(&path).expect("read");
    assert_eq!(text, "first run\nsecond run\n");
}
