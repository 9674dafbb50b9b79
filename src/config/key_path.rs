//! Deserialize YAML while tracking the dotted key path
//! (`worker_monitoring.error_rate_threshold`,
//! `metrics_collection.custom_metrics[1].type`) of the node being read, so
//! an error can name the key to fix.
//!
//! serde-saphyr reports where an error is but, for type errors, not which key
//! ("invalid floating point at line 3, column 34"). Users fix files by key.
//! `serde_path_to_error` wraps serde-saphyr's own streaming deserializer
//! (which serde-saphyr hands out for exactly this use) and records the path
//! serde was at when the error happened, including an unknown key itself.
//! It works for block and flow style (JSON included), since it sees serde's
//! calls, not the text.

use serde::de::DeserializeOwned;

/// Deserializes `text` as one YAML document. On error, also returns the
/// dotted path of the key being read, or `None` when the error concerns the
/// document as a whole (a syntax error before the first key, a second
/// document, a list where a mapping was expected).
pub(super) fn from_str_with_path<T: DeserializeOwned>(
    text: &str,
) -> Result<T, (Box<serde_saphyr::Error>, Option<String>)> {
    let mut path = None;
    serde_saphyr::with_deserializer_from_str(text, |de| {
        serde_path_to_error::deserialize(de).map_err(|err| {
            // The root's path renders as "."; it names no key.
            if err.path().iter().next().is_some() {
                path = Some(err.path().to_string());
            }
            err.into_inner()
        })
    })
    // Boxed: serde-saphyr's error is large and only the failure path pays.
    .map_err(|err| (Box::new(err), path))
}

#[cfg(test)]
mod tests {
    use super::from_str_with_path;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        #[serde(default)]
        items: Vec<Item>,
        #[serde(default)]
        rate: f64,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Item {
        #[serde(rename = "type")]
        kind: u8,
    }

    fn path_of(text: &str) -> Option<String> {
        from_str_with_path::<Outer>(text).expect_err("rejected").1
    }

    #[test]
    fn names_sequence_items_unknown_keys_and_flow_style() {
        let block = "items:\n  - type: 1\n  - type: x\n";
        assert_eq!(path_of(block).as_deref(), Some("items[1].type"));
        let flow = r#"{"items": [{"type": 1}, {"typo": 2}]}"#;
        assert_eq!(path_of(flow).as_deref(), Some("items[1].typo"));
        assert_eq!(path_of("rate: fast\n").as_deref(), Some("rate"));
    }

    #[test]
    fn whole_document_errors_name_no_key() {
        assert_eq!(path_of("- 1\n- 2\n"), None);
        let ok = from_str_with_path::<Outer>("rate: 1\nitems: [{type: 3}]\n").expect("parses");
        assert_eq!((ok.rate, ok.items[0].kind), (1.0, 3));
    }
}
