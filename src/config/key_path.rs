//! Recover the dotted key path (`worker_monitoring.error_rate_threshold`,
//! `metrics_collection.custom_metrics[1].type`) of the YAML node at a line and
//! column.
//!
//! serde-saphyr reports where an error is but, for type errors, not which key
//! ("invalid floating point at line 3, column 34"). Users fix files by key, so
//! we walk the YAML events of the same text (with the parser serde-saphyr
//! itself uses, re-exported by it) and find the node at that position. Works
//! for block and flow style (JSON included).

use serde_saphyr::granit_parser::{Event, Parser};

/// One segment of a key path.
#[derive(Debug, Clone)]
enum Segment {
    Key(String),
    Index(usize),
}

fn render_path(segments: &[Segment]) -> String {
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Index(i) => {
                out.push_str(&format!("[{i}]"));
            }
        }
    }
    out
}

/// An open collection while walking events.
enum Frame {
    /// A mapping; `key` is `Some` while its value is being read.
    Map { key: Option<String> },
    /// A sequence; `next` is the index of the next item.
    Seq { next: usize },
}

/// Dotted path of the YAML node that starts at (`line`, `column`), both
/// 1-based; if none starts exactly there, the last node starting before it.
///
/// When a mapping key and a value node start at the same place (a block
/// mapping starts at its first key), `prefer_key` chooses the key's path —
/// right for "unknown field" errors, which point at the key.
pub(super) fn key_path_at(
    text: &str,
    line: usize,
    column: usize,
    prefer_key: bool,
) -> Option<String> {
    let target = (line, column);
    let mut frames: Vec<Frame> = Vec::new();
    let mut exact: Option<String> = None;
    let mut before: Option<String> = None;

    for item in Parser::new_from_str(text) {
        let Ok((event, span)) = item else { break };
        let pos = (span.start.line(), span.start.col() + 1);
        if pos > target {
            break;
        }
        let is_node = matches!(
            event,
            Event::Scalar(..)
                | Event::MappingStart(..)
                | Event::SequenceStart(..)
                | Event::Alias(..)
        );
        if !is_node {
            if matches!(event, Event::MappingEnd | Event::SequenceEnd) {
                frames.pop();
                finish_value(&mut frames);
            }
            continue;
        }

        // A scalar in key position of a mapping is a key, not a value.
        if let (Event::Scalar(value, ..), Some(Frame::Map { key: key @ None })) =
            (&event, frames.last_mut())
        {
            *key = Some(value.to_string());
            let path = render_path(&current_path(&frames));
            record(&mut exact, &mut before, pos == target, prefer_key, path);
            continue;
        }

        let path = render_path(&current_path(&frames));
        // Value nodes are recorded first; a key at the same spot overrides
        // only when the caller prefers keys.
        record(&mut exact, &mut before, pos == target, true, path);
        match event {
            Event::MappingStart(..) => frames.push(Frame::Map { key: None }),
            Event::SequenceStart(..) => frames.push(Frame::Seq { next: 0 }),
            _ => finish_value(&mut frames),
        }
    }
    exact.or(before)
}

fn record(
    exact: &mut Option<String>,
    before: &mut Option<String>,
    is_exact: bool,
    overwrite_exact: bool,
    path: String,
) {
    if is_exact {
        if exact.is_none() || overwrite_exact {
            *exact = Some(path);
        }
    } else {
        *before = Some(path);
    }
}

/// The path of the node about to be read, from the open frames.
fn current_path(frames: &[Frame]) -> Vec<Segment> {
    frames
        .iter()
        .filter_map(|frame| match frame {
            Frame::Map { key } => key.clone().map(Segment::Key),
            Frame::Seq { next } => Some(Segment::Index(*next)),
        })
        .collect()
}

/// A complete value was read in the innermost frame: advance it.
fn finish_value(frames: &mut [Frame]) {
    match frames.last_mut() {
        Some(Frame::Map { key }) => *key = None,
        Some(Frame::Seq { next }) => *next += 1,
        None => {}
    }
}
