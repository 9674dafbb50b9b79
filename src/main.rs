//! The `multiagents` command. All computation lives in the library; this
//! binary parses arguments, calls it, renders the answer and maps errors to
//! exit codes.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
