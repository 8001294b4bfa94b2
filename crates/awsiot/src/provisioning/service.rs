//! The fleet provisioning service as a sans-IO machine. Certificates and ownership tokens come
//! from the caller's [`CertificateIssuer`]; registering a thing is returned as a
//! [`Registration`] for the caller to carry out.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::template::{EvaluatedTemplate, ProvisioningTemplate};
use super::wire::{
    CreateCertificateFromCsrRequest, CreateCertificateFromCsrResponse,
    CreateKeysAndCertificateResponse, ProvisioningErrorResponse, RegisterThingRequest,
    RegisterThingResponse, decode, encode,
};
use crate::topic::{Outcome, PayloadFormat, ProvisioningApi, ProvisioningTopic};
use crate::{Outgoing, TemplateName, ThingName, Timestamp, Topic};

/// How long an ownership token stays valid: one hour (reference §3).
pub const TOKEN_LIFETIME_SECS: u64 = 3600;

/// A certificate the caller's CA issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    /// The certificate's id (AWS uses the SHA-256 of the DER, hex).
    pub certificate_id: String,
    /// The certificate, PEM.
    pub certificate_pem: String,
    /// The private key, PEM, for CreateKeysAndCertificate; `None` for a CSR.
    pub private_key_pem: Option<String>,
    /// Built-in template parameters from the certificate, e.g.
    /// `AWS::IoT::Certificate::CommonName` → `"dev-42"`.
    pub subject_parameters: BTreeMap<String, String>,
}

/// What a pre-provisioning hook decided (AWS runs an optional Lambda for this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookDecision {
    /// Go on, replacing these parameters.
    Allow {
        /// Parameter values that override the device's.
        parameter_overrides: BTreeMap<String, String>,
    },
    /// Refuse with 403.
    Deny,
}

/// The caller's certificate authority and randomness. The crate signs nothing and draws no
/// random numbers itself.
pub trait CertificateIssuer {
    /// Creates a key pair and a certificate for it (CreateKeysAndCertificate).
    fn create_keys_and_certificate(
        &mut self,
    ) -> Result<IssuedCertificate, ProvisioningErrorResponse>;

    /// Signs a device's CSR (CreateCertificateFromCsr); reject a bad CSR with a 400.
    fn sign_csr(&mut self, csr_pem: &str) -> Result<IssuedCertificate, ProvisioningErrorResponse>;

    /// A fresh, unguessable certificate ownership token.
    fn ownership_token(&mut self) -> String;

    /// The pre-provisioning hook; by default every request is allowed unchanged.
    fn pre_provisioning_hook(
        &mut self,
        _template: &TemplateName,
        _parameters: &BTreeMap<String, String>,
    ) -> HookDecision {
        HookDecision::Allow {
            parameter_overrides: BTreeMap::new(),
        }
    }
}

/// A thing to register, as the template decided; the caller creates the thing, activates the
/// certificate and attaches the policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    /// The template used.
    pub template: TemplateName,
    /// The certificate being registered.
    pub certificate_id: String,
    /// The final parameters (device's, overridden by the hook, plus built-ins).
    pub parameters: BTreeMap<String, String>,
    /// The evaluated resources and device configuration.
    pub evaluated: EvaluatedTemplate,
}

/// What one provisioning request produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProvisioningOutcome {
    /// The accepted or rejected reply, for the requesting connection only.
    pub messages: Vec<Outgoing>,
    /// The certificate id, when a certificate was issued (it is PENDING_ACTIVATION until a
    /// RegisterThing activates it).
    pub issued_certificate: Option<String>,
    /// The registration to carry out, when RegisterThing was accepted.
    pub registration: Option<Registration>,
}

#[derive(Debug, Clone, PartialEq)]
struct PendingCertificate {
    certificate_id: String,
    subject_parameters: BTreeMap<String, String>,
    issued_at: Timestamp,
}

/// Provisioning templates and the ownership tokens in flight.
#[derive(Debug, Clone, Default)]
pub struct ProvisioningService {
    templates: BTreeMap<TemplateName, ProvisioningTemplate>,
    tokens: BTreeMap<String, PendingCertificate>,
}

type Rejected = ProvisioningErrorResponse;

impl ProvisioningService {
    /// A service with no templates.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a template.
    pub fn add_template(&mut self, name: TemplateName, template: ProvisioningTemplate) {
        self.templates.insert(name, template);
    }

    /// Forgets tokens older than an hour and returns their certificates, which AWS deletes
    /// when they were never registered.
    pub fn expire(&mut self, now: Timestamp) -> Vec<String> {
        let expired: Vec<String> = self
            .tokens
            .iter()
            .filter(|(_, p)| is_expired(p, now))
            .map(|(token, _)| token.clone())
            .collect();
        expired
            .iter()
            .filter_map(|t| self.tokens.remove(t))
            .map(|p| p.certificate_id)
            .collect()
    }

    /// Handles a raw publish; `None` when the topic is not a provisioning request topic.
    pub fn handle_publish<I: CertificateIssuer>(
        &mut self,
        issuer: &mut I,
        topic: &str,
        payload: &[u8],
        now: Timestamp,
    ) -> Option<ProvisioningOutcome> {
        match Topic::parse(topic).ok()? {
            Topic::Provisioning(t @ ProvisioningTopic { response: None, .. }) => {
                Some(self.handle(issuer, &t, payload, now))
            }
            _ => None,
        }
    }

    /// Answers one request published on `topic` (a request topic).
    pub fn handle<I: CertificateIssuer>(
        &mut self,
        issuer: &mut I,
        topic: &ProvisioningTopic,
        payload: &[u8],
        now: Timestamp,
    ) -> ProvisioningOutcome {
        let format = topic.format;
        let mut outcome = ProvisioningOutcome::default();
        let result = match &topic.api {
            ProvisioningApi::CreateKeysAndCertificate => {
                self.create_keys(issuer, format, now, &mut outcome)
            }
            ProvisioningApi::CreateCertificateFromCsr => {
                self.create_from_csr(issuer, format, payload, now, &mut outcome)
            }
            ProvisioningApi::RegisterThing(name) => {
                self.register(issuer, name, format, payload, now, &mut outcome)
            }
        };
        let (reply, bytes) = match result {
            Ok(bytes) => (Outcome::Accepted, bytes),
            Err(error) => (
                Outcome::Rejected,
                encode(format, &error).unwrap_or_default(),
            ),
        };
        let reply_topic = ProvisioningTopic::new(topic.api.clone(), format, Some(reply));
        outcome
            .messages
            .push(Outgoing::new(&Topic::Provisioning(reply_topic), bytes));
        outcome
    }

    fn create_keys<I: CertificateIssuer>(
        &mut self,
        issuer: &mut I,
        format: PayloadFormat,
        now: Timestamp,
        outcome: &mut ProvisioningOutcome,
    ) -> Result<Vec<u8>, Rejected> {
        let issued = issuer.create_keys_and_certificate()?;
        let private_key = issued
            .private_key_pem
            .clone()
            .ok_or_else(|| internal("the issuer returned no private key"))?;
        let token = self.remember(issuer, &issued, now);
        outcome.issued_certificate = Some(issued.certificate_id.clone());
        reply(
            format,
            &CreateKeysAndCertificateResponse {
                certificate_id: issued.certificate_id,
                certificate_pem: issued.certificate_pem,
                private_key,
                certificate_ownership_token: token,
            },
        )
    }

    fn create_from_csr<I: CertificateIssuer>(
        &mut self,
        issuer: &mut I,
        format: PayloadFormat,
        payload: &[u8],
        now: Timestamp,
        outcome: &mut ProvisioningOutcome,
    ) -> Result<Vec<u8>, Rejected> {
        let request: CreateCertificateFromCsrRequest = read(format, payload)?;
        let issued = issuer.sign_csr(&request.certificate_signing_request)?;
        let token = self.remember(issuer, &issued, now);
        outcome.issued_certificate = Some(issued.certificate_id.clone());
        reply(
            format,
            &CreateCertificateFromCsrResponse {
                certificate_ownership_token: token,
                certificate_id: issued.certificate_id,
                certificate_pem: issued.certificate_pem,
            },
        )
    }

    fn register<I: CertificateIssuer>(
        &mut self,
        issuer: &mut I,
        name: &TemplateName,
        format: PayloadFormat,
        payload: &[u8],
        now: Timestamp,
        outcome: &mut ProvisioningOutcome,
    ) -> Result<Vec<u8>, Rejected> {
        let request: RegisterThingRequest = read(format, payload)?;
        let pending = self.pending(&request.certificate_ownership_token, now)?;
        let template = self.templates.get(name).ok_or_else(|| {
            error(
                404,
                "ResourceNotFound",
                format!("Template {name} does not exist."),
            )
        })?;
        let parameters = hooked_parameters(issuer, name, request.parameters)?;
        let mut builtins = pending.subject_parameters.clone();
        builtins.insert(
            "AWS::IoT::Certificate::Id".to_owned(),
            pending.certificate_id.clone(),
        );
        let evaluated = template
            .evaluate(&parameters, &builtins)
            .map_err(|e| error(400, "InvalidParameters", e.0))?;
        if let Some(thing) = &evaluated.thing_name {
            ThingName::new(thing.as_str())
                .map_err(|e| error(400, "InvalidParameters", e.to_string()))?;
        }
        self.tokens.remove(&request.certificate_ownership_token);
        let response = RegisterThingResponse {
            device_configuration: evaluated.device_configuration.clone(),
            thing_name: evaluated.thing_name.clone(),
        };
        outcome.registration = Some(Registration {
            template: name.clone(),
            certificate_id: pending.certificate_id,
            parameters,
            evaluated,
        });
        reply(format, &response)
    }

    fn remember<I: CertificateIssuer>(
        &mut self,
        issuer: &mut I,
        issued: &IssuedCertificate,
        now: Timestamp,
    ) -> String {
        let token = issuer.ownership_token();
        let pending = PendingCertificate {
            certificate_id: issued.certificate_id.clone(),
            subject_parameters: issued.subject_parameters.clone(),
            issued_at: now,
        };
        self.tokens.insert(token.clone(), pending);
        token
    }

    fn pending(&self, token: &str, now: Timestamp) -> Result<PendingCertificate, Rejected> {
        if token.is_empty() {
            // Observed AWS output (reference §3).
            return Err(invalid_token(
                "Certificate ownership token cannot be empty.",
            ));
        }
        match self.tokens.get(token) {
            Some(p) if !is_expired(p, now) => Ok(p.clone()),
            _ => Err(invalid_token(
                "Certificate ownership token is invalid or has expired.",
            )),
        }
    }
}

fn hooked_parameters<I: CertificateIssuer>(
    issuer: &mut I,
    name: &TemplateName,
    mut parameters: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, Rejected> {
    match issuer.pre_provisioning_hook(name, &parameters) {
        HookDecision::Allow {
            parameter_overrides,
        } => {
            parameters.extend(parameter_overrides);
            Ok(parameters)
        }
        // Choice: AWS's code for a hook refusal is not in the reference.
        HookDecision::Deny => Err(error(
            403,
            "AccessDenied",
            "The pre-provisioning hook refused this device.",
        )),
    }
}

fn is_expired(pending: &PendingCertificate, now: Timestamp) -> bool {
    now >= pending.issued_at.plus_secs(TOKEN_LIFETIME_SECS)
}

fn read<T: DeserializeOwned>(format: PayloadFormat, payload: &[u8]) -> Result<T, Rejected> {
    decode(format, payload).map_err(|e| error(400, "InvalidPayload", e.to_string()))
}

fn reply<T: Serialize>(format: PayloadFormat, value: &T) -> Result<Vec<u8>, Rejected> {
    encode(format, value).map_err(|e| internal(&e.to_string()))
}

fn error(status_code: u16, error_code: &str, message: impl Into<String>) -> Rejected {
    ProvisioningErrorResponse {
        status_code,
        error_code: error_code.to_owned(),
        error_message: message.into(),
    }
}

fn invalid_token(message: &str) -> Rejected {
    error(400, "InvalidCertificateOwnershipToken", message)
}

fn internal(message: &str) -> Rejected {
    error(500, "InternalFailure", message)
}
