//! Fuzzes the `prov-config`, `prov-scan` and `prov-ctrl` decoders of both roles; whatever a
//! device decodes must encode and decode to the same request.
#![no_main]

use companion_espprov::wifi::config::{ConfigRequest, ConfigResponse};
use companion_espprov::wifi::ctrl::{CtrlRequest, CtrlResponse};
use companion_espprov::wifi::scan::{ScanRequest, ScanResponse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = ConfigRequest::decode(data) {
        assert_eq!(
            ConfigRequest::decode(&request.encode()).as_ref(),
            Ok(&request)
        );
        let _ = request.read_response(data);
    }
    if let Ok(response) = ConfigResponse::decode(data) {
        assert_eq!(
            ConfigResponse::decode(&response.encode()).as_ref(),
            Ok(&response)
        );
    }
    if let Ok(request) = ScanRequest::decode(data) {
        assert_eq!(ScanRequest::decode(&request.encode()), Ok(request));
        let _ = request.read_response(data);
    }
    let _ = ScanResponse::decode(data);
    if let Ok(request) = CtrlRequest::decode(data) {
        let _ = request.read_response(data);
    }
    let _ = CtrlResponse::decode(data);
});
