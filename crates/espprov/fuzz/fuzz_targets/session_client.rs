//! Fuzzes the client side of `prov-session`: any bytes as the device's first or second answer.
#![no_main]

#[path = "common.rs"]
mod common;

use common::CountingRng;
use companion_espprov::{DeviceSecurity, DeviceSession, Pop, Session, Step};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rng = CountingRng(2);
    for mut client in [
        Session::sec0(),
        Session::sec1(Pop::from("abcd1234"), &mut rng),
    ] {
        let _ = client.start();
        let _ = client.handle_response(data);
        let _ = client.decrypt(data);
    }
    // A genuine first round, then arbitrary bytes as SessionResp1.
    let mut client = Session::sec1(Pop::from("abcd1234"), &mut rng);
    let mut device = DeviceSession::new(DeviceSecurity::Sec1 {
        pop: Pop::from("abcd1234"),
    });
    let Ok(first) = client.start() else { return };
    let Ok(answer) = device.handle_request(&first, &mut rng) else {
        return;
    };
    if let Ok(Step::Send(_)) = client.handle_response(&answer) {
        let _ = client.handle_response(data);
    }
});
