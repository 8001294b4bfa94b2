//! AWS IoT fleet provisioning from the app's side: a device's CSR becomes a certificate
//! (CreateCertificateFromCsr) and the certificate a registered thing (RegisterThing with a
//! template), over an MQTT session with the app's provisioning credentials.
//!
//! The provisioning APIs carry no correlation token, so the client runs one call at a time
//! and takes the first accepted/rejected reply of that call's topics.
//!
//! The session is either given ([`FleetProvisioner::new`]) or opened at the first call
//! ([`FleetProvisioner::connecting`]): an app on an AWS IoT profile does not hold a second
//! connection — which the account's policy may refuse — until a device actually asks for an
//! identity.

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
use tokio::sync::{Mutex, OnceCell};
use tokio::task::JoinHandle;

use crate::profile::ConnectSpec;
use crate::session::{
    ConnectionState, Messages, QoS, Session, SessionError, SessionHandle, SessionOptions,
};

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
    link: OnceCell<Link>,
    /// Where to connect at the first call, when no session was given.
    spec: Option<ConnectSpec>,
    template: TemplateName,
}

/// The session and its messages (and its loop, when this client started it).
#[derive(Debug)]
struct Link {
    session: SessionHandle,
    messages: Mutex<Messages>,
    task: std::sync::Mutex<Option<JoinHandle<ConnectionState>>>,
}

impl Link {
    fn new(session: SessionHandle, task: Option<JoinHandle<ConnectionState>>) -> Self {
        Self {
            messages: Mutex::new(session.messages()),
            session,
            task: std::sync::Mutex::new(task),
        }
    }
}

impl FleetProvisioner {
    /// A client over `session` (used for nothing else: its messages are read here) that
    /// registers things with `template`.
    pub fn new(session: SessionHandle, template: TemplateName) -> Self {
        Self {
            link: OnceCell::from(Link::new(session, None)),
            spec: None,
            template,
        }
    }

    /// A client that connects with `spec` at its first call, and keeps that session.
    pub fn connecting(spec: ConnectSpec, template: TemplateName) -> Self {
        Self {
            link: OnceCell::new(),
            spec: Some(spec),
            template,
        }
    }

    /// Whether its session is open (a connecting client has none before its first call).
    pub fn is_connected(&self) -> bool {
        self.link.initialized()
    }

    /// Ends the provisioning session, if there is one.
    pub fn disconnect(&self) {
        if let Some(link) = self.link.get() {
            link.session.disconnect();
        }
    }

    /// Ends the provisioning session and waits for the loop this client started.
    pub async fn shutdown(&self) {
        self.disconnect();
        let task = self.link.get().and_then(|link| {
            link.task
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
        });
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    async fn link(&self) -> Result<&Link, FleetError> {
        self.link
            .get_or_try_init(|| async {
                let spec = self.spec.clone().ok_or(FleetError::Closed)?;
                let (session, session_loop) = Session::connect(spec, SessionOptions::default())?;
                let task = tokio::spawn(session_loop.run());
                Ok(Link::new(session, Some(task)))
            })
            .await
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
        let link = self.link().await?;
        // One call at a time: replies carry no token.
        let messages = link.messages.lock().await;
        while messages.try_recv().is_some() {}
        link.session
            .subscribe_many(vec![
                (accepted.clone(), QoS::AtLeastOnce),
                (rejected.clone(), QoS::AtLeastOnce),
            ])
            .await?;
        let payload = wire::encode(format, request).map_err(|e| FleetError::Malformed {
            call,
            detail: e.to_string(),
        })?;
        link.session
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

#[cfg(all(test, feature = "local-sandbox"))]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn a_connecting_client_opens_its_session_at_the_first_call_only() {
        let dir = companion_testkit::TempDir::new("fleet-connecting");
        let sandbox =
            companion_sandbox::Sandbox::start(companion_sandbox::SandboxConfig::new(dir.path()))
                .await
                .expect("a sandbox");
        let plain = sandbox.plain_endpoint();
        let template = TemplateName::new("companion-default").expect("a template name");
        let fleet = FleetProvisioner::connecting(
            ConnectSpec::plain(plain.host, plain.port, "fleet-connecting-test"),
            template,
        );
        assert!(!fleet.is_connected(), "no connection before a device asks");

        let key = rcgen::KeyPair::generate().expect("a key");
        let csr = rcgen::CertificateParams::new(vec!["device".to_owned()])
            .expect("params")
            .serialize_request(&key)
            .expect("a CSR")
            .pem()
            .expect("PEM");
        let issued = fleet.issue(&csr).await.expect("a certificate");
        assert!(fleet.is_connected());
        assert_eq!(issued.certificate_id.len(), 64);
        fleet.shutdown().await;
        sandbox.shutdown().await;
    }
}
