//! `--window` and `--until` parsers: refuse or return sane values, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use multiagents::window::{parse_time, parse_window};

fuzz_target!(|text: &str| {
    if let Ok(d) = parse_window(text) {
        assert!(!d.is_zero());
        assert!(i64::try_from(d.as_micros()).is_ok());
    }
    let _ = parse_time(text);
});
