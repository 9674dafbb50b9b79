//! Text from the database made safe for a terminal.
//!
//! Worker names, error messages, metric names and the recorded command line
//! come from programs and users; a database may also come from someone
//! else. Printed raw, an ESC or OSC sequence in one of them would clear the
//! screen, retitle the window, hide lines or rewrite what was printed before,
//! and a bidirectional override would make text read differently from what
//! it is. Everything a command prints for people goes through [`escape`] or
//! [`escape_text`]; machine formats (JSON, HTML, the Prometheus exposition)
//! stay exact, since their own escaping applies and consumers need the true
//! bytes.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal as is: C0 and C1 control
/// characters, DEL, and the Unicode bidirectional controls.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

fn escape_where(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(|c| is_unsafe(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !is_unsafe(c) || keep(c) {
            out.push(c);
        } else if u32::from(c) < 0x80 {
            // ESC shows as \x1b, as in most languages' string literals.
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
    Cow::Owned(out)
}

/// One value (a name, a message, a table cell): every control character,
/// newlines and tabs included, is shown as a visible escape (`\x1b`,
/// `\x0a`, `\u{9b}`), so one value stays on one line.
pub fn escape(value: &str) -> Cow<'_, str> {
    escape_where(value, |_| false)
}

/// A whole text already laid out in lines (a table, a report): like
/// [`escape`] but newlines and tabs are kept.
pub fn escape_text(text: &str) -> Cow<'_, str> {
    escape_where(text, |c| c == '\n' || c == '\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_become_visible_and_plain_text_is_borrowed() {
        assert!(matches!(escape("fast_processor"), Cow::Borrowed(_)));
        assert_eq!(escape("a\u{1b}[2Jb"), "a\\x1b[2Jb");
        assert_eq!(
            escape("\u{1b}]0;title\u{7}x"),
            "\\x1b]0;title\\x07x",
            "OSC and BEL"
        );
        assert_eq!(escape("x\u{9b}31m\u{7f}"), "x\\u{9b}31m\\x7f");
        assert_eq!(escape("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(escape("one\ntwo\r"), "one\\x0atwo\\x0d");
        assert_eq!(escape_text("one\n\ttwo\r\n"), "one\n\ttwo\\x0d\n");
        assert_eq!(escape("héllo ✓ 🟢"), "héllo ✓ 🟢");
    }
}
