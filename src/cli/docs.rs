//! Documentation of the command line itself, generated from the same clap
//! definitions the parser uses (so it cannot drift): `multiagents
//! completions SHELL` and `multiagents man [COMMAND...]`.

use std::path::Path;

use anyhow::Context as _;
use clap::{Args, CommandFactory as _};
use clap_complete::Shell;

use super::output::{self, OutArgs};
use super::{Cli, Outcome};

/// Arguments of `multiagents completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for. Install e.g. with `multiagents completions
    /// bash > ~/.local/share/bash-completion/completions/multiagents`, or
    /// for zsh into a file named `_multiagents` in a directory of $fpath.
    shell: Shell,
}

/// Arguments of `multiagents man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The command to document, e.g. `query events` (default: multiagents
    /// itself, which lists every command). View with `multiagents man | man -l -`.
    command: Vec<String>,
    #[command(flatten)]
    out: OutArgs,
}

/// Prints the completion script of `args.shell` on stdout.
pub fn completions(args: &CompletionsArgs) -> anyhow::Result<Outcome> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    // Into memory first: the generators panic on a write error, and a
    // closed stdout must end the command quietly instead.
    clap_complete::generate(args.shell, &mut cmd, "multiagents", &mut script);
    let script = String::from_utf8(script).context("completion script is not UTF-8")?;
    output::write_document(None, &script)?;
    Ok(Outcome::Ok)
}

/// Prints the roff manual page of `multiagents` or one of its commands, on
/// stdout or into `--out` (never over the database or another SQLite file).
pub fn man(args: &ManArgs, db: Option<&Path>) -> anyhow::Result<Outcome> {
    let out = args
        .out
        .check(db.unwrap_or_else(|| Path::new("multiagents.db")))?;
    let mut cmd = Cli::command();
    // Propagates the global options and names subcommands
    // `multiagents-query-events`, as their pages are titled.
    cmd.build();
    let mut page = &cmd;
    for name in &args.command {
        page = page
            .find_subcommand(name)
            .filter(|sub| !sub.is_hide_set())
            .with_context(|| {
                format!(
                    "no command {:?} under `{}` (see `multiagents --help`)",
                    name,
                    page.get_display_name().unwrap_or(page.get_name())
                )
            })?;
    }
    let mut roff = Vec::new();
    clap_mangen::Man::new(page.clone())
        .render(&mut roff)
        .context("cannot render the manual page")?;
    let roff = String::from_utf8(roff).context("manual page is not UTF-8")?;
    output::write_document(out, &title_first(&roff))?;
    Ok(Outcome::Ok)
}

/// The page with its `.TH` title line first, where `man`, `whatis` and
/// linters look for it: clap_mangen puts a string definition (the
/// apostrophe `\*(Aq`) before it, which may as well follow it.
fn title_first(roff: &str) -> String {
    let Some(at) = roff
        .lines()
        .position(|line| line.starts_with(".TH "))
        .filter(|&at| at > 0)
    else {
        return roff.to_string();
    };
    let mut lines: Vec<&str> = roff.lines().collect();
    let title = lines.remove(at);
    lines.insert(0, title);
    let mut page = lines.join("\n");
    page.push('\n');
    page
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_title_comes_first_and_nothing_is_lost() {
        let page = ".ie x\n.el y\n.TH multiagents 1\n.SH NAME\n";
        assert_eq!(
            super::title_first(page),
            ".TH multiagents 1\n.ie x\n.el y\n.SH NAME\n"
        );
        assert_eq!(super::title_first(".TH a 1\n.SH X\n"), ".TH a 1\n.SH X\n");
    }
}
