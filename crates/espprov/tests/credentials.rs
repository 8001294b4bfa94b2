//! The `aws-iot` credential endpoint, both roles, over a real secure session.

mod common;

use common::{handshake, seeded};
use companion_espprov::credentials::wire::{AwsIotPayload, Blob};
use companion_espprov::credentials::{
    AwsIotStatus, CredentialService, CsrAssembly, DEFAULT_MAX_CHUNK, DeviceIdentity, Installation,
    KeyAlgorithm, Limits, PROTOCOL_VERSION, Request, Response, read_csr_requests,
};
use companion_espprov::{
    DeviceSecurity, DeviceSession, Error, Pop, Sec2Credentials, Sec2Patch, Session,
};
use prost::Message;

/// A device whose "key" is a generation number; its CSR and a matching certificate carry it.
#[derive(Default)]
struct FakeIdentity {
    key: Option<u8>,
    installed: Option<Installation>,
    fail_storage: bool,
}

impl FakeIdentity {
    fn marker(key: u8) -> Vec<u8> {
        format!("KEY#{key};").into_bytes()
    }

    fn certificate_for(key: u8, len: usize) -> Vec<u8> {
        let mut cert = Self::marker(key);
        cert.resize(len, 0x30);
        cert
    }
}

impl DeviceIdentity for FakeIdentity {
    fn key_algorithm(&self) -> KeyAlgorithm {
        KeyAlgorithm::EcP256
    }

    fn has_key(&self) -> bool {
        self.key.is_some()
    }

    fn create_csr(&mut self, common_name: &str, new_key: bool) -> Result<Vec<u8>, AwsIotStatus> {
        if self.key.is_none() || new_key {
            self.key = Some(self.key.map_or(1, |k| k + 1));
        }
        let key = self.key.unwrap_or_default();
        let mut csr = [&Self::marker(key)[..], common_name.as_bytes()].concat();
        csr.extend((0..600u32).map(|i| (i % 251) as u8));
        Ok(csr)
    }

    fn install(&mut self, installation: &Installation) -> Result<(), AwsIotStatus> {
        let key = self.key.ok_or(AwsIotStatus::NoKey)?;
        if !installation.certificate.starts_with(&Self::marker(key)) {
            return Err(AwsIotStatus::KeyMismatch);
        }
        if self.fail_storage {
            return Err(AwsIotStatus::StorageFailed);
        }
        self.installed = Some(installation.clone());
        Ok(())
    }

    fn installed(&self) -> Option<(String, String)> {
        self.installed
            .as_ref()
            .map(|i| (i.thing_name.clone(), i.endpoint.clone()))
    }
}

/// The app and the device joined by a Security 2 session.
struct Link {
    app: Session,
    device: DeviceSession,
    service: CredentialService<FakeIdentity>,
    chunk: u32,
}

impl Link {
    fn new() -> Self {
        let mut rng = seeded(7);
        let password = Pop::from("abcd1234");
        let mut app = Session::sec2("wifiprov", password.clone(), Sec2Patch::Counter, &mut rng)
            .expect("client");
        let credentials = Sec2Credentials::derive(b"wifiprov", &password, &[5; 16]);
        let mut device = DeviceSession::new(DeviceSecurity::Sec2 {
            credentials,
            patch: Sec2Patch::Counter,
        });
        handshake(&mut app, &mut device, &mut rng).expect("handshake");
        Self {
            app,
            device,
            service: CredentialService::new(FakeIdentity::default(), Limits::default()),
            chunk: DEFAULT_MAX_CHUNK,
        }
    }

    /// Sends one request through the session and returns the client's reading of the answer.
    fn send(&mut self, request: &Request) -> Result<Response, Error> {
        let sealed = self.app.encrypt(&request.encode()).expect("encrypt");
        assert!(
            sealed.len() <= 256,
            "{:?} is {} bytes on the wire",
            request.kind(),
            sealed.len()
        );
        let plain = self.device.decrypt(&sealed).expect("device decrypt");
        let answer = self
            .service
            .handle(&plain)
            .expect("the service answers every command");
        let sealed = self.device.encrypt(&answer).expect("device encrypt");
        assert!(
            sealed.len() <= 256,
            "the answer to {:?} is {} bytes on the wire",
            request.kind(),
            sealed.len()
        );
        request.read_response(&self.app.decrypt(&sealed).expect("decrypt"))
    }

    fn fetch_csr(&mut self, common_name: &str) -> Vec<u8> {
        let created = self
            .send(&Request::CreateCsr {
                common_name: common_name.into(),
                new_key: false,
            })
            .expect("create");
        let Response::CsrCreated {
            csr_len,
            csr_sha256,
        } = created
        else {
            panic!("{created:?}")
        };
        let mut assembly = CsrAssembly::new(csr_len, csr_sha256);
        for request in read_csr_requests(csr_len, DEFAULT_MAX_CHUNK) {
            assembly
                .push(&self.send(&request).expect("chunk"))
                .expect("in order");
        }
        assembly.finish().expect("complete and matching")
    }

    fn install(&mut self, installation: &Installation) -> Result<(), Error> {
        for request in installation.requests(self.chunk) {
            self.send(&request)?;
        }
        Ok(())
    }
}

fn installation(certificate: Vec<u8>) -> Installation {
    Installation {
        thing_name: "thermostat-7".into(),
        endpoint: "a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com".into(),
        port: 8883,
        certificate,
        root_ca: vec![0x30; 837],
    }
}

#[test]
fn the_app_gets_a_csr_and_installs_an_identity_over_the_secure_session() {
    let mut link = Link::new();
    let Ok(Response::Info(info)) = link.send(&Request::GetInfo) else {
        panic!("no info")
    };
    assert_eq!(
        (info.has_key, info.installed.clone(), info.max_chunk),
        (false, None, DEFAULT_MAX_CHUNK)
    );
    link.chunk = info.chunk_size();

    let csr = link.fetch_csr("thermostat-7");
    assert!(
        csr.starts_with(b"KEY#1;thermostat-7"),
        "the CSR crossed intact"
    );

    let identity = installation(FakeIdentity::certificate_for(1, 1100));
    link.install(&identity).expect("installed");
    assert_eq!(link.service.identity().installed.as_ref(), Some(&identity));
    let Ok(Response::Info(info)) = link.send(&Request::GetInfo) else {
        panic!("no info")
    };
    assert_eq!(
        info.installed,
        Some((identity.thing_name.clone(), identity.endpoint.clone()))
    );
}

#[test]
fn a_certificate_for_another_key_is_refused_and_nothing_is_stored() {
    let mut link = Link::new();
    link.fetch_csr("thermostat-7");
    let wrong = installation(FakeIdentity::certificate_for(9, 700));
    assert_eq!(
        link.install(&wrong),
        Err(Error::Credential(AwsIotStatus::KeyMismatch))
    );
    assert_eq!(link.service.identity().installed, None);
}

#[test]
fn storage_failures_are_reported() {
    let mut link = Link::new();
    link.fetch_csr("thermostat-7");
    link.service = CredentialService::new(
        FakeIdentity {
            key: Some(1),
            fail_storage: true,
            ..FakeIdentity::default()
        },
        Limits::default(),
    );
    let identity = installation(FakeIdentity::certificate_for(1, 700));
    assert_eq!(
        link.install(&identity),
        Err(Error::Credential(AwsIotStatus::StorageFailed))
    );
}

#[test]
fn out_of_sequence_requests_are_refused_with_their_status() {
    let mut link = Link::new();
    let chunk = Request::WriteChunk {
        blob: Blob::BlobCertificate,
        offset: 0,
        data: vec![1],
    };
    assert_eq!(
        link.send(&chunk),
        Err(Error::Credential(AwsIotStatus::BadSequence)),
        "chunk before begin"
    );
    assert_eq!(
        link.send(&Request::Commit),
        Err(Error::Credential(AwsIotStatus::BadSequence)),
        "commit before begin"
    );
    assert_eq!(
        link.send(&Request::ReadCsr {
            offset: 0,
            length: 10
        }),
        Err(Error::Credential(AwsIotStatus::NoKey))
    );
    let identity = installation(FakeIdentity::certificate_for(1, 700));
    let begin = identity.requests(DEFAULT_MAX_CHUNK).remove(0);
    assert_eq!(
        link.send(&begin),
        Err(Error::Credential(AwsIotStatus::NoKey)),
        "begin without a key"
    );

    link.fetch_csr("thermostat-7");
    link.send(&begin).expect("begin");
    let gap = Request::WriteChunk {
        blob: Blob::BlobCertificate,
        offset: 5,
        data: vec![1],
    };
    assert_eq!(
        link.send(&gap),
        Err(Error::Credential(AwsIotStatus::BadSequence)),
        "a gap"
    );
    let big = Request::WriteChunk {
        blob: Blob::BlobCertificate,
        offset: 0,
        data: vec![1; DEFAULT_MAX_CHUNK as usize + 1],
    };
    assert_eq!(
        link.send(&big),
        Err(Error::Credential(AwsIotStatus::InvalidArgument)),
        "an oversized chunk"
    );
    assert_eq!(
        link.send(&Request::Commit),
        Err(Error::Credential(AwsIotStatus::BadSequence)),
        "commit before every byte"
    );
    assert_eq!(link.send(&Request::Abort), Ok(Response::Aborted));
    let read_past = Request::ReadCsr {
        offset: 10_000,
        length: 10,
    };
    assert_eq!(
        link.send(&read_past),
        Err(Error::Credential(AwsIotStatus::InvalidArgument))
    );
}

#[test]
fn corrupted_blobs_fail_their_digest() {
    let mut link = Link::new();
    link.fetch_csr("thermostat-7");
    let identity = installation(FakeIdentity::certificate_for(1, 500));
    let mut requests = identity.requests(DEFAULT_MAX_CHUNK);
    if let Some(Request::WriteChunk { data, .. }) = requests.get_mut(1) {
        data[20] ^= 1;
    }
    let results: Vec<_> = requests.iter().map(|request| link.send(request)).collect();
    assert_eq!(
        results.last(),
        Some(&Err(Error::Credential(AwsIotStatus::DigestMismatch)))
    );
    assert!(results[..results.len() - 1].iter().all(Result::is_ok));
}

#[test]
fn oversized_identities_and_bad_names_are_refused() {
    let mut link = Link::new();
    link.fetch_csr("thermostat-7");
    let too_big = installation(FakeIdentity::certificate_for(1, 5000));
    assert_eq!(
        too_big.validate(Limits::default().max_blob),
        Err(Error::Credential(AwsIotStatus::TooLarge))
    );
    assert_eq!(
        link.install(&too_big),
        Err(Error::Credential(AwsIotStatus::TooLarge))
    );
    let mut bad_name = installation(FakeIdentity::certificate_for(1, 500));
    bad_name.thing_name = "no spaces allowed".into();
    assert!(bad_name.validate(4096).is_err());
    assert_eq!(
        link.install(&bad_name),
        Err(Error::Credential(AwsIotStatus::InvalidArgument))
    );
}

#[test]
fn another_protocol_version_is_answered_with_unsupported_version() {
    let mut service = CredentialService::new(FakeIdentity::default(), Limits::default());
    let mut request = AwsIotPayload::decode(&Request::GetInfo.encode()[..]).expect("decode");
    request.version = PROTOCOL_VERSION + 1;
    let answer = service.handle(&request.encode_to_vec()).expect("answered");
    assert_eq!(
        Request::GetInfo.read_response(&answer),
        Err(Error::Credential(AwsIotStatus::UnsupportedVersion))
    );
    let answer = AwsIotPayload::decode(&answer[..]).expect("decode");
    assert_eq!(
        (answer.version, answer.msg),
        (PROTOCOL_VERSION, 2),
        "the device says which version it speaks"
    );
}

#[test]
fn a_csr_with_a_wrong_digest_is_rejected_by_the_client() {
    let mut assembly = CsrAssembly::new(3, [0; 32]);
    assembly
        .push(&Response::CsrChunk {
            offset: 0,
            data: vec![1, 2, 3],
        })
        .expect("push");
    assert_eq!(
        assembly.finish(),
        Err(Error::Credential(AwsIotStatus::DigestMismatch))
    );
    let mut gap = CsrAssembly::new(3, [0; 32]);
    assert!(
        gap.push(&Response::CsrChunk {
            offset: 1,
            data: vec![1]
        })
        .is_err()
    );
}
