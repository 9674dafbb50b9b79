//! One `--format` vocabulary for every command: `text` for people, `json`
//! for programs, `csv` where a command prints rows of numbers, `html` for
//! documents. Each command accepts only the values it really renders (its
//! `--help` lists them) and refuses the others with a one-line error.
//! `table`, the old name of `text`, is still accepted (hidden) so that
//! existing scripts keep working.

use std::ffi::OsStr;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::error::ErrorKind;

/// How a command prints its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned tables and sentences for people (control characters from the
    /// database shown escaped).
    Text,
    /// One JSON document, exact strings.
    Json,
    /// Comma-separated values with a header line.
    Csv,
    /// One self-contained HTML page.
    Html,
}

/// What most commands render: text and JSON.
pub const TEXT_JSON: &[Format] = &[Format::Text, Format::Json];
/// Commands whose answer is rows of numbers also give CSV.
pub const TEXT_JSON_CSV: &[Format] = &[Format::Text, Format::Json, Format::Csv];
/// Documents also come as an HTML page.
pub const TEXT_JSON_HTML: &[Format] = &[Format::Text, Format::Json, Format::Html];

impl Format {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Html => "html",
        }
    }

    /// Every format, for parsing before the command's own list is applied.
    const ALL: [Format; 4] = [Format::Text, Format::Json, Format::Csv, Format::Html];

    fn possible_value(self) -> PossibleValue {
        let value = PossibleValue::new(self.name());
        match self {
            // The old name: accepted, not advertised.
            Format::Text => value.alias("table"),
            _ => value,
        }
    }

    /// Parses a name (or the `table` alias), whatever the command.
    fn parse(text: &str) -> Option<Format> {
        Format::ALL
            .into_iter()
            .find(|f| f.possible_value().matches(text, true))
    }
}

/// The value parser of a command's `--format`: accepts exactly `allowed`.
/// Use as `#[arg(value_parser = format::formats(format::TEXT_JSON))]`.
pub fn formats(allowed: &'static [Format]) -> FormatParser {
    FormatParser { allowed }
}

/// See [`formats`].
#[derive(Debug, Clone, Copy)]
pub struct FormatParser {
    allowed: &'static [Format],
}

impl FormatParser {
    fn listed(&self) -> String {
        let names: Vec<&str> = self.allowed.iter().map(|f| f.name()).collect();
        match names.split_last() {
            Some((last, [])) => (*last).to_string(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

impl TypedValueParser for FormatParser {
    type Value = Format;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<Format, clap::Error> {
        let text = value.to_string_lossy();
        let refuse = |why: &str| {
            // One line: what was given, why not, what would do.
            clap::Error::raw(
                ErrorKind::InvalidValue,
                format!(
                    "invalid --format {:?}: {why} (`{}` prints {})\n",
                    text,
                    cmd.get_bin_name().unwrap_or_else(|| cmd.get_name()),
                    self.listed()
                ),
            )
        };
        match Format::parse(text.trim()) {
            Some(format) if self.allowed.contains(&format) => Ok(format),
            Some(_) => Err(refuse("not available for this command")),
            None => Err(refuse("unknown format")),
        }
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.allowed.iter().map(|f| f.possible_value())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(allowed: &'static [Format], text: &str) -> Result<Format, String> {
        let cmd = clap::Command::new("x");
        formats(allowed)
            .parse_ref(&cmd, None, OsStr::new(text))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn each_command_accepts_its_own_formats_and_the_old_table_name() {
        assert_eq!(parse(TEXT_JSON, "text"), Ok(Format::Text));
        assert_eq!(parse(TEXT_JSON, "table"), Ok(Format::Text));
        assert_eq!(parse(TEXT_JSON, "JSON"), Ok(Format::Json));
        assert_eq!(parse(TEXT_JSON_CSV, "csv"), Ok(Format::Csv));
        assert_eq!(parse(TEXT_JSON_HTML, "html"), Ok(Format::Html));
    }

    #[test]
    fn other_formats_are_refused_on_one_line_naming_what_would_do() {
        let e = parse(TEXT_JSON, "html").unwrap_err();
        assert!(e.contains("\"html\"") && e.contains("text or json"), "{e}");
        assert_eq!(e.trim_end().lines().count(), 1, "{e}");
        let e = parse(TEXT_JSON_CSV, "xml").unwrap_err();
        assert!(
            e.contains("unknown format") && e.contains("text, json or csv"),
            "{e}"
        );
    }
}
