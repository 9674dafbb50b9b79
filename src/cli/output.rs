//! Rendering answers: aligned tables for people, one JSON document for
//! programs.

use std::io::Write;

use clap::ValueEnum;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use multiagents::terminal;

/// How a command prints its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Aligned columns.
    #[default]
    Table,
    /// One JSON document on stdout.
    Json,
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
