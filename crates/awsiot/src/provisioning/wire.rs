//! Fleet provisioning payloads, and their JSON and CBOR encodings.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::topic::PayloadFormat;

/// Reply to `$aws/certificates/create/{fmt}` (CreateKeysAndCertificate; the request is empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateKeysAndCertificateResponse {
    /// The new certificate's id.
    pub certificate_id: String,
    /// The certificate, PEM.
    pub certificate_pem: String,
    /// The new private key, PEM (the only time it is ever sent).
    pub private_key: String,
    /// Proves ownership of the certificate in RegisterThing; valid for one hour.
    pub certificate_ownership_token: String,
}

/// Request on `$aws/certificates/create-from-csr/{fmt}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateCertificateFromCsrRequest {
    /// The device's certificate signing request, PEM.
    pub certificate_signing_request: String,
}

/// Reply to CreateCertificateFromCsr.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateCertificateFromCsrResponse {
    /// Proves ownership of the certificate in RegisterThing; valid for one hour.
    pub certificate_ownership_token: String,
    /// The new certificate's id.
    pub certificate_id: String,
    /// The certificate, PEM.
    pub certificate_pem: String,
}

/// Request on `$aws/provisioning-templates/{name}/provision/{fmt}` (RegisterThing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterThingRequest {
    /// The token from one of the two certificate calls.
    pub certificate_ownership_token: String,
    /// Template parameters, strings only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
}

/// Reply to RegisterThing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterThingResponse {
    /// The template's DeviceConfiguration, evaluated (flat, no nested objects).
    #[serde(default)]
    pub device_configuration: BTreeMap<String, String>,
    /// The registered thing, when the template has a thing resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_name: Option<String>,
}

/// The `rejected` payload of all three calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningErrorResponse {
    /// HTTP-like status, e.g. 400, 403, 404, 500.
    pub status_code: u16,
    /// A code such as `InvalidCertificateOwnershipToken`.
    pub error_code: String,
    /// A sentence.
    pub error_message: String,
}

/// Encodes a payload in the topic's format (JSON, or a CBOR map with text keys).
pub fn encode<T: Serialize>(format: PayloadFormat, value: &T) -> Result<Vec<u8>, Error> {
    match format {
        PayloadFormat::Json => serde_json::to_vec(value).map_err(|e| encode_error(e.to_string())),
        PayloadFormat::Cbor => {
            let mut out = Vec::new();
            ciborium::into_writer(value, &mut out).map_err(|e| encode_error(e.to_string()))?;
            Ok(out)
        }
    }
}

/// Decodes a payload in the topic's format.
pub fn decode<T: DeserializeOwned>(format: PayloadFormat, payload: &[u8]) -> Result<T, Error> {
    let detail = |e: String| Error::MalformedPayload {
        what: "fleet provisioning",
        detail: e,
    };
    match format {
        PayloadFormat::Json => serde_json::from_slice(payload).map_err(|e| detail(e.to_string())),
        PayloadFormat::Cbor => ciborium::from_reader(payload).map_err(|e| detail(e.to_string())),
    }
}

fn encode_error(detail: String) -> Error {
    Error::Encode {
        what: "fleet provisioning payload",
        detail,
    }
}
