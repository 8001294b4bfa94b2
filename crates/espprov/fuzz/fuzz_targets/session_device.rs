//! Fuzzes the device side of `prov-session` for every scheme: any bytes as the first request,
//! and as the second request after a genuine first one, must give an answer or a typed error.
#![no_main]

#[path = "common.rs"]
mod common;

use common::CountingRng;
use companion_espprov::{DeviceSecurity, DeviceSession, Pop, Sec2Credentials, Sec2Patch, Session};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rng = CountingRng(1);
    let sec2 = DeviceSecurity::Sec2 {
        credentials: Sec2Credentials::derive(b"wifiprov", &Pop::from("abcd1234"), &[1; 16]),
        patch: Sec2Patch::Counter,
    };
    for security in [
        DeviceSecurity::Sec0,
        DeviceSecurity::Sec1 {
            pop: Pop::from("abcd1234"),
        },
        sec2,
    ] {
        let mut device = DeviceSession::new(security.clone());
        let _ = device.handle_request(data, &mut rng);
        let _ = device.decrypt(data);

        let mut device = DeviceSession::new(security);
        let mut client = match device.scheme() {
            companion_espprov::SecurityScheme::Sec0 => Session::sec0(),
            companion_espprov::SecurityScheme::Sec1 => {
                Session::sec1(Pop::from("abcd1234"), &mut rng)
            }
            companion_espprov::SecurityScheme::Sec2 => Session::sec2(
                "wifiprov",
                Pop::from("abcd1234"),
                Sec2Patch::Counter,
                &mut rng,
            )
            .expect("client"),
        };
        if let Ok(first) = client.start() {
            let _ = device.handle_request(&first, &mut rng);
            let _ = device.handle_request(data, &mut rng);
        }
    }
});
