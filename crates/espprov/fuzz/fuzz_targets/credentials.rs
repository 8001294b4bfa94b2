//! Fuzzes the `aws-iot` endpoint: the device service answers every decodable command and never
//! panics, and the client's response decoder never panics.
#![no_main]

use companion_espprov::credentials::{
    AwsIotStatus, CredentialService, DeviceIdentity, Installation, KeyAlgorithm, Limits, Request,
    Response,
};
use libfuzzer_sys::fuzz_target;

struct Identity;

impl DeviceIdentity for Identity {
    fn key_algorithm(&self) -> KeyAlgorithm {
        KeyAlgorithm::EcP256
    }
    fn has_key(&self) -> bool {
        true
    }
    fn create_csr(&mut self, common_name: &str, _: bool) -> Result<Vec<u8>, AwsIotStatus> {
        Ok(common_name.as_bytes().repeat(20))
    }
    fn install(&mut self, _: &Installation) -> Result<(), AwsIotStatus> {
        Ok(())
    }
    fn installed(&self) -> Option<(String, String)> {
        None
    }
}

fuzz_target!(|data: &[u8]| {
    let mut service = CredentialService::new(Identity, Limits::default());
    let _ = service.handle(
        &Request::CreateCsr {
            common_name: "thing".into(),
            new_key: false,
        }
        .encode(),
    );
    if Request::decode(data).is_ok() {
        let answer = service
            .handle(data)
            .expect("a decodable command is always answered");
        Response::decode(&answer).expect("the service's answers decode");
    }
    let _ = Response::decode(data);
    let _ = Request::GetInfo.read_response(data);
});
