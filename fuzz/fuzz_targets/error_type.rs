//! Error-type extraction: a short, single-line, trimmed prefix of the
//! message without a colon, or "Error".
#![no_main]

use libfuzzer_sys::fuzz_target;
use multiagents::worker::{MAX_ERROR_TYPE_LEN, error_type};

fuzz_target!(|message: &str| {
    let t = error_type(message);
    assert!(t == "Error" || message.contains(t));
    assert!(t.len() <= MAX_ERROR_TYPE_LEN.max(5));
    assert!(!t.contains(':') && !t.contains('\n') && !t.is_empty());
    assert_eq!(t, t.trim());
});
