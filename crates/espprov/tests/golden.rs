//! Golden vectors: the exact bytes of Security 0, 1 and 2 handshakes and of the first messages
//! after them, and of Wi-Fi messages, as computed by `tests/vectors/reference.py` (an
//! independent Python implementation using the `cryptography` package; see the README).

mod common;

use common::ScriptedRng;
use companion_espprov::proto::wifi_constants::WifiAuthMode;
use companion_espprov::wifi::config::{
    ConfigRequest, ConfigResponse, ConnectedInfo, StationStatus, WifiCredentials,
};
use companion_espprov::wifi::ctrl::CtrlRequest;
use companion_espprov::wifi::scan::ScanRequest;
use companion_espprov::{
    DeviceSecurity, DeviceSession, Passphrase, Pop, Sec2Credentials, Sec2Patch, Session, Step,
    VerifierOrigin,
};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/golden.json")).expect("golden.json is JSON")
}

fn hex(section: &Value, key: &str) -> Vec<u8> {
    let text = section[key]
        .as_str()
        .unwrap_or_else(|| panic!("golden.json lacks {key}"));
    hex::decode(text).expect("hex")
}

fn text(section: &Value, key: &str) -> String {
    section[key]
        .as_str()
        .unwrap_or_else(|| panic!("golden.json lacks {key}"))
        .to_owned()
}

#[test]
fn security0_handshake_bytes_match_the_reference() {
    let v = &vectors()["sec0"];
    let mut client = Session::sec0();
    let mut device = DeviceSession::new(DeviceSecurity::Sec0);
    let mut rng = ScriptedRng::new(&[]);
    assert_eq!(client.start().expect("start"), hex(v, "cmd"));
    assert_eq!(
        device
            .handle_request(&hex(v, "cmd"), &mut rng)
            .expect("device"),
        hex(v, "resp")
    );
    assert_eq!(
        client.handle_response(&hex(v, "resp")),
        Ok(Step::Established)
    );
    assert_eq!(client.encrypt(b"plain").expect("plaintext"), b"plain");
}

#[test]
fn security1_handshake_and_one_continuous_keystream_match_the_reference() {
    let v = &vectors()["sec1"];
    let pop = Pop::from(text(v, "pop"));
    let mut client = Session::sec1(
        pop.clone(),
        &mut ScriptedRng::new(&[&hex(v, "client_secret")]),
    );
    let mut device = DeviceSession::new(DeviceSecurity::Sec1 { pop });
    let mut device_rng = ScriptedRng::new(&[&hex(v, "device_secret"), &hex(v, "device_random")]);

    assert_eq!(
        client.start().expect("start"),
        hex(v, "cmd0"),
        "SessionCmd0"
    );
    assert_eq!(
        device
            .handle_request(&hex(v, "cmd0"), &mut device_rng)
            .expect("device"),
        hex(v, "resp0"),
        "SessionResp0"
    );
    assert_eq!(
        client.handle_response(&hex(v, "resp0")),
        Ok(Step::Send(hex(v, "cmd1"))),
        "SessionCmd1"
    );
    assert_eq!(
        device
            .handle_request(&hex(v, "cmd1"), &mut device_rng)
            .expect("device"),
        hex(v, "resp1"),
        "SessionResp1"
    );
    assert_eq!(
        client.handle_response(&hex(v, "resp1")),
        Ok(Step::Established)
    );
    assert!(
        device_rng.is_empty(),
        "the device drew exactly its key and random"
    );

    assert_eq!(
        client.encrypt(&hex(v, "request_plain")).expect("encrypt"),
        hex(v, "request_sealed")
    );
    assert_eq!(
        device.decrypt(&hex(v, "request_sealed")).expect("decrypt"),
        hex(v, "request_plain")
    );
    assert_eq!(
        device.encrypt(&hex(v, "response_plain")).expect("encrypt"),
        hex(v, "response_sealed")
    );
    assert_eq!(
        client.decrypt(&hex(v, "response_sealed")).expect("decrypt"),
        hex(v, "response_plain")
    );
}

fn sec2_pair(v: &Value, patch: Sec2Patch) -> (Session, DeviceSession) {
    let password = Pop::from(text(v, "password"));
    let username = text(v, "username");
    let client = Session::sec2(
        username.clone(),
        password.clone(),
        patch,
        &mut ScriptedRng::new(&[&hex(v, "a")]),
    )
    .expect("client");
    let credentials = Sec2Credentials::derive(username.as_bytes(), &password, &hex(v, "salt"));
    assert_eq!(
        credentials.verifier().expose(),
        hex(v, "verifier"),
        "verifier"
    );
    (
        client,
        DeviceSession::new(DeviceSecurity::Sec2 { credentials, patch }),
    )
}

fn sec2_handshake(v: &Value, client: &mut Session, device: &mut DeviceSession) {
    let mut device_rng = ScriptedRng::new(&[&hex(v, "b"), &hex(v, "session_id")]);
    assert_eq!(
        client.start().expect("start"),
        hex(v, "cmd0"),
        "S2SessionCmd0"
    );
    assert_eq!(
        device
            .handle_request(&hex(v, "cmd0"), &mut device_rng)
            .expect("device"),
        hex(v, "resp0"),
        "S2SessionResp0"
    );
    assert_eq!(
        client.handle_response(&hex(v, "resp0")),
        Ok(Step::Send(hex(v, "cmd1"))),
        "S2SessionCmd1 (M1)"
    );
    assert_eq!(
        device
            .handle_request(&hex(v, "cmd1"), &mut device_rng)
            .expect("device"),
        hex(v, "resp1"),
        "S2SessionResp1 (M2)"
    );
    assert_eq!(
        client.handle_response(&hex(v, "resp1")),
        Ok(Step::Established)
    );
    assert!(
        device_rng.is_empty(),
        "the device drew exactly b and the session id"
    );
}

#[test]
fn security2_handshake_and_counter_nonces_match_the_reference() {
    let v = &vectors()["sec2"];
    let (mut client, mut device) = sec2_pair(v, Sec2Patch::Counter);
    sec2_handshake(v, &mut client, &mut device);

    assert_eq!(
        client.encrypt(&hex(v, "request_plain")).expect("encrypt"),
        hex(v, "counter_request_sealed"),
        "counter 1"
    );
    assert_eq!(
        device
            .decrypt(&hex(v, "counter_request_sealed"))
            .expect("decrypt"),
        hex(v, "request_plain")
    );
    assert_eq!(
        device.encrypt(&hex(v, "response_plain")).expect("encrypt"),
        hex(v, "counter_response_sealed"),
        "counter 2"
    );
    assert_eq!(
        client
            .decrypt(&hex(v, "counter_response_sealed"))
            .expect("decrypt"),
        hex(v, "response_plain")
    );
    assert_eq!(
        client.encrypt(&hex(v, "second_plain")).expect("encrypt"),
        hex(v, "counter_second_sealed"),
        "counter 3"
    );
    assert_eq!(
        device
            .decrypt(&hex(v, "counter_second_sealed"))
            .expect("decrypt"),
        hex(v, "second_plain")
    );
}

#[test]
fn security2_patch_0_keeps_the_nonce_fixed_as_the_reference_does() {
    let v = &vectors()["sec2"];
    let (mut client, mut device) = sec2_pair(v, Sec2Patch::Fixed);
    sec2_handshake(v, &mut client, &mut device);
    assert_eq!(
        client.encrypt(&hex(v, "request_plain")).expect("encrypt"),
        hex(v, "fixed_request_sealed")
    );
    assert_eq!(
        device
            .decrypt(&hex(v, "fixed_request_sealed"))
            .expect("decrypt"),
        hex(v, "request_plain")
    );
    assert_eq!(
        device.encrypt(&hex(v, "response_plain")).expect("encrypt"),
        hex(v, "fixed_response_sealed")
    );
    assert_eq!(
        client
            .decrypt(&hex(v, "fixed_response_sealed"))
            .expect("decrypt"),
        hex(v, "response_plain")
    );
}

#[test]
fn an_esp_prov_verifier_matches_the_reference_for_a_password_where_the_tools_differ() {
    let all = vectors();
    let v = &all["sec2_esp_prov"];
    let (username, password) = (text(v, "username"), Pop::from(text(v, "password")));
    let salt = hex(v, "salt");
    assert!(VerifierOrigin::differ_for(
        username.as_bytes(),
        password.expose()
    ));
    let made = |origin| {
        Sec2Credentials::derive_as(origin, username.as_bytes(), &password, &salt)
            .verifier()
            .expose()
            .to_vec()
    };
    assert_eq!(made(VerifierOrigin::EspProv), hex(v, "esp_prov_verifier"));
    assert_eq!(made(VerifierOrigin::EspSrp), hex(v, "esp_srp_verifier"));
}

#[test]
fn wifi_messages_match_the_reference_encoding() {
    let v = &vectors()["wifi"];
    let mut credentials =
        WifiCredentials::new("home", Passphrase::from("correct horse")).expect("valid");
    credentials.bssid = Some([1, 2, 3, 4, 5, 6]);
    credentials.channel = 11;
    assert_eq!(
        ConfigRequest::SetConfig(credentials).encode(),
        hex(v, "set_config"),
        "CmdSetConfig"
    );
    let connected = ConnectedInfo {
        ip4_addr: "192.168.1.7".into(),
        auth_mode: WifiAuthMode::Wpa2Psk.into(),
        ssid: b"home".to_vec(),
        bssid: vec![1, 2, 3, 4, 5, 6],
        channel: 6,
    };
    assert_eq!(
        ConfigResponse::Status(StationStatus::Connected(connected)).encode(),
        hex(v, "get_status_connected")
    );
    assert_eq!(
        ScanRequest::Results {
            start_index: 4,
            count: 4
        }
        .encode(),
        hex(v, "scan_result"),
        "CmdScanResult"
    );
    assert_eq!(
        CtrlRequest::Reset.encode(),
        hex(v, "ctrl_reset"),
        "CmdCtrlReset"
    );
}
