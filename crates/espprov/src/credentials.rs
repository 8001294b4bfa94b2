//! The `aws-iot` custom endpoint: the app gets a certificate signing request from the device
//! (the device's private key never leaves it) and installs the device's AWS IoT identity: its
//! certificate, the AWS IoT data endpoint, its thing name and the root CA.
//!
//! The wire format is specified for firmware authors in `docs/credential-endpoint.md`; this
//! module is its reference implementation for both roles. Messages are protobuf (hand-written
//! `prost` structs, like ESP-IDF's own endpoints), travel through the session cipher like
//! `prov-config`, and every request is answered with the request's type plus one. Blobs larger
//! than one BLE write (certificates are about 1 KiB of DER) move in chunks of at most the
//! device's `max_chunk` bytes.
//!
//! * Client: build [`Request`]s ([`read_csr_requests`], [`Installation::requests`]), encode,
//!   encrypt, send, and read each answer with [`Request::read_response`]; put the CSR together
//!   with [`CsrAssembly`].
//! * Device: [`CredentialService`] answers every request, with the key and certificate work
//!   delegated to a [`DeviceIdentity`] (this crate has no X.509 or signing code).

use prost::Message;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The protocol version this crate speaks (`AwsIotPayload.version`).
pub const PROTOCOL_VERSION: u32 = 1;
/// The label of our section in the `proto-ver` JSON: `"aws-iot":{"ver":"1","cap":["csr"]}`.
pub const APP_LABEL: &str = "aws-iot";
/// The capability saying the device generates its key and answers CSR requests.
pub const CAP_CSR: &str = "csr";
/// The chunk size our simulated devices advertise: a `CmdWriteChunk` of this many data bytes is
/// at most 216 bytes of protobuf, 232 with the Security 2 tag, so it fits even the 256-byte
/// characteristic of Bluedroid builds without Security 2.
pub const DEFAULT_MAX_CHUNK: u32 = 200;
/// The largest certificate or root CA our simulated devices accept, in bytes of DER.
pub const DEFAULT_MAX_BLOB: u32 = 4096;
/// The largest chunk the app ever uses: 448 data bytes plus envelope and GCM tag fit
/// Bluedroid's 480-byte characteristic.
pub const MAX_CLIENT_CHUNK: u32 = 448;
/// The MQTT port used when `CmdBeginInstall.port` is 0.
pub const DEFAULT_PORT: u16 = 8883;

/// Hand-written protobuf messages of the endpoint (`aws_iot.proto` in the specification).
pub mod wire {
    /// `enum AwsIotMsgType`: commands are odd, their responses the command plus one.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    #[allow(missing_docs)]
    pub enum AwsIotMsgType {
        TypeReserved = 0,
        TypeCmdGetInfo = 1,
        TypeRespGetInfo = 2,
        TypeCmdCreateCsr = 3,
        TypeRespCreateCsr = 4,
        TypeCmdReadCsr = 5,
        TypeRespReadCsr = 6,
        TypeCmdBeginInstall = 7,
        TypeRespBeginInstall = 8,
        TypeCmdWriteChunk = 9,
        TypeRespWriteChunk = 10,
        TypeCmdCommit = 11,
        TypeRespCommit = 12,
        TypeCmdAbort = 13,
        TypeRespAbort = 14,
    }

    /// `enum Blob`: what a `CmdWriteChunk` carries.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum Blob {
        /// Invalid.
        BlobUnspecified = 0,
        /// The device certificate, DER.
        BlobCertificate = 1,
        /// The root CA certificate, DER.
        BlobRootCa = 2,
    }

    /// `message CmdGetInfo {}`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CmdGetInfo {}

    /// `message RespGetInfo`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RespGetInfo {
        /// Largest `data` the device takes or gives per chunk.
        #[prost(uint32, tag = "1")]
        pub max_chunk: u32,
        /// Largest certificate or root CA, bytes of DER.
        #[prost(uint32, tag = "2")]
        pub max_blob: u32,
        /// The device key's algorithm.
        #[prost(enumeration = "super::KeyAlgorithm", tag = "3")]
        pub key_algorithm: i32,
        /// Whether the device has a key.
        #[prost(bool, tag = "4")]
        pub has_key: bool,
        /// Whether an identity is installed.
        #[prost(bool, tag = "5")]
        pub installed: bool,
        /// The installed thing name, if any.
        #[prost(string, tag = "6")]
        pub thing_name: String,
        /// The installed endpoint, if any.
        #[prost(string, tag = "7")]
        pub endpoint: String,
        /// The device's serial number (a fleet provisioning template parameter).
        #[prost(string, tag = "8")]
        pub serial_number: String,
        /// The device's model (a fleet provisioning template parameter).
        #[prost(string, tag = "9")]
        pub model: String,
    }

    /// `message CmdCreateCsr`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CmdCreateCsr {
        /// The CSR subject's common name (usually the thing name).
        #[prost(string, tag = "1")]
        pub common_name: String,
        /// Replace an existing key.
        #[prost(bool, tag = "2")]
        pub new_key: bool,
    }

    /// `message RespCreateCsr`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RespCreateCsr {
        /// The CSR's length in bytes of DER.
        #[prost(uint32, tag = "1")]
        pub csr_len: u32,
        /// SHA-256 of the CSR.
        #[prost(bytes = "vec", tag = "2")]
        pub csr_sha256: Vec<u8>,
    }

    /// `message CmdReadCsr`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CmdReadCsr {
        /// Where to start.
        #[prost(uint32, tag = "1")]
        pub offset: u32,
        /// How many bytes, at most `max_chunk`.
        #[prost(uint32, tag = "2")]
        pub length: u32,
    }

    /// `message RespReadCsr`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RespReadCsr {
        /// The offset of `data`.
        #[prost(uint32, tag = "1")]
        pub offset: u32,
        /// CSR bytes.
        #[prost(bytes = "vec", tag = "2")]
        pub data: Vec<u8>,
    }

    /// `message CmdBeginInstall`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CmdBeginInstall {
        /// The AWS IoT thing name (the MQTT client id).
        #[prost(string, tag = "1")]
        pub thing_name: String,
        /// The AWS IoT data endpoint host name.
        #[prost(string, tag = "2")]
        pub endpoint: String,
        /// The MQTT port, 0 for 8883.
        #[prost(uint32, tag = "3")]
        pub port: u32,
        /// The certificate's length in bytes of DER.
        #[prost(uint32, tag = "4")]
        pub certificate_len: u32,
        /// SHA-256 of the certificate.
        #[prost(bytes = "vec", tag = "5")]
        pub certificate_sha256: Vec<u8>,
        /// The root CA's length, 0 to keep the device's built-in root CA.
        #[prost(uint32, tag = "6")]
        pub root_ca_len: u32,
        /// SHA-256 of the root CA (empty when `root_ca_len` is 0).
        #[prost(bytes = "vec", tag = "7")]
        pub root_ca_sha256: Vec<u8>,
    }

    /// `message RespBeginInstall {}`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RespBeginInstall {}

    /// `message CmdWriteChunk`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CmdWriteChunk {
        /// Which blob.
        #[prost(enumeration = "Blob", tag = "1")]
        pub blob: i32,
        /// Where this chunk goes; must equal the bytes of this blob received so far.
        #[prost(uint32, tag = "2")]
        pub offset: u32,
        /// The bytes, 1 to `max_chunk`.
        #[prost(bytes = "vec", tag = "3")]
        pub data: Vec<u8>,
    }

    /// `message RespWriteChunk`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RespWriteChunk {
        /// Bytes of this blob received so far.
        #[prost(uint32, tag = "1")]
        pub received: u32,
    }

    /// `message CmdCommit {}`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CmdCommit {}

    /// `message RespCommit {}`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RespCommit {}

    /// `message CmdAbort {}`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CmdAbort {}

    /// `message RespAbort {}`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RespAbort {}

    /// `message AwsIotPayload { uint32 version = 1; AwsIotMsgType msg = 2; AwsIotStatus status = 3; oneof payload { 10..23 } }`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AwsIotPayload {
        /// The protocol version, 1.
        #[prost(uint32, tag = "1")]
        pub version: u32,
        /// The message type.
        #[prost(enumeration = "AwsIotMsgType", tag = "2")]
        pub msg: i32,
        /// The device's verdict (responses).
        #[prost(enumeration = "super::AwsIotStatus", tag = "3")]
        pub status: i32,
        /// The command or response.
        #[prost(
            oneof = "aws_iot_payload::Payload",
            tags = "10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23"
        )]
        pub payload: Option<aws_iot_payload::Payload>,
    }

    /// The `oneof payload` of [`AwsIotPayload`].
    pub mod aws_iot_payload {
        /// `oneof payload`.
        #[derive(Clone, PartialEq, prost::Oneof)]
        #[allow(missing_docs)]
        pub enum Payload {
            #[prost(message, tag = "10")]
            CmdGetInfo(super::CmdGetInfo),
            #[prost(message, tag = "11")]
            RespGetInfo(super::RespGetInfo),
            #[prost(message, tag = "12")]
            CmdCreateCsr(super::CmdCreateCsr),
            #[prost(message, tag = "13")]
            RespCreateCsr(super::RespCreateCsr),
            #[prost(message, tag = "14")]
            CmdReadCsr(super::CmdReadCsr),
            #[prost(message, tag = "15")]
            RespReadCsr(super::RespReadCsr),
            #[prost(message, tag = "16")]
            CmdBeginInstall(super::CmdBeginInstall),
            #[prost(message, tag = "17")]
            RespBeginInstall(super::RespBeginInstall),
            #[prost(message, tag = "18")]
            CmdWriteChunk(super::CmdWriteChunk),
            #[prost(message, tag = "19")]
            RespWriteChunk(super::RespWriteChunk),
            #[prost(message, tag = "20")]
            CmdCommit(super::CmdCommit),
            #[prost(message, tag = "21")]
            RespCommit(super::RespCommit),
            #[prost(message, tag = "22")]
            CmdAbort(super::CmdAbort),
            #[prost(message, tag = "23")]
            RespAbort(super::RespAbort),
        }
    }
}

use wire::aws_iot_payload::Payload;
use wire::{AwsIotMsgType as Msg, AwsIotPayload, Blob};

/// `enum AwsIotStatus`: the device's verdict on a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum AwsIotStatus {
    /// Done.
    Ok = 0,
    /// The request's `version` is not one the device speaks; the response carries the
    /// device's version.
    UnsupportedVersion = 1,
    /// A field is missing, empty, malformed or out of range.
    InvalidArgument = 2,
    /// The request is not allowed in the current state (for example a chunk before
    /// `CmdBeginInstall`, an out-of-order offset, or `CmdCommit` before every byte arrived).
    BadSequence = 3,
    /// `CmdReadCsr` or `CmdBeginInstall` before the device has a key.
    NoKey = 4,
    /// The certificate's public key is not the device's.
    KeyMismatch = 5,
    /// A blob's SHA-256 does not match the one announced.
    DigestMismatch = 6,
    /// A blob or chunk is larger than the device's limits.
    TooLarge = 7,
    /// The device could not store the identity.
    StorageFailed = 8,
    /// Anything else on the device.
    InternalError = 9,
}

/// `enum KeyAlgorithm`: the device key's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum KeyAlgorithm {
    /// Not said.
    Unspecified = 0,
    /// ECDSA on P-256 (AWS IoT's recommended device key).
    EcP256 = 1,
    /// RSA 2048.
    Rsa2048 = 2,
}

/// What `CmdGetInfo` tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Largest chunk the device takes or gives.
    pub max_chunk: u32,
    /// Largest certificate or root CA the device takes.
    pub max_blob: u32,
    /// The device key's algorithm.
    pub key_algorithm: KeyAlgorithm,
    /// Whether the device has a key.
    pub has_key: bool,
    /// The installed identity, if any: thing name and endpoint.
    pub installed: Option<(String, String)>,
    /// The serial number, when the device says (empty otherwise).
    pub serial_number: String,
    /// The model, when the device says (empty otherwise).
    pub model: String,
}

impl DeviceInfo {
    /// The chunk size the app uses with this device: its `max_chunk`, at most
    /// [`MAX_CLIENT_CHUNK`], at least 1.
    pub fn chunk_size(&self) -> u32 {
        self.max_chunk.clamp(1, MAX_CLIENT_CHUNK)
    }
}

/// An identity to install: everything `CmdBeginInstall` and the chunks carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installation {
    /// The thing name: 1 to 128 of `a-z A-Z 0-9 : _ -`.
    pub thing_name: String,
    /// The AWS IoT data endpoint host name.
    pub endpoint: String,
    /// The MQTT port.
    pub port: u16,
    /// The device certificate, DER.
    pub certificate: Vec<u8>,
    /// The root CA certificate, DER; empty to keep the device's built-in one.
    pub root_ca: Vec<u8>,
}

/// A request to the `aws-iot` endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// `CmdGetInfo`.
    GetInfo,
    /// `CmdCreateCsr`.
    CreateCsr {
        /// The subject's common name.
        common_name: String,
        /// Replace an existing key.
        new_key: bool,
    },
    /// `CmdReadCsr`.
    ReadCsr {
        /// Where to start.
        offset: u32,
        /// How many bytes.
        length: u32,
    },
    /// `CmdBeginInstall`.
    BeginInstall(wire::CmdBeginInstall),
    /// `CmdWriteChunk`.
    WriteChunk {
        /// Which blob.
        blob: Blob,
        /// Where the bytes go.
        offset: u32,
        /// The bytes.
        data: Vec<u8>,
    },
    /// `CmdCommit`.
    Commit,
    /// `CmdAbort`.
    Abort,
}

/// Which request a response answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum RequestKind {
    GetInfo,
    CreateCsr,
    ReadCsr,
    BeginInstall,
    WriteChunk,
    Commit,
    Abort,
}

/// A response from the `aws-iot` endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `RespGetInfo`.
    Info(DeviceInfo),
    /// `RespCreateCsr`.
    CsrCreated {
        /// The CSR's length.
        csr_len: u32,
        /// Its SHA-256.
        csr_sha256: [u8; 32],
    },
    /// `RespReadCsr`.
    CsrChunk {
        /// Where the bytes belong.
        offset: u32,
        /// The bytes.
        data: Vec<u8>,
    },
    /// `RespBeginInstall`.
    InstallBegun,
    /// `RespWriteChunk`.
    ChunkWritten {
        /// Bytes of that blob received so far.
        received: u32,
    },
    /// `RespCommit`.
    Committed,
    /// `RespAbort`.
    Aborted,
    /// Any status other than `Ok`.
    Refused {
        /// The request refused.
        to: RequestKind,
        /// Why.
        status: AwsIotStatus,
    },
}

impl RequestKind {
    fn command(self) -> Msg {
        match self {
            Self::GetInfo => Msg::TypeCmdGetInfo,
            Self::CreateCsr => Msg::TypeCmdCreateCsr,
            Self::ReadCsr => Msg::TypeCmdReadCsr,
            Self::BeginInstall => Msg::TypeCmdBeginInstall,
            Self::WriteChunk => Msg::TypeCmdWriteChunk,
            Self::Commit => Msg::TypeCmdCommit,
            Self::Abort => Msg::TypeCmdAbort,
        }
    }

    fn from_msg(msg: i32) -> Option<(Self, bool)> {
        let kind = match Msg::try_from(msg).ok()? {
            Msg::TypeReserved => return None,
            Msg::TypeCmdGetInfo | Msg::TypeRespGetInfo => Self::GetInfo,
            Msg::TypeCmdCreateCsr | Msg::TypeRespCreateCsr => Self::CreateCsr,
            Msg::TypeCmdReadCsr | Msg::TypeRespReadCsr => Self::ReadCsr,
            Msg::TypeCmdBeginInstall | Msg::TypeRespBeginInstall => Self::BeginInstall,
            Msg::TypeCmdWriteChunk | Msg::TypeRespWriteChunk => Self::WriteChunk,
            Msg::TypeCmdCommit | Msg::TypeRespCommit => Self::Commit,
            Msg::TypeCmdAbort | Msg::TypeRespAbort => Self::Abort,
        };
        Some((kind, msg % 2 == 0))
    }

    fn empty_response(self) -> Payload {
        match self {
            Self::GetInfo => Payload::RespGetInfo(wire::RespGetInfo::default()),
            Self::CreateCsr => Payload::RespCreateCsr(wire::RespCreateCsr::default()),
            Self::ReadCsr => Payload::RespReadCsr(wire::RespReadCsr::default()),
            Self::BeginInstall => Payload::RespBeginInstall(wire::RespBeginInstall {}),
            Self::WriteChunk => Payload::RespWriteChunk(wire::RespWriteChunk::default()),
            Self::Commit => Payload::RespCommit(wire::RespCommit {}),
            Self::Abort => Payload::RespAbort(wire::RespAbort {}),
        }
    }
}

fn envelope(msg: Msg, status: AwsIotStatus, payload: Payload) -> Vec<u8> {
    AwsIotPayload {
        version: PROTOCOL_VERSION,
        msg: msg as i32,
        status: status as i32,
        payload: Some(payload),
    }
    .encode_to_vec()
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl Request {
    /// The request's kind.
    pub fn kind(&self) -> RequestKind {
        match self {
            Self::GetInfo => RequestKind::GetInfo,
            Self::CreateCsr { .. } => RequestKind::CreateCsr,
            Self::ReadCsr { .. } => RequestKind::ReadCsr,
            Self::BeginInstall(_) => RequestKind::BeginInstall,
            Self::WriteChunk { .. } => RequestKind::WriteChunk,
            Self::Commit => RequestKind::Commit,
            Self::Abort => RequestKind::Abort,
        }
    }

    /// The plaintext `AwsIotPayload` (client).
    pub fn encode(&self) -> Vec<u8> {
        let payload = match self {
            Self::GetInfo => Payload::CmdGetInfo(wire::CmdGetInfo {}),
            Self::CreateCsr {
                common_name,
                new_key,
            } => Payload::CmdCreateCsr(wire::CmdCreateCsr {
                common_name: common_name.clone(),
                new_key: *new_key,
            }),
            Self::ReadCsr { offset, length } => Payload::CmdReadCsr(wire::CmdReadCsr {
                offset: *offset,
                length: *length,
            }),
            Self::BeginInstall(cmd) => Payload::CmdBeginInstall(cmd.clone()),
            Self::WriteChunk { blob, offset, data } => {
                Payload::CmdWriteChunk(wire::CmdWriteChunk {
                    blob: *blob as i32,
                    offset: *offset,
                    data: data.clone(),
                })
            }
            Self::Commit => Payload::CmdCommit(wire::CmdCommit {}),
            Self::Abort => Payload::CmdAbort(wire::CmdAbort {}),
        };
        envelope(self.kind().command(), AwsIotStatus::Ok, payload)
    }

    /// Reads a request (device). The version is checked by [`CredentialService`], which must
    /// answer a wrong one; here any version decodes.
    pub fn decode(bytes: &[u8]) -> Result<(u32, Self)> {
        let message =
            AwsIotPayload::decode(bytes).map_err(|e| Error::decode("AwsIotPayload", e))?;
        let kind = match RequestKind::from_msg(message.msg) {
            Some((kind, false)) => kind,
            _ => {
                return Err(Error::unexpected(
                    "an aws-iot command",
                    format!("msg {}", message.msg),
                ));
            }
        };
        let request = match (kind, message.payload) {
            (RequestKind::GetInfo, _) => Self::GetInfo,
            (RequestKind::CreateCsr, Some(Payload::CmdCreateCsr(cmd))) => Self::CreateCsr {
                common_name: cmd.common_name,
                new_key: cmd.new_key,
            },
            (RequestKind::ReadCsr, Some(Payload::CmdReadCsr(cmd))) => Self::ReadCsr {
                offset: cmd.offset,
                length: cmd.length,
            },
            (RequestKind::BeginInstall, Some(Payload::CmdBeginInstall(cmd))) => {
                Self::BeginInstall(cmd)
            }
            (RequestKind::WriteChunk, Some(Payload::CmdWriteChunk(cmd))) => {
                let blob = Blob::try_from(cmd.blob).unwrap_or(Blob::BlobUnspecified);
                Self::WriteChunk {
                    blob,
                    offset: cmd.offset,
                    data: cmd.data,
                }
            }
            (RequestKind::Commit, _) => Self::Commit,
            (RequestKind::Abort, _) => Self::Abort,
            (kind, _) => {
                return Err(Error::unexpected(
                    "the command's payload",
                    format!("{kind:?} without it"),
                ));
            }
        };
        Ok((message.version, request))
    }

    /// Reads the device's answer to this request (client); a refusal becomes
    /// [`Error::Credential`].
    pub fn read_response(&self, bytes: &[u8]) -> Result<Response> {
        let response = Response::decode(bytes)?;
        if response.kind() != self.kind() {
            return Err(Error::unexpected(
                "the answer to this aws-iot request",
                format!("{:?}", response.kind()),
            ));
        }
        match response {
            Response::Refused { status, .. } => Err(Error::Credential(status)),
            answer => Ok(answer),
        }
    }
}

impl Response {
    /// The kind of request this answers.
    pub fn kind(&self) -> RequestKind {
        match self {
            Self::Info(_) => RequestKind::GetInfo,
            Self::CsrCreated { .. } => RequestKind::CreateCsr,
            Self::CsrChunk { .. } => RequestKind::ReadCsr,
            Self::InstallBegun => RequestKind::BeginInstall,
            Self::ChunkWritten { .. } => RequestKind::WriteChunk,
            Self::Committed => RequestKind::Commit,
            Self::Aborted => RequestKind::Abort,
            Self::Refused { to, .. } => *to,
        }
    }

    /// The plaintext `AwsIotPayload` (device).
    pub fn encode(&self) -> Vec<u8> {
        let payload = match self {
            Self::Info(info) => Payload::RespGetInfo(wire::RespGetInfo {
                max_chunk: info.max_chunk,
                max_blob: info.max_blob,
                key_algorithm: info.key_algorithm as i32,
                has_key: info.has_key,
                installed: info.installed.is_some(),
                thing_name: info
                    .installed
                    .as_ref()
                    .map(|(thing, _)| thing.clone())
                    .unwrap_or_default(),
                endpoint: info
                    .installed
                    .as_ref()
                    .map(|(_, endpoint)| endpoint.clone())
                    .unwrap_or_default(),
                serial_number: info.serial_number.clone(),
                model: info.model.clone(),
            }),
            Self::CsrCreated {
                csr_len,
                csr_sha256,
            } => Payload::RespCreateCsr(wire::RespCreateCsr {
                csr_len: *csr_len,
                csr_sha256: csr_sha256.to_vec(),
            }),
            Self::CsrChunk { offset, data } => Payload::RespReadCsr(wire::RespReadCsr {
                offset: *offset,
                data: data.clone(),
            }),
            Self::ChunkWritten { received } => Payload::RespWriteChunk(wire::RespWriteChunk {
                received: *received,
            }),
            Self::Refused { to, .. } => to.empty_response(),
            other => other.kind().empty_response(),
        };
        let status = match self {
            Self::Refused { status, .. } => *status,
            _ => AwsIotStatus::Ok,
        };
        let msg = Msg::try_from(self.kind().command() as i32 + 1).unwrap_or(Msg::TypeReserved);
        envelope(msg, status, payload)
    }

    /// Reads any `aws-iot` response.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let message =
            AwsIotPayload::decode(bytes).map_err(|e| Error::decode("AwsIotPayload", e))?;
        let to = match RequestKind::from_msg(message.msg) {
            Some((kind, true)) => kind,
            _ => {
                return Err(Error::unexpected(
                    "an aws-iot response",
                    format!("msg {}", message.msg),
                ));
            }
        };
        if message.status != AwsIotStatus::Ok as i32 {
            let status =
                AwsIotStatus::try_from(message.status).unwrap_or(AwsIotStatus::InternalError);
            return Ok(Self::Refused { to, status });
        }
        if message.version != PROTOCOL_VERSION {
            return Err(Error::invalid(
                "AwsIotPayload.version",
                format!("{}, expected {PROTOCOL_VERSION}", message.version),
            ));
        }
        Ok(match (to, message.payload) {
            (RequestKind::GetInfo, Some(Payload::RespGetInfo(info))) => Self::Info(DeviceInfo {
                max_chunk: info.max_chunk,
                max_blob: info.max_blob,
                key_algorithm: KeyAlgorithm::try_from(info.key_algorithm)
                    .unwrap_or(KeyAlgorithm::Unspecified),
                has_key: info.has_key,
                installed: info.installed.then_some((info.thing_name, info.endpoint)),
                serial_number: info.serial_number,
                model: info.model,
            }),
            (RequestKind::CreateCsr, Some(Payload::RespCreateCsr(resp))) => {
                let csr_sha256 = resp
                    .csr_sha256
                    .as_slice()
                    .try_into()
                    .map_err(|_| Error::invalid("csr_sha256", "expected 32 bytes"))?;
                Self::CsrCreated {
                    csr_len: resp.csr_len,
                    csr_sha256,
                }
            }
            (RequestKind::ReadCsr, Some(Payload::RespReadCsr(resp))) => Self::CsrChunk {
                offset: resp.offset,
                data: resp.data,
            },
            (RequestKind::BeginInstall, _) => Self::InstallBegun,
            (RequestKind::WriteChunk, Some(Payload::RespWriteChunk(resp))) => Self::ChunkWritten {
                received: resp.received,
            },
            (RequestKind::Commit, _) => Self::Committed,
            (RequestKind::Abort, _) => Self::Aborted,
            (kind, _) => {
                return Err(Error::unexpected(
                    "the response's payload",
                    format!("{kind:?} without it"),
                ));
            }
        })
    }
}

/// The `CmdReadCsr` requests that read a CSR of `csr_len` bytes, `max_chunk` at a time.
pub fn read_csr_requests(csr_len: u32, max_chunk: u32) -> Vec<Request> {
    let max_chunk = max_chunk.max(1);
    (0..csr_len)
        .step_by(max_chunk as usize)
        .map(|offset| Request::ReadCsr {
            offset,
            length: max_chunk.min(csr_len - offset),
        })
        .collect()
}

/// Puts a CSR together from `RespReadCsr` chunks and checks its announced digest (client).
#[derive(Debug, Clone)]
pub struct CsrAssembly {
    csr_len: u32,
    csr_sha256: [u8; 32],
    bytes: Vec<u8>,
}

impl CsrAssembly {
    /// Expects the CSR `RespCreateCsr` announced.
    pub fn new(csr_len: u32, csr_sha256: [u8; 32]) -> Self {
        Self {
            csr_len,
            csr_sha256,
            bytes: Vec::new(),
        }
    }

    /// Adds the next chunk, which must continue where the last one ended.
    pub fn push(&mut self, response: &Response) -> Result<()> {
        let Response::CsrChunk { offset, data } = response else {
            return Err(Error::unexpected(
                "RespReadCsr",
                format!("{:?}", response.kind()),
            ));
        };
        if *offset as usize != self.bytes.len()
            || self.bytes.len() + data.len() > self.csr_len as usize
            || data.is_empty()
        {
            return Err(Error::invalid(
                "RespReadCsr",
                format!(
                    "{} bytes at {offset} after {}",
                    data.len(),
                    self.bytes.len()
                ),
            ));
        }
        self.bytes.extend_from_slice(data);
        Ok(())
    }

    /// The CSR (DER), once complete and matching its digest.
    pub fn finish(self) -> Result<Vec<u8>> {
        if self.bytes.len() != self.csr_len as usize {
            return Err(Error::invalid(
                "CSR",
                format!("{} of {} bytes received", self.bytes.len(), self.csr_len),
            ));
        }
        if sha256(&self.bytes) != self.csr_sha256 {
            return Err(Error::Credential(AwsIotStatus::DigestMismatch));
        }
        Ok(self.bytes)
    }
}

impl Installation {
    /// Checks the names and sizes against the specification and the device's limits.
    pub fn validate(&self, max_blob: u32) -> Result<()> {
        validate_thing_name(&self.thing_name)?;
        validate_endpoint(&self.endpoint)?;
        if self.certificate.is_empty() {
            return Err(Error::invalid("certificate", "it is empty"));
        }
        if self.certificate.len() > max_blob as usize || self.root_ca.len() > max_blob as usize {
            return Err(Error::Credential(AwsIotStatus::TooLarge));
        }
        Ok(())
    }

    /// `CmdBeginInstall`, the certificate's chunks, the root CA's chunks, `CmdCommit` (client).
    pub fn requests(&self, max_chunk: u32) -> Vec<Request> {
        let begin = wire::CmdBeginInstall {
            thing_name: self.thing_name.clone(),
            endpoint: self.endpoint.clone(),
            port: u32::from(self.port),
            certificate_len: self.certificate.len() as u32,
            certificate_sha256: sha256(&self.certificate).to_vec(),
            root_ca_len: self.root_ca.len() as u32,
            root_ca_sha256: if self.root_ca.is_empty() {
                Vec::new()
            } else {
                sha256(&self.root_ca).to_vec()
            },
        };
        let chunk = max_chunk.max(1) as usize;
        let chunks = |blob: Blob, bytes: &[u8]| -> Vec<Request> {
            bytes
                .chunks(chunk)
                .enumerate()
                .map(|(i, data)| Request::WriteChunk {
                    blob,
                    offset: (i * chunk) as u32,
                    data: data.to_vec(),
                })
                .collect()
        };
        let mut requests = vec![Request::BeginInstall(begin)];
        requests.extend(chunks(Blob::BlobCertificate, &self.certificate));
        requests.extend(chunks(Blob::BlobRootCa, &self.root_ca));
        requests.push(Request::Commit);
        requests
    }
}

/// AWS IoT thing names: 1 to 128 characters of `a-z A-Z 0-9 : _ -`.
pub fn validate_thing_name(name: &str) -> Result<()> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-');
    if name.is_empty() || name.len() > 128 || !name.chars().all(valid_char) {
        return Err(Error::invalid(
            "thing_name",
            "expected 1 to 128 of a-z A-Z 0-9 : _ -",
        ));
    }
    Ok(())
}

/// A DNS host name of 1 to 253 characters of `a-z A-Z 0-9 . -`.
pub fn validate_endpoint(endpoint: &str) -> Result<()> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-');
    if endpoint.is_empty() || endpoint.len() > 253 || !endpoint.chars().all(valid_char) {
        return Err(Error::invalid(
            "endpoint",
            "expected a host name of 1 to 253 characters",
        ));
    }
    Ok(())
}

/// What a device must do with its key and certificates. The device's firmware (or our
/// simulated device) implements this; [`CredentialService`] does the protocol around it.
pub trait DeviceIdentity {
    /// The key's algorithm.
    fn key_algorithm(&self) -> KeyAlgorithm;
    /// Whether the device has a key.
    fn has_key(&self) -> bool;
    /// Generates a key when there is none or `new_key` is set, and returns a PKCS#10 CSR (DER)
    /// for it with this common name. The private key stays on the device.
    fn create_csr(&mut self, common_name: &str, new_key: bool) -> Result<Vec<u8>, AwsIotStatus>;
    /// Checks that the certificate's public key is the device key (else `KeyMismatch`) and
    /// stores the whole identity atomically (else `StorageFailed`).
    fn install(&mut self, installation: &Installation) -> Result<(), AwsIotStatus>;
    /// The installed thing name and endpoint, if any.
    fn installed(&self) -> Option<(String, String)>;
    /// The device's serial number, if it has one to tell.
    fn serial_number(&self) -> String {
        String::new()
    }
    /// The device's model, if it has one to tell.
    fn model(&self) -> String {
        String::new()
    }
}

/// Limits a device advertises in `RespGetInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest chunk.
    pub max_chunk: u32,
    /// Largest blob.
    pub max_blob: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_chunk: DEFAULT_MAX_CHUNK,
            max_blob: DEFAULT_MAX_BLOB,
        }
    }
}

struct Receiving {
    begin: wire::CmdBeginInstall,
    certificate: Vec<u8>,
    root_ca: Vec<u8>,
}

/// The device's side of the `aws-iot` endpoint (sans-IO): decrypted request bytes in,
/// plaintext response bytes out.
pub struct CredentialService<I> {
    identity: I,
    limits: Limits,
    csr: Option<Vec<u8>>,
    receiving: Option<Receiving>,
}

impl<I: DeviceIdentity> CredentialService<I> {
    /// A service over `identity` with `limits`.
    pub fn new(identity: I, limits: Limits) -> Self {
        Self {
            identity,
            limits,
            csr: None,
            receiving: None,
        }
    }

    /// The identity, for inspection.
    pub fn identity(&self) -> &I {
        &self.identity
    }

    /// Answers one request. Only bytes that are not an `AwsIotPayload` command are an `Err`
    /// (answer nothing, like any protocomm handler failure); everything else gets a response,
    /// a refusal carrying its [`AwsIotStatus`].
    pub fn handle(&mut self, request: &[u8]) -> Result<Vec<u8>> {
        let (version, request) = Request::decode(request)?;
        let to = request.kind();
        let outcome = if version != PROTOCOL_VERSION {
            Err(AwsIotStatus::UnsupportedVersion)
        } else {
            self.answer(request)
        };
        Ok(match outcome {
            Ok(response) => response.encode(),
            Err(status) => Response::Refused { to, status }.encode(),
        })
    }

    fn answer(&mut self, request: Request) -> Result<Response, AwsIotStatus> {
        match request {
            Request::GetInfo => Ok(Response::Info(self.info())),
            Request::CreateCsr {
                common_name,
                new_key,
            } => self.create_csr(&common_name, new_key),
            Request::ReadCsr { offset, length } => self.read_csr(offset, length),
            Request::BeginInstall(begin) => self.begin(begin),
            Request::WriteChunk { blob, offset, data } => self.write(blob, offset, &data),
            Request::Commit => self.commit(),
            Request::Abort => {
                self.receiving = None;
                Ok(Response::Aborted)
            }
        }
    }

    fn info(&self) -> DeviceInfo {
        DeviceInfo {
            max_chunk: self.limits.max_chunk,
            max_blob: self.limits.max_blob,
            key_algorithm: self.identity.key_algorithm(),
            has_key: self.identity.has_key(),
            installed: self.identity.installed(),
            serial_number: self.identity.serial_number(),
            model: self.identity.model(),
        }
    }

    fn create_csr(&mut self, common_name: &str, new_key: bool) -> Result<Response, AwsIotStatus> {
        if self.receiving.is_some() {
            return Err(AwsIotStatus::BadSequence);
        }
        if common_name.is_empty() || common_name.len() > 64 {
            return Err(AwsIotStatus::InvalidArgument);
        }
        let csr = self.identity.create_csr(common_name, new_key)?;
        let csr_len = u32::try_from(csr.len()).map_err(|_| AwsIotStatus::InternalError)?;
        let response = Response::CsrCreated {
            csr_len,
            csr_sha256: sha256(&csr),
        };
        self.csr = Some(csr);
        Ok(response)
    }

    fn read_csr(&self, offset: u32, length: u32) -> Result<Response, AwsIotStatus> {
        let csr = self.csr.as_ref().ok_or(if self.identity.has_key() {
            AwsIotStatus::BadSequence
        } else {
            AwsIotStatus::NoKey
        })?;
        if length == 0 || length > self.limits.max_chunk {
            return Err(AwsIotStatus::InvalidArgument);
        }
        let (start, end) = (offset as usize, offset as usize + length as usize);
        let data = csr.get(start..end).ok_or(AwsIotStatus::InvalidArgument)?;
        Ok(Response::CsrChunk {
            offset,
            data: data.to_vec(),
        })
    }

    fn begin(&mut self, begin: wire::CmdBeginInstall) -> Result<Response, AwsIotStatus> {
        if !self.identity.has_key() {
            return Err(AwsIotStatus::NoKey);
        }
        let names_ok = validate_thing_name(&begin.thing_name).is_ok()
            && validate_endpoint(&begin.endpoint).is_ok();
        let digests_ok = begin.certificate_sha256.len() == 32
            && (begin.root_ca_sha256.len() == 32
                || (begin.root_ca_len == 0 && begin.root_ca_sha256.is_empty()));
        if !names_ok
            || !digests_ok
            || begin.certificate_len == 0
            || begin.port > u32::from(u16::MAX)
        {
            return Err(AwsIotStatus::InvalidArgument);
        }
        if begin.certificate_len > self.limits.max_blob || begin.root_ca_len > self.limits.max_blob
        {
            return Err(AwsIotStatus::TooLarge);
        }
        self.receiving = Some(Receiving {
            begin,
            certificate: Vec::new(),
            root_ca: Vec::new(),
        });
        Ok(Response::InstallBegun)
    }

    fn write(&mut self, blob: Blob, offset: u32, data: &[u8]) -> Result<Response, AwsIotStatus> {
        let max_chunk = self.limits.max_chunk as usize;
        let receiving = self.receiving.as_mut().ok_or(AwsIotStatus::BadSequence)?;
        let (buffer, declared) = match blob {
            Blob::BlobCertificate => (&mut receiving.certificate, receiving.begin.certificate_len),
            Blob::BlobRootCa => (&mut receiving.root_ca, receiving.begin.root_ca_len),
            Blob::BlobUnspecified => return Err(AwsIotStatus::InvalidArgument),
        };
        if data.is_empty() || data.len() > max_chunk {
            return Err(AwsIotStatus::InvalidArgument);
        }
        if offset as usize != buffer.len() {
            return Err(AwsIotStatus::BadSequence);
        }
        if buffer.len() + data.len() > declared as usize {
            return Err(AwsIotStatus::TooLarge);
        }
        buffer.extend_from_slice(data);
        Ok(Response::ChunkWritten {
            received: buffer.len() as u32,
        })
    }

    fn commit(&mut self) -> Result<Response, AwsIotStatus> {
        let receiving = self.receiving.as_ref().ok_or(AwsIotStatus::BadSequence)?;
        let begin = &receiving.begin;
        let complete = receiving.certificate.len() == begin.certificate_len as usize
            && receiving.root_ca.len() == begin.root_ca_len as usize;
        if !complete {
            return Err(AwsIotStatus::BadSequence);
        }
        let root_ok = receiving.root_ca.is_empty()
            || sha256(&receiving.root_ca)[..] == begin.root_ca_sha256[..];
        if sha256(&receiving.certificate)[..] != begin.certificate_sha256[..] || !root_ok {
            self.receiving = None;
            return Err(AwsIotStatus::DigestMismatch);
        }
        let installation = Installation {
            thing_name: begin.thing_name.clone(),
            endpoint: begin.endpoint.clone(),
            port: if begin.port == 0 {
                DEFAULT_PORT
            } else {
                begin.port as u16
            },
            certificate: receiving.certificate.clone(),
            root_ca: receiving.root_ca.clone(),
        };
        self.receiving = None;
        self.identity.install(&installation)?;
        Ok(Response::Committed)
    }
}

impl<I> std::fmt::Debug for CredentialService<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialService")
            .field("limits", &self.limits)
            .field("csr_ready", &self.csr.is_some())
            .field("receiving", &self.receiving.is_some())
            .finish()
    }
}
