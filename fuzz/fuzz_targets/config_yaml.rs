//! The YAML configuration parser must refuse, never panic, and anything it
//! accepts must validate and survive a JSON round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use multiagents::config::MonitoringConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match MonitoringConfig::from_yaml_str(text, "fuzz.yaml") {
        Ok(config) => {
            config.validate().expect("accepted config validates");
            let again = MonitoringConfig::from_json(&config.to_json()).expect("round trip");
            assert_eq!(again, config);
        }
        Err(e) => assert!(e.to_string().starts_with("fuzz.yaml")),
    }
});
