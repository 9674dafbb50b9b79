//! The `multiagents` command. All computation lives in the library; this
//! binary parses arguments, calls it, renders the answer and maps errors to
//! exit codes.

// No unwrap/expect where user input or I/O can reach (unit tests may:
// see clippy.toml). Integration tests are separate crates and unaffected.
#![warn(clippy::unwrap_used, clippy::expect_used)]

mod cli;

/// mimalloc instead of glibc malloc: the hot path allocates and frees many
/// small objects across threads (records, statuses, JSON contexts), where
/// glibc spent ~20 % of the runtime threads' CPU (see the perf2 commits).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
