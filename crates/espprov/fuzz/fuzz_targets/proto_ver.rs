//! Fuzzes the `proto-ver` JSON parser and the questions asked of its result.
#![no_main]

use companion_espprov::VersionInfo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = VersionInfo::parse(data) {
        let _ = info.security_scheme();
        let _ = info.sec2_patch();
        let _ = info.secret_required();
        let _ = info.app("aws-iot");
        let again = VersionInfo::parse(&info.to_json()).expect("what we print we can read");
        assert_eq!(again.prov, info.prov, "printing and parsing lost something");
    }
});
