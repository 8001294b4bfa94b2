//! Fleet provisioning by claim (reference §3): the MQTT messages in JSON and CBOR, provisioning
//! template evaluation, and a sans-IO service that issues certificates through a caller-supplied
//! [`CertificateIssuer`] and registers things.
//!
//! AWS answers these calls only to the requesting connection (presumably, reference §3 [?]), so
//! the [`crate::Outgoing`] messages are meant for the requester alone.

mod service;
mod template;
pub mod wire;

pub use service::{
    CertificateIssuer, HookDecision, IssuedCertificate, ProvisioningOutcome, ProvisioningService,
    Registration, TOKEN_LIFETIME_SECS,
};
pub use template::{EvaluatedTemplate, ProvisioningTemplate, TemplateError};
pub use wire::{
    CreateCertificateFromCsrRequest, CreateCertificateFromCsrResponse,
    CreateKeysAndCertificateResponse, ProvisioningErrorResponse, RegisterThingRequest,
    RegisterThingResponse, decode, encode,
};
