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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio::time::Instant;

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
    /// The session is not connected (nothing was sent, so nothing can be replayed later).
    #[error("the provisioning connection is not up: {0}")]
    NotConnected(String),
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
    link: Mutex<Option<Arc<Link>>>,
    /// Where to connect at the first call, when no session was given.
    spec: Option<ConnectSpec>,
    /// Set by [`FleetProvisioner::shutdown`]: no call connects again.
    closed: AtomicBool,
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

    fn take_task(&self) -> Option<JoinHandle<ConnectionState>> {
        self.task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Waits until the session is connected, at the latest by `deadline`.
    async fn connected(&self, deadline: Instant) -> Result<(), FleetError> {
        let mut state = self.session.state();
        loop {
            let waiting_for = match &*state.borrow_and_update() {
                ConnectionState::Connected { .. } => return Ok(()),
                ConnectionState::Disconnected { cause } => {
                    return Err(FleetError::NotConnected(
                        cause
                            .as_ref()
                            .map_or_else(|| "it was closed".to_owned(), ToString::to_string),
                    ));
                }
                ConnectionState::Reconnecting { cause, .. } => cause.to_string(),
                ConnectionState::Connecting => "still connecting".to_owned(),
            };
            match tokio::time::timeout_at(deadline, state.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(FleetError::Closed),
                Err(_) => return Err(FleetError::NotConnected(waiting_for)),
            }
        }
    }
}

impl FleetProvisioner {
    /// A client over `session` (used for nothing else: its messages are read here) that
    /// registers things with `template`.
    pub fn new(session: SessionHandle, template: TemplateName) -> Self {
        Self {
            link: Mutex::new(Some(Arc::new(Link::new(session, None)))),
            spec: None,
            closed: AtomicBool::new(false),
            template,
        }
    }

    /// A client that connects with `spec` at its first call, and again at a later call if
    /// that session has ended for good.
    pub fn connecting(spec: ConnectSpec, template: TemplateName) -> Self {
        Self {
            link: Mutex::new(None),
            spec: Some(spec),
            closed: AtomicBool::new(false),
            template,
        }
    }

    /// Whether it holds a session (a connecting client has none before its first call).
    pub async fn is_connected(&self) -> bool {
        self.link.lock().await.is_some()
    }

    /// Ends the provisioning session, if there is one.
    pub fn disconnect(&self) {
        if let Ok(held) = self.link.try_lock()
            && let Some(link) = held.as_ref()
        {
            link.session.disconnect();
        }
    }

    /// Ends the provisioning session for good (later calls fail with
    /// [`FleetError::Closed`]) and waits for the loop this client started.
    pub async fn shutdown(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let link = self.link.lock().await.take();
        if let Some(link) = link {
            link.session.disconnect();
            if let Some(task) = link.take_task() {
                let _ = task.await;
            }
        }
    }

    /// The session, opening one if this client connects by itself and has none that lives.
    async fn link(&self) -> Result<Arc<Link>, FleetError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(FleetError::Closed);
        }
        let mut held = self.link.lock().await;
        if let Some(link) = held.as_ref() {
            let ended = matches!(
                link.session.current_state(),
                ConnectionState::Disconnected { .. }
            );
            if !ended || self.spec.is_none() {
                return Ok(link.clone());
            }
        }
        let spec = self.spec.clone().ok_or(FleetError::Closed)?;
        let (session, session_loop) = Session::connect(spec, SessionOptions::default())?;
        let link = Arc::new(Link::new(session, Some(tokio::spawn(session_loop.run()))));
        *held = Some(link.clone());
        Ok(link)
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
        // One deadline for the whole call. Nothing is sent before the session is up, so a
        // request that timed out is never replayed by a later reconnect.
        let deadline = Instant::now() + CALL_TIMEOUT;
        let link = self.link().await?;
        link.connected(deadline).await?;
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
        tokio::time::timeout_at(deadline, async {
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
        assert!(
            !fleet.is_connected().await,
            "no connection before a device asks"
        );

        let key = rcgen::KeyPair::generate().expect("a key");
        let csr = rcgen::CertificateParams::new(vec!["device".to_owned()])
            .expect("params")
            .serialize_request(&key)
            .expect("a CSR")
            .pem()
            .expect("PEM");
        let issued = fleet.issue(&csr).await.expect("a certificate");
        assert!(fleet.is_connected().await);
        assert_eq!(issued.certificate_id.len(), 64);
        fleet.shutdown().await;
        assert!(
            matches!(fleet.issue(&csr).await, Err(FleetError::Closed)),
            "a shut-down client never connects again"
        );
        sandbox.shutdown().await;
    }
}
