//! Rendering answers: aligned tables for people, one JSON document for
//! programs, on stdout or into an `--out` file.

use std::io::Write;
use std::path::{Path, PathBuf};

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use multiagents::output_path::OutputPath;
use multiagents::terminal;

pub use super::format::Format;

/// `-o/--out FILE` and `--force`, for every command that prints a document.
#[derive(Debug, clap::Args)]
pub struct OutArgs {
    /// Write to this file instead of stdout, atomically (a failure leaves
    /// no half-written file). Never the database, its -wal/-shm, another
    /// SQLite file, a symlink, FIFO, device, directory or read-only file.
    #[arg(short = 'o', long)]
    pub out: Option<PathBuf>,
    /// Replace the --out file if it already exists (a regular, writable,
    /// non-SQLite file only).
    #[arg(long, requires = "out")]
    pub force: bool,
}

impl OutArgs {
    /// Checks `--out` before any work, so that a refused path costs nothing
    /// and changes nothing; `None` means stdout.
    pub fn check(&self, db: &Path) -> anyhow::Result<Option<OutputPath>> {
        Ok(self
            .out
            .as_deref()
            .map(|path| OutputPath::check(path, Some(db), self.force))
            .transpose()?)
    }
}

/// Writes a rendered answer to stdout or into the checked `--out` file.
/// Text is for people, in a file too (`cat`): control characters from the
/// database are shown escaped; the machine formats stay byte for byte.
pub fn emit(out: Option<OutputPath>, format: Format, text: &str) -> anyhow::Result<()> {
    let text = match format {
        Format::Text => terminal::escape_text(text),
        _ => std::borrow::Cow::Borrowed(text),
    };
    write_document(out, &text)
}

/// Writes `text` byte for byte, ending with one newline, to stdout or into
/// the checked `--out` file.
pub fn write_document(out: Option<OutputPath>, text: &str) -> anyhow::Result<()> {
    let text = text.trim_end_matches('\n');
    match out {
        Some(out) => {
            let mut bytes = Vec::with_capacity(text.len() + 1);
            bytes.extend_from_slice(text.as_bytes());
            bytes.push(b'\n');
            out.write(&bytes)?;
        }
        None => print_exact(text)?,
    }
    Ok(())
}

/// A table with a header row.
pub fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_header(header.iter().copied());
    table
}

/// Writes `text` for people and a newline to stdout, with every control
/// character from the database (ESC, OSC, clear-screen…) shown as a visible
/// escape; newlines and tabs are kept. A closed pipe surfaces as an
/// io::Error the caller treats as a quiet end.
pub fn print(text: &str) -> anyhow::Result<()> {
    print_exact(&terminal::escape_text(text))
}

/// Writes `text` and a newline to stdout byte for byte: for machine formats
/// (JSON, HTML, the Prometheus exposition) that must stay exact.
pub fn print_exact(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// Prints a serializable value as pretty JSON.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    print_exact(&serde_json::to_string_pretty(value)?)
}

/// `Some(x)` as text, `None` as a dash.
pub fn or_dash<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}
