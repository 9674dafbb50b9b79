//! The command line as users see it: the built binary's `--help` of every
//! command and subcommand, compared with the files in
//! `tests/snapshots/help/` (`multiagents.txt`, `multiagents-query.txt`,
//! `multiagents-query-events.txt`, …), and README's synopsis — the block
//! between `<!-- synopsis:begin -->` and `<!-- synopsis:end -->` — compared
//! with the top-level `--help`.
//!
//! A change to an option, a command or a help text fails here until the
//! snapshots are rewritten on purpose ("blessed"), and the diff of the
//! snapshots is then reviewed with the change. To bless, run one command:
//!
//! ```sh
//! MULTIAGENTS_BLESS=1 cargo test --release --test help_snapshot
//! ```
//!
//! It rewrites every snapshot and README's synopsis, and deletes the
//! snapshots of commands that no longer exist.
//!
//! Needs the `bench` feature (on by default): the snapshots include
//! `multiagents bench`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the snapshots live.
fn snapshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/help")
}

/// `MULTIAGENTS_BLESS=1`: rewrite instead of compare.
fn blessing() -> bool {
    std::env::var_os("MULTIAGENTS_BLESS").is_some_and(|v| !v.is_empty() && v != "0")
}

/// `multiagents ARGS… --help`, as a user with no `MULTIAGENTS_*` variables
/// sees it (clap shows an environment variable's value in the help).
fn help(path: &[String]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_multiagents"))
        .args(path)
        .arg("--help")
        .env_remove("MULTIAGENTS_DB")
        .env_remove("MULTIAGENTS_CONFIG")
        .env_remove("MULTIAGENTS_REDIS")
        .env_remove("MULTIAGENTS_REDIS_CA")
        .output()
        .expect("run multiagents --help");
    assert!(
        out.status.success(),
        "multiagents {} --help: exit {:?}\n{}",
        path.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

/// The subcommands a help text lists under `Commands:` (clap's own `help`
/// left out), read the way a user reads them: the name that starts each
/// entry.
fn subcommands(help: &str) -> Vec<String> {
    let Some((_, listed)) = help.split_once("\nCommands:\n") else {
        return Vec::new();
    };
    listed
        .lines()
        .take_while(|line| !line.trim().is_empty())
        // An entry starts two spaces in; a wrapped description further in.
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// Every command's help, by snapshot file name, walking `Commands:`
/// recursively from the top.
fn every_help() -> BTreeMap<String, String> {
    let mut helps = BTreeMap::new();
    let mut todo = vec![Vec::<String>::new()];
    while let Some(path) = todo.pop() {
        let text = help(&path);
        for sub in subcommands(&text) {
            let mut next = path.clone();
            next.push(sub);
            todo.push(next);
        }
        let mut name = vec!["multiagents".to_string()];
        name.extend(path);
        helps.insert(format!("{}.txt", name.join("-")), text);
    }
    helps
}

/// The first line where two texts differ, for a readable failure.
fn first_difference(want: &str, got: &str) -> String {
    for (n, (w, g)) in want.lines().zip(got.lines()).enumerate() {
        if w != g {
            return format!("line {}:\n  snapshot: {w:?}\n  binary:   {g:?}", n + 1);
        }
    }
    format!(
        "{} lines in the snapshot, {} from the binary",
        want.lines().count(),
        got.lines().count()
    )
}

const BLESS: &str = "MULTIAGENTS_BLESS=1 cargo test --release --test help_snapshot";

#[test]
fn every_commands_help_matches_its_snapshot() {
    let helps = every_help();
    assert!(
        helps.len() > 20 && helps.contains_key("multiagents-query-events.txt"),
        "walked too little: {:?}",
        helps.keys()
    );
    let dir = snapshot_dir();
    let on_disk: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".txt"))
                .collect()
        })
        .unwrap_or_default();
    if blessing() {
        std::fs::create_dir_all(&dir).expect("create the snapshot directory");
        for (name, text) in &helps {
            std::fs::write(dir.join(name), text).expect("write a snapshot");
        }
        for stale in on_disk.iter().filter(|name| !helps.contains_key(*name)) {
            std::fs::remove_file(dir.join(stale)).expect("remove a stale snapshot");
        }
        return;
    }
    let mut problems = Vec::new();
    for (name, text) in &helps {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(want) if want == *text => {}
            Ok(want) => problems.push(format!("{name} differs, {}", first_difference(&want, text))),
            Err(_) => problems.push(format!("{name} is missing (a new command?)")),
        }
    }
    for stale in on_disk.iter().filter(|name| !helps.contains_key(*name)) {
        problems.push(format!("{stale} names no command any more"));
    }
    assert!(
        problems.is_empty(),
        "the command line changed; if on purpose, bless with `{BLESS}` and review the diff:\n{}",
        problems.join("\n")
    );
}

const BEGIN: &str = "<!-- synopsis:begin";
const END: &str = "<!-- synopsis:end -->";

#[test]
fn the_readme_synopsis_is_the_top_level_help() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).expect("read README.md");
    let begin = readme
        .find(BEGIN)
        .expect("README.md has a synopsis:begin marker");
    let body_start = begin + readme[begin..].find("-->").expect("the marker ends") + 3;
    let end = readme
        .find(END)
        .expect("README.md has a synopsis:end marker");
    assert!(end > body_start, "synopsis markers out of order");
    let want = format!("\n```text\n$ multiagents --help\n{}```\n", help(&[]));
    if blessing() {
        let rewritten = format!("{}{want}{}", &readme[..body_start], &readme[end..]);
        std::fs::write(&path, rewritten).expect("rewrite README.md");
        return;
    }
    let got = &readme[body_start..end];
    assert!(
        got == want,
        "README's synopsis is not `multiagents --help`; bless with `{BLESS}`: {}",
        first_difference(got, &want)
    );
}
