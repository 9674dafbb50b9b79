//! The `multiagents` command. All computation lives in the library; this
//! binary parses arguments, calls it, renders the answer and maps errors to
//! exit codes.

// No unwrap/expect where user input or I/O can reach (unit tests may:
// see clippy.toml). Integration tests are separate crates and unaffected.
#![warn(clippy::unwrap_used, clippy::expect_used)]

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
