//! Every decoder fed arbitrary bytes returns a value or a typed error, never a panic. Besides
//! random bytes, valid messages with random mutations reach deeper into the state machines.

mod common;

use common::{handshake, seeded};
use companion_espprov::credentials::{
    self, CredentialService, DeviceIdentity, Installation, KeyAlgorithm, Limits,
};
use companion_espprov::wifi::config::{ConfigRequest, ConfigResponse};
use companion_espprov::wifi::ctrl::{CtrlRequest, CtrlResponse};
use companion_espprov::wifi::scan::{ScanRequest, ScanResponse};
use companion_espprov::{
    DeviceSecurity, DeviceSession, Pop, Sec2Credentials, Sec2Patch, Session, Step, VersionInfo,
};
use proptest::prelude::*;

struct NoIdentity;

impl DeviceIdentity for NoIdentity {
    fn key_algorithm(&self) -> KeyAlgorithm {
        KeyAlgorithm::EcP256
    }
    fn has_key(&self) -> bool {
        true
    }
    fn create_csr(&mut self, _: &str, _: bool) -> Result<Vec<u8>, credentials::AwsIotStatus> {
        Ok(vec![1; 300])
    }
    fn install(&mut self, _: &Installation) -> Result<(), credentials::AwsIotStatus> {
        Ok(())
    }
    fn installed(&self) -> Option<(String, String)> {
        None
    }
}

fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
    for (at, value) in edits {
        if !bytes.is_empty() {
            let len = bytes.len();
            bytes[at % len] ^= value;
        }
    }
    bytes.truncate(bytes.len().saturating_sub(cut % 4));
    bytes
}

fn plaintext_decoders(bytes: &[u8]) {
    let _ = VersionInfo::parse(bytes);
    let _ = ConfigRequest::decode(bytes);
    let _ = ConfigResponse::decode(bytes);
    let _ = ConfigRequest::GetStatus.read_response(bytes);
    let _ = ScanRequest::decode(bytes);
    let _ = ScanResponse::decode(bytes);
    let _ = ScanRequest::Results {
        start_index: 0,
        count: 4,
    }
    .read_response(bytes);
    let _ = CtrlRequest::decode(bytes);
    let _ = CtrlResponse::decode(bytes);
    let _ = CtrlRequest::Reset.read_response(bytes);
    let _ = credentials::Request::decode(bytes);
    let _ = credentials::Response::decode(bytes);
    let _ = credentials::Request::GetInfo.read_response(bytes);
    let _ = CredentialService::new(NoIdentity, Limits::default()).handle(bytes);
}

fn all_devices() -> Vec<DeviceSession> {
    vec![
        DeviceSession::new(DeviceSecurity::Sec0),
        DeviceSession::new(DeviceSecurity::Sec1 {
            pop: Pop::from("pop"),
        }),
        DeviceSession::new(DeviceSecurity::Sec2 {
            credentials: Sec2Credentials::derive(b"u", &Pop::from("p"), &[1; 16]),
            patch: Sec2Patch::Counter,
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn plaintext_decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        plaintext_decoders(&bytes);
    }

    #[test]
    fn mutated_wifi_and_credential_messages_never_panic(
        which in 0usize..8,
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in any::<usize>(),
    ) {
        let valid = [
            ConfigRequest::ApplyConfig.encode(),
            ConfigResponse::ConfigSet.encode(),
            ScanRequest::Results { start_index: 1, count: 4 }.encode(),
            ScanResponse::Status { finished: true, result_count: 3 }.encode(),
            CtrlRequest::Reprov.encode(),
            credentials::Request::CreateCsr { common_name: "t".into(), new_key: true }.encode(),
            credentials::Request::WriteChunk { blob: credentials::wire::Blob::BlobRootCa, offset: 0, data: vec![1; 9] }.encode(),
            br#"{"prov":{"ver":"v1.1","sec_ver":2,"sec_patch_ver":1,"cap":["wifi_scan"]}}"#.to_vec(),
        ];
        plaintext_decoders(&mutate(valid[which].clone(), &edits, cut));
    }

    #[test]
    fn devices_never_panic_on_arbitrary_session_requests(bytes in prop::collection::vec(any::<u8>(), 0..600), seed in any::<u64>()) {
        let mut rng = seeded(seed);
        for mut device in all_devices() {
            let _ = device.handle_request(&bytes, &mut rng);
            let _ = device.decrypt(&bytes);
        }
    }

    #[test]
    fn clients_never_panic_on_arbitrary_session_answers(bytes in prop::collection::vec(any::<u8>(), 0..600), seed in any::<u64>()) {
        let mut rng = seeded(seed);
        let mut sec0 = Session::sec0();
        let mut sec1 = Session::sec1(Pop::from("pop"), &mut rng);
        for session in [&mut sec0, &mut sec1] {
            let _ = session.handle_response(&bytes);
            let _ = session.start();
            let _ = session.handle_response(&bytes);
            let _ = session.decrypt(&bytes);
        }
    }

    #[test]
    fn mutated_security1_handshakes_never_panic(
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<usize>(),
        target in 0usize..4,
        seed in any::<u64>(),
    ) {
        let mut rng = seeded(seed);
        let mut client = Session::sec1(Pop::from("pop"), &mut rng);
        let mut device = DeviceSession::new(DeviceSecurity::Sec1 { pop: Pop::from("pop") });
        let mut request = client.start().expect("start");
        for step in 0..4 {
            if step == target {
                request = mutate(request, &edits, cut);
            }
            let Ok(mut answer) = device.handle_request(&request, &mut rng) else { break };
            if step + 1 == target {
                answer = mutate(answer, &edits, cut);
            }
            match client.handle_response(&answer) {
                Ok(Step::Send(next)) => request = next,
                _ => break,
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn established_security2_sessions_never_panic_on_arbitrary_ciphertext(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        seed in any::<u64>(),
    ) {
        let mut rng = seeded(seed);
        let mut client = Session::sec2("u", Pop::from("p"), Sec2Patch::Counter, &mut rng).expect("client");
        let mut device = all_devices().remove(2);
        handshake(&mut client, &mut device, &mut rng).expect("handshake");
        prop_assert!(device.decrypt(&bytes).is_err(), "random bytes do not authenticate");
        prop_assert!(client.decrypt(&bytes).is_err(), "random bytes do not authenticate");
    }

    #[test]
    fn mutated_security2_handshakes_never_panic(
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<usize>(),
        target in 0usize..4,
        seed in any::<u64>(),
    ) {
        let mut rng = seeded(seed);
        let mut client = Session::sec2("u", Pop::from("p"), Sec2Patch::Counter, &mut rng).expect("client");
        let mut device = all_devices().remove(2);
        let mut request = client.start().expect("start");
        for step in 0..4 {
            if step == target {
                request = mutate(request, &edits, cut);
            }
            let Ok(mut answer) = device.handle_request(&request, &mut rng) else { break };
            if step + 1 == target {
                answer = mutate(answer, &edits, cut);
            }
            match client.handle_response(&answer) {
                Ok(Step::Send(next)) => request = next,
                _ => break,
            }
        }
    }
}
