//! Security review, as a test: SQL is never assembled with `format!`.
//!
//! Every statement lives in `queries/*.sql` (or a literal) and takes its
//! values as bound parameters, so nothing a user, a worker or a file supplies
//! can change what a statement does. This test scans `src/` for `format!(`
//! near an SQL keyword and fails on any hit not in [`ALLOWED`].

use std::path::{Path, PathBuf};

/// Known, reviewed uses: (file, text on the `format!` line).
const ALLOWED: &[(&str, &str)] = &[
    // `PRAGMA` takes no bound parameters. The value is
    // `Migration::version`, a constant compiled into the binary — never
    // input.
    (
        "src/store/migrate.rs",
        r#"format!("PRAGMA user_version = {}", migration.version)"#,
    ),
    // A unit test lifts the bucket CASE out of our own embedded
    // worker_histogram_events.sql to check it against the writer's
    // bucketing: compiled-in text, never input.
    ("src/monitor/totals.rs", r#"format!("SELECT {case}")"#),
];

const KEYWORDS: &[&str] = &[
    "SELECT", "INSERT", "UPDATE", "DELETE", "PRAGMA", "CREATE", "DROP", "ALTER", "REPLACE",
    "ATTACH", "VACUUM", "WHERE",
];

fn has_sql_keyword(line: &str) -> bool {
    line.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .any(|word| KEYWORDS.contains(&word))
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// `format!` (or `format_args!`, `write!` into a String) whose line, or the
/// line before or after, holds an SQL keyword.
fn findings(root: &Path) -> Vec<(String, usize, String)> {
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    let mut hits = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let relative = file
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        for (i, line) in lines.iter().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            if !(line.contains("format!(") || line.contains("format_args!(")) {
                continue;
            }
            let near = i.saturating_sub(1)..(i + 2).min(lines.len());
            if lines[near]
                .iter()
                .any(|l| !l.trim_start().starts_with("//") && has_sql_keyword(l))
            {
                hits.push((relative.clone(), i + 1, line.trim().to_string()));
            }
        }
    }
    hits
}

fn allowed(file: &str, line: &str) -> bool {
    ALLOWED
        .iter()
        .any(|(f, text)| *f == file && line.contains(text))
}

#[test]
fn no_sql_is_built_with_format() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let offending: Vec<String> = findings(root)
        .into_iter()
        .filter(|(file, _, line)| !allowed(file, line))
        .map(|(file, n, line)| format!("{file}:{n}: {line}"))
        .collect();
    assert!(
        offending.is_empty(),
        "SQL built with format! (bind parameters instead, or put the statement in queries/):\n{}",
        offending.join("\n")
    );
}

#[test]
fn every_allowlist_entry_still_exists() {
    // A stale entry would silently allow a future formatted statement.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let hits = findings(root);
    for (file, text) in ALLOWED {
        assert!(
            hits.iter()
                .any(|(f, _, line)| f == file && line.contains(text)),
            "allowlist entry {file}: {text} matches nothing; remove it"
        );
    }
}

#[test]
fn the_scanner_catches_formatted_sql() {
    assert!(has_sql_keyword(
        r#"let q = format!("SELECT * FROM t WHERE x = '{x}'");"#
    ));
    assert!(has_sql_keyword("DELETE FROM events"));
    assert!(!has_sql_keyword(r#"format!("unknown run id {id}")"#));
    assert!(!has_sql_keyword("selected_workers"));
}
