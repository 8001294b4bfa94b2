//! AWS IoT fleet provisioning from the app's side: a device's CSR becomes a certificate
//! (CreateCertificateFromCsr) and the certificate a registered thing (RegisterThing with a
//! template), over an MQTT session with the app's provisioning credentials.
//!
//! The provisioning APIs carry no correlation token, so the client runs one call at a time
//! and takes the first accepted/rejected reply of that call's topics.

use std::collections::BTreeMap;
use std::time::Duration;

use companion_awsiot::TemplateName;
use companion_awsiot::provisioning::wire::{
    self, CreateCertificateFromCsrRequest, CreateCertificateFromCsrResponse,
    ProvisioningErrorResponse, RegisterThingRequest, RegisterThingResponse,
};
use companion_awsiot::topic::{Outcome, PayloadFormat, ProvisioningApi, ProvisioningTopic};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;

use crate::session::{Messages, QoS, SessionError, SessionHandle};

/// How long a provisioning call waits for its reply.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a fleet provisioning call failed.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// AWS refused the call.
    #[error("fleet provisioning refused {call} ({status} {code}): {message}")]
    Rejected {
        /// Which call.
        call: &'static str,
        /// HTTP-like status.
        status: u16,
        /// AWS's error code.
        code: String,
        /// AWS's message.
        message: String,
    },
    /// No reply in time.
    #[error(
        "fleet provisioning did not answer {0} within {CALL_TIMEOUT:?}: check the connection and that the provisioning credentials' policy allows the call"
    )]
    Timeout(&'static str),
    /// The session failed.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// A reply could not be read.
    #[error("fleet provisioning sent an unreadable reply to {call}: {detail}")]
    Malformed {
        /// Which call.
        call: &'static str,
        /// Why.
        detail: String,
    },
    /// The session ended.
    #[error("the provisioning connection closed")]
    Closed,
}

/// A certificate issued for a device's CSR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// AWS's certificate id.
    pub certificate_id: String,
    /// The certificate, PEM.
    pub certificate_pem: String,
    /// Proves ownership in RegisterThing (one hour).
    pub ownership_token: String,
}

/// A fleet provisioning client over one session, whose messages it consumes.
#[derive(Debug)]
pub struct FleetProvisioner {
    session: SessionHandle,
    messages: Mutex<Messages>,
    template: TemplateName,
}

impl FleetProvisioner {
    /// A client over `session` (used for nothing else: its messages are read here) that
    /// registers things with `template`.
    pub fn new(session: SessionHandle, template: TemplateName) -> Self {
        Self {
            messages: Mutex::new(session.messages()),
            session,
            template,
        }
    }

    /// Ends the provisioning session.
    pub fn disconnect(&self) {
        self.session.disconnect();
    }

    /// The template things are registered with.
    pub fn template(&self) -> &TemplateName {
        &self.template
    }

    /// CreateCertificateFromCsr: a certificate for `csr_pem`.
    pub async fn issue(&self, csr_pem: &str) -> Result<Issued, FleetError> {
        let request = CreateCertificateFromCsrRequest {
            certificate_signing_request: csr_pem.to_owned(),
        };
        let response: CreateCertificateFromCsrResponse = self
            .call(
                "CreateCertificateFromCsr",
                ProvisioningApi::CreateCertificateFromCsr,
                &request,
            )
            .await?;
        Ok(Issued {
            certificate_id: response.certificate_id,
            certificate_pem: response.certificate_pem,
            ownership_token: response.certificate_ownership_token,
        })
    }

    /// RegisterThing with the template and `parameters`.
    pub async fn register(
        &self,
        ownership_token: &str,
        parameters: BTreeMap<String, String>,
    ) -> Result<RegisterThingResponse, FleetError> {
        let request = RegisterThingRequest {
            certificate_ownership_token: ownership_token.to_owned(),
            parameters,
        };
        self.call(
            "RegisterThing",
            ProvisioningApi::RegisterThing(self.template.clone()),
            &request,
        )
        .await
    }

    async fn call<Q: Serialize, R: DeserializeOwned>(
        &self,
        call: &'static str,
        api: ProvisioningApi,
        request: &Q,
    ) -> Result<R, FleetError> {
        let format = PayloadFormat::Json;
        let topic = |outcome| ProvisioningTopic::new(api.clone(), format, outcome).to_string();
        let (accepted, rejected) = (
            topic(Some(Outcome::Accepted)),
            topic(Some(Outcome::Rejected)),
        );
        // One call at a time: replies carry no token.
        let messages = self.messages.lock().await;
        while messages.try_recv().is_some() {}
        self.session
            .subscribe_many(vec![
                (accepted.clone(), QoS::AtLeastOnce),
                (rejected.clone(), QoS::AtLeastOnce),
            ])
            .await?;
        let payload = wire::encode(format, request).map_err(|e| FleetError::Malformed {
            call,
            detail: e.to_string(),
        })?;
        self.session
            .publish(topic(None), payload, QoS::AtLeastOnce, false)
            .await?;
        tokio::time::timeout(CALL_TIMEOUT, async {
            loop {
                let Some(message) = messages.recv().await else {
                    return Err(FleetError::Closed);
                };
                if message.topic == accepted {
                    return wire::decode::<R>(format, &message.payload).map_err(|e| {
                        FleetError::Malformed {
                            call,
                            detail: e.to_string(),
                        }
                    });
                }
                if message.topic == rejected {
                    let error: ProvisioningErrorResponse = wire::decode(format, &message.payload)
                        .map_err(|e| FleetError::Malformed {
                        call,
                        detail: e.to_string(),
                    })?;
                    return Err(FleetError::Rejected {
                        call,
                        status: error.status_code,
                        code: error.error_code,
                        message: error.error_message,
                    });
                }
            }
        })
        .await
        .map_err(|_| FleetError::Timeout(call))?
    }
}
