//! One provisioning attempt as an explicit state machine with named steps:
//!
//! connect → version and capabilities → secure session → the device's Wi-Fi scan → (the user
//! picks a network) → send the Wi-Fi config → credentials (CSR → CreateCertificateFromCsr →
//! RegisterThing → install) → apply → poll the station status → the device is online → done.
//!
//! The credentials go over *before* the Wi-Fi config is applied: a device's BLE link often
//! drops right after its station connects (the radio is shared), and the identity must be on
//! the device by then. A device without the `aws-iot` endpoint is provisioned with Wi-Fi
//! only, and the attempt says so.
//!
//! Each step reports progress, and on failure its cause and the way forward. The attempt then
//! waits: [`AttemptHandle::retry`] repeats the failed step (reconnecting and re-establishing
//! the session first when the link dropped), [`AttemptHandle::choose_network`] sends other
//! Wi-Fi credentials without starting over, [`AttemptHandle::cancel`] ends it. Every attempt
//! is recorded ([`super::audit`]), including a certificate that was issued but not delivered.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use companion_espprov::credentials::{self, DeviceInfo, Installation};
use companion_espprov::wifi::config::FailReason;
use companion_espprov::wifi::config::{
    ConfigRequest, ConfigResponse, StationStatus, WifiCredentials,
};
use companion_espprov::wifi::scan::{self, AccessPoint, ScanOptions, ScanRequest, ScanResponse};
use companion_espprov::{
    Endpoint, Passphrase, Pop, SecurityScheme, Session, Step as HandshakeStep, VerifierOrigin,
    VersionInfo,
};
use tokio::sync::{mpsc, watch};

use super::audit::{Audit, AuditResult};
use super::fleet::FleetProvisioner;
use super::transport::{Discovered, ProvLink, Radio, TransportError};
use crate::registry::{Presence, Registry};

/// The named steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// Open the link.
    Connect,
    /// Read `proto-ver`: protocol version, security scheme, capabilities.
    Version,
    /// The secure session (security 0, 1 or 2).
    Session,
    /// The device's own Wi-Fi scan.
    WifiScan,
    /// Send the chosen network's credentials.
    WifiConfig,
    /// The AWS IoT identity: CSR, certificate, registration, installation.
    Credentials,
    /// Tell the device to connect.
    WifiApply,
    /// Wait for the station to connect.
    WifiStatus,
    /// Wait for the device to reach AWS IoT.
    Online,
}

impl Step {
    /// Every step in order.
    pub const ALL: [Step; 9] = [
        Step::Connect,
        Step::Version,
        Step::Session,
        Step::WifiScan,
        Step::WifiConfig,
        Step::Credentials,
        Step::WifiApply,
        Step::WifiStatus,
        Step::Online,
    ];

    /// A stable name (audit records, the UI).
    pub fn name(self) -> &'static str {
        match self {
            Step::Connect => "connect",
            Step::Version => "version",
            Step::Session => "session",
            Step::WifiScan => "wifi_scan",
            Step::WifiConfig => "wifi_config",
            Step::Credentials => "credentials",
            Step::WifiApply => "wifi_apply",
            Step::WifiStatus => "wifi_status",
            Step::Online => "online",
        }
    }
}

/// Where a step stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepState {
    /// Not reached yet.
    Waiting,
    /// Under way.
    Running,
    /// Needs the user (a Wi-Fi network and its password).
    NeedsInput,
    /// Done; what it found.
    Passed(String),
    /// Not needed for this device; why.
    Skipped(String),
    /// Failed: why, and what to do.
    Failed(Failure),
}

/// A failed step's cause and the way forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What happened.
    pub cause: String,
    /// What to do.
    pub fix: String,
    /// Which action helps.
    pub remedy: Remedy,
}

/// The action a failure calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remedy {
    /// Retry the step.
    Retry,
    /// Enter the Wi-Fi password (or another network) again.
    ReenterWifi,
    /// Start over with another proof of possession or password.
    StartOver,
}

/// A Wi-Fi network the device saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// The SSID (lossy UTF-8).
    pub ssid: String,
    /// Signal, dBm.
    pub rssi: i32,
    /// Whether it needs a passphrase.
    pub secured: bool,
    /// The security, in words.
    pub security: String,
}

/// How an attempt ended (or that it has not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Still going (or waiting for the user).
    Running,
    /// Online with its identity.
    Online {
        /// Its thing name.
        thing: String,
    },
    /// On Wi-Fi; the device has no credential endpoint, so no identity was delivered.
    WifiOnly,
    /// Failed at a step; the attempt waits for retry, new Wi-Fi details or cancel.
    Failed(Step),
    /// The user cancelled.
    Cancelled,
}

/// Everything the UI shows about an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptView {
    /// The audit record's id.
    pub id: i64,
    /// The device.
    pub device: Discovered,
    /// Each step's state, in order.
    pub steps: Vec<(Step, StepState)>,
    /// The networks from the device's scan, strongest first.
    pub networks: Vec<Network>,
    /// How it stands.
    pub outcome: Outcome,
    /// The registered thing, once known.
    pub thing_name: Option<String>,
    /// The issued certificate, once known.
    pub certificate_id: Option<String>,
    /// The network the device said it joined (an explicit "connected" status; a device that
    /// left Bluetooth first never says).
    pub joined_ssid: Option<String>,
}

impl AttemptView {
    /// The state of `step`.
    pub fn state(&self, step: Step) -> &StepState {
        self.steps
            .iter()
            .find(|(s, _)| *s == step)
            .map_or(&StepState::Waiting, |(_, state)| state)
    }
}

/// The proof a device wants for its secure session.
#[derive(Clone, Default)]
pub struct Proof {
    /// Security 1's proof of possession (printed on the device or its QR code).
    pub pop: Option<Pop>,
    /// Security 2's username (ESP-IDF's default is `wifiprov`).
    pub username: Option<String>,
    /// Security 2's password.
    pub password: Option<companion_espprov::Password>,
    /// The scheme the user named (esp_prov's `--sec_ver`): used when the device's version
    /// answer does not say (firmware before ESP-IDF 4.x), and refused when it says another.
    pub scheme: Option<SecurityScheme>,
}

impl std::fmt::Debug for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proof")
            .field("pop", &self.pop.as_ref().map(|_| "<redacted>"))
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("scheme", &self.scheme)
            .finish()
    }
}

/// Wi-Fi credentials chosen by the user (or preset for batch mode).
#[derive(Clone)]
pub struct WifiChoice {
    /// The SSID.
    pub ssid: String,
    /// The passphrase (empty for an open network).
    pub passphrase: Passphrase,
}

impl std::fmt::Debug for WifiChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WifiChoice")
            .field("ssid", &self.ssid)
            .field("passphrase", &"<redacted>")
            .finish()
    }
}

/// Where the device's identity points: the AWS IoT data endpoint and its root CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudTarget {
    /// The endpoint host the device connects to.
    pub endpoint: String,
    /// Its MQTT port.
    pub port: u16,
    /// The root CA the device trusts, DER (empty: keep the device's built-in one).
    pub root_ca_der: Vec<u8>,
}

/// What every attempt of a provisioning run shares.
#[derive(Debug, Clone)]
pub struct Provisioning {
    /// The radio devices are found on.
    pub radio: Arc<dyn Radio>,
    /// Fleet provisioning; `None` provisions Wi-Fi only.
    pub fleet: Option<Arc<FleetProvisioner>>,
    /// Where the devices' identities point.
    pub cloud: CloudTarget,
    /// The fleet registry, to see the device come online.
    pub registry: Registry,
    /// Moves whenever the registry changes.
    pub fleet_changes: watch::Receiver<u64>,
    /// The audit trail.
    pub audit: Audit,
    /// Timeouts.
    pub timeouts: Timeouts,
}

/// How long the slow steps may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Per device exchange.
    pub exchange: Duration,
    /// For the station to connect after apply.
    pub wifi: Duration,
    /// For the device to reach the cloud.
    pub online: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            exchange: Duration::from_secs(10),
            wifi: Duration::from_secs(45),
            online: Duration::from_secs(60),
        }
    }
}

/// What the user can tell a running attempt.
#[derive(Debug)]
enum Command {
    Network(WifiChoice),
    Retry,
    Cancel,
}

/// A running attempt: follow its view, answer its questions, cancel it.
#[derive(Debug, Clone)]
pub struct AttemptHandle {
    view: watch::Receiver<AttemptView>,
    commands: mpsc::Sender<Command>,
    /// Set to stop the step in flight (a command is only read between steps).
    cancelled: Arc<watch::Sender<bool>>,
}

impl AttemptHandle {
    /// The attempt as it stands, updated at every step.
    pub fn view(&self) -> watch::Receiver<AttemptView> {
        self.view.clone()
    }

    /// Sends the network to join (also after a wrong password: the attempt resumes at the
    /// Wi-Fi config, without starting over). `false` when the attempt is not waiting for a
    /// network now (it is working, failed before the Wi-Fi step, or ended): nothing is sent, so
    /// no stale choice is picked up later.
    pub async fn choose_network(&self, choice: WifiChoice) -> bool {
        if !self.waits_for_network() {
            return false;
        }
        self.commands.send(Command::Network(choice)).await.is_ok()
    }

    /// Whether the attempt waits for a network: asking for one, or failed at or after the
    /// Wi-Fi step.
    pub fn waits_for_network(&self) -> bool {
        let view = self.view.borrow();
        view.state(Step::WifiConfig) == &StepState::NeedsInput
            || matches!(view.outcome, Outcome::Failed(step) if step >= Step::WifiConfig)
    }

    /// Repeats the failed step.
    pub async fn retry(&self) -> bool {
        self.commands.send(Command::Retry).await.is_ok()
    }

    /// Ends the attempt — also in the middle of a step: the exchange in flight is abandoned —
    /// and returns once its link is closed (so the device is free for the next attempt).
    /// `false` when it had already ended.
    pub async fn cancel(&self) -> bool {
        if self.cancelled.send(true).is_err() {
            return false;
        }
        // An attempt waiting for the user after a failure hears it as a command.
        let _ = self.commands.try_send(Command::Cancel);
        let mut view = self.view.clone();
        let _ = view
            .wait_for(|v| !matches!(v.outcome, Outcome::Running | Outcome::Failed(_)))
            .await;
        true
    }

    /// Waits until the attempt ends or waits for the user; returns the view then.
    pub async fn settled(&self) -> AttemptView {
        let mut view = self.view.clone();
        let settled = view
            .wait_for(|v| {
                !matches!(v.outcome, Outcome::Running)
                    || v.steps.iter().any(|(_, s)| *s == StepState::NeedsInput)
            })
            .await;
        match settled {
            Ok(v) => v.clone(),
            Err(_) => self.view.borrow().clone(),
        }
    }
}

impl Provisioning {
    /// Starts an attempt on `device` with `proof`; `wifi`, when given, is used without asking
    /// (batch mode). Returns at once; the attempt runs on the runtime.
    pub async fn start(
        &self,
        device: Discovered,
        proof: Proof,
        wifi: Option<WifiChoice>,
    ) -> Result<AttemptHandle, super::audit::AuditError> {
        let id = self.audit.begin(&device).await?;
        let view = AttemptView {
            id,
            device,
            steps: Step::ALL.iter().map(|s| (*s, StepState::Waiting)).collect(),
            networks: Vec::new(),
            outcome: Outcome::Running,
            thing_name: None,
            certificate_id: None,
            joined_ssid: None,
        };
        let (publish, watch_view) = watch::channel(view);
        let (commands, inbox) = mpsc::channel(8);
        let (cancelled, cancel) = watch::channel(false);
        let attempt = Attempt {
            shared: self.clone(),
            proof,
            wifi,
            publish,
            inbox,
            link: None,
            session: None,
            version: None,
            scheme: None,
            sec2_origin: VerifierOrigin::EspSrp,
            delivered: false,
            cancel: cancel.clone(),
            device_info: None,
        };
        tokio::spawn(attempt.run(cancel));
        Ok(AttemptHandle {
            view: watch_view,
            commands,
            cancelled: Arc::new(cancelled),
        })
    }
}

/// A step's error: the failure to show.
type StepResult<T> = Result<T, Failure>;

struct Attempt {
    shared: Provisioning,
    proof: Proof,
    wifi: Option<WifiChoice>,
    publish: watch::Sender<AttemptView>,
    inbox: mpsc::Receiver<Command>,
    link: Option<Box<dyn ProvLink>>,
    session: Option<Session>,
    version: Option<VersionInfo>,
    /// The scheme the session runs: the device's, or the one the user named if it does not say.
    scheme: Option<SecurityScheme>,
    /// How the device's security 2 verifier was derived, as far as this attempt knows.
    sec2_origin: VerifierOrigin,
    /// Whether this attempt's certificate reached the device (every install part accepted).
    delivered: bool,
    /// Set when the user cancels (read by the credential step before it asks for a certificate).
    cancel: watch::Receiver<bool>,
    device_info: Option<DeviceInfo>,
}

/// What to do after a step failed and the user answered.
enum Resume {
    At(Step),
    Stop,
}

impl Attempt {
    async fn run(mut self, mut cancel: watch::Receiver<bool>) {
        let mut next = Some(Step::Connect);
        while let Some(step) = next {
            self.set(step, StepState::Running);
            let done = if step == Step::Credentials {
                // Not abandoned half-way: once fleet provisioning has issued a certificate it
                // must reach the device (the step checks for a cancel before it asks).
                Some(self.step(step).await)
            } else {
                tokio::select! {
                    done = self.step(step) => Some(done),
                    _ = cancel.wait_for(|cancelled| *cancelled) => None,
                }
            };
            let Some(done) = done.filter(|_| !*cancel.borrow()) else {
                // The step's future is gone, and with it the exchange in flight.
                if self.view().state(step) == &StepState::Running {
                    self.set(
                        step,
                        StepState::Skipped("Cancelled before it finished.".into()),
                    );
                }
                self.finish(Outcome::Cancelled, AuditResult::Cancelled)
                    .await;
                return;
            };
            match done {
                Ok(state) => {
                    self.set(step, state);
                    next = self.after(step);
                }
                Err(failure) => {
                    // Starting over needs a new session: free the device now.
                    if failure.remedy == Remedy::StartOver
                        && let Some(link) = self.link.take()
                    {
                        self.session = None;
                        let _ = link.close().await;
                    }
                    self.set(step, StepState::Failed(failure));
                    self.publish
                        .send_modify(|v| v.outcome = Outcome::Failed(step));
                    self.record(AuditResult::Failed).await;
                    let resume = tokio::select! {
                        resume = self.wait_for_user(step) => resume,
                        _ = cancel.wait_for(|cancelled| *cancelled) => Resume::Stop,
                    };
                    match resume {
                        Resume::At(again) => {
                            self.publish.send_modify(|v| v.outcome = Outcome::Running);
                            next = Some(again);
                        }
                        Resume::Stop => {
                            // Given up after a failure: the audit keeps the failure.
                            self.finish(Outcome::Cancelled, AuditResult::Failed).await;
                            return;
                        }
                    }
                }
            }
        }
        let has_identity = self.view().certificate_id.is_some();
        match (has_identity, self.view().thing_name) {
            (true, Some(thing)) => {
                self.finish(Outcome::Online { thing }, AuditResult::Succeeded)
                    .await;
            }
            _ => self.finish(Outcome::WifiOnly, AuditResult::WifiOnly).await,
        }
    }

    fn after(&self, step: Step) -> Option<Step> {
        let index = Step::ALL.iter().position(|s| *s == step)?;
        Step::ALL.get(index + 1).copied()
    }

    fn view(&self) -> AttemptView {
        self.publish.borrow().clone()
    }

    fn set(&self, step: Step, state: StepState) {
        self.publish.send_modify(|view| {
            if let Some(entry) = view.steps.iter_mut().find(|(s, _)| *s == step) {
                entry.1 = state;
            }
        });
    }

    async fn record(&self, result: AuditResult) {
        if let Err(error) = self.shared.audit.update(&self.view(), result).await {
            tracing::warn!(%error, "the provisioning audit record could not be written");
        }
    }

    /// Closes the link, records the result, then publishes the outcome: whoever waits for the
    /// outcome finds the device free and the audit written.
    async fn finish(&mut self, outcome: Outcome, result: AuditResult) {
        if let Some(link) = self.link.take() {
            let _ = link.close().await;
        }
        let mut last = self.view();
        last.outcome = outcome.clone();
        if let Err(error) = self.shared.audit.update(&last, result).await {
            tracing::warn!(%error, "the provisioning audit record could not be written");
        }
        self.publish.send_modify(|v| v.outcome = outcome);
    }

    /// After a failure: waits for the user's answer and says where to resume.
    async fn wait_for_user(&mut self, failed: Step) -> Resume {
        loop {
            let Some(command) = self.inbox.recv().await else {
                return Resume::Stop;
            };
            match command {
                Command::Cancel => return Resume::Stop,
                Command::Network(choice) if failed >= Step::WifiConfig => {
                    self.wifi = Some(choice);
                    return Resume::At(self.reconnect_point(Step::WifiConfig));
                }
                Command::Network(_) => {}
                Command::Retry => return Resume::At(self.reconnect_point(failed)),
            }
        }
    }

    /// Where to resume `step`: from the link up when the link is gone (whatever the step), or
    /// when a step that needs the secure session lost it.
    fn reconnect_point(&self, step: Step) -> Step {
        // Waiting for the device in the cloud needs no link (the device has left Bluetooth).
        if step == Step::Online {
            return step;
        }
        if step > Step::Connect
            && (self.link.is_none() || (step > Step::Session && self.session.is_none()))
        {
            Step::Connect
        } else {
            step
        }
    }

    async fn step(&mut self, step: Step) -> StepResult<StepState> {
        match step {
            Step::Connect => self.connect().await,
            Step::Version => self.version().await,
            Step::Session => self.handshake().await,
            Step::WifiScan => self.scan().await,
            Step::WifiConfig => self.configure().await,
            Step::Credentials => self.credentials().await,
            Step::WifiApply => self.apply().await,
            Step::WifiStatus => self.station().await,
            Step::Online => self.online().await,
        }
    }

    // ---- steps ----------------------------------------------------------------------------

    async fn connect(&mut self) -> StepResult<StepState> {
        if let Some(link) = self.link.take() {
            let _ = link.close().await;
        }
        self.session = None;
        let device = self.view().device;
        let link = self
            .shared
            .radio
            .connect(&device.id)
            .await
            .map_err(|e| transport_failure(&e))?;
        self.link = Some(link);
        Ok(StepState::Passed(format!("Connected to {}.", device.name)))
    }

    async fn version(&mut self) -> StepResult<StepState> {
        let answer = self
            .raw(Endpoint::from_name("proto-ver"), b"---".to_vec())
            .await?;
        let version = VersionInfo::parse(&answer).map_err(|e| Failure {
            cause: format!("The device's version answer cannot be read: {e}."),
            fix: "This device may not speak ESP unified provisioning; check its firmware.".into(),
            remedy: Remedy::StartOver,
        })?;
        let scheme = version.security_scheme().map_err(|e| Failure {
            cause: format!("The device asks for a security scheme this app does not know: {e}."),
            fix: "Update the app, or provision the device with its vendor's tool.".into(),
            remedy: Remedy::StartOver,
        })?;
        let scheme = match (self.proof.scheme, version.prov.sec_ver) {
            (Some(named), Some(_)) if named != scheme => {
                return Err(Failure {
                    cause: format!(
                        "The device uses security {}, not security {} as given.",
                        scheme_number(scheme),
                        scheme_number(named)
                    ),
                    fix: format!(
                        "Start over with security {} (or without naming a scheme: the device says which).",
                        scheme_number(scheme)
                    ),
                    remedy: Remedy::StartOver,
                });
            }
            // The device does not say: the named scheme wins over the default (security 1).
            (Some(named), None) => named,
            _ => scheme,
        };
        let credential = self.offers_credentials();
        let detail = format!(
            "Protocol {}, security {}, {}.",
            version.prov.ver,
            scheme_number(scheme),
            if credential {
                "takes an AWS IoT identity"
            } else {
                "Wi-Fi only (no credential endpoint)"
            }
        );
        self.version = Some(version);
        self.scheme = Some(scheme);
        Ok(StepState::Passed(detail))
    }

    fn offers_credentials(&self) -> bool {
        self.link
            .as_ref()
            .is_some_and(|l| l.endpoints().iter().any(|e| e == credentials::APP_LABEL))
    }

    async fn handshake(&mut self) -> StepResult<StepState> {
        match self.handshake_as(self.sec2_origin).await {
            Ok(state) => Ok(state),
            Err((failure, true)) if self.esp_prov_may_differ() => {
                // The device refused the standard derivation, and for this username and
                // password esp_prov's `--sec2_gen_cred` makes another verifier (one password in
                // about 256): try that one on a new link, as the device ended its session.
                tracing::debug!("security 2 proof refused; trying esp_prov's derivation");
                self.session = None;
                if let Some(link) = self.link.take() {
                    let _ = link.close().await;
                }
                self.connect().await?;
                self.version().await?;
                match self.handshake_as(VerifierOrigin::EspProv).await {
                    Ok(_) => {
                        self.sec2_origin = VerifierOrigin::EspProv;
                        Ok(StepState::Passed(
                            "Security 2 session established (the device's verifier was made by esp_prov).".into(),
                        ))
                    }
                    // Neither derivation: the password is wrong; say so as for any device.
                    Err((_, true)) => Err(failure),
                    Err((other, false)) => Err(other),
                }
            }
            Err((failure, _)) => Err(failure),
        }
    }

    /// Whether a refused security 2 proof may be esp_prov's other derivation of the verifier.
    fn esp_prov_may_differ(&self) -> bool {
        self.scheme == Some(SecurityScheme::Sec2)
            && self.sec2_origin == VerifierOrigin::EspSrp
            && self.proof.password.as_ref().is_some_and(|password| {
                let username = self.proof.username.as_deref().unwrap_or("wifiprov");
                VerifierOrigin::differ_for(username.as_bytes(), password.expose())
            })
    }

    /// One handshake; the error says whether the device refused the proof.
    async fn handshake_as(&mut self, origin: VerifierOrigin) -> Result<StepState, (Failure, bool)> {
        let version = self
            .version
            .clone()
            .ok_or_else(|| (internal("no version yet"), false))?;
        let scheme = self
            .scheme
            .ok_or_else(|| (internal("no scheme yet"), false))?;
        let mut session = match scheme {
            SecurityScheme::Sec0 => Session::sec0(),
            SecurityScheme::Sec1 => {
                let pop = self.proof.pop.clone().unwrap_or_default();
                Session::sec1(pop, &mut rand::rng())
            }
            SecurityScheme::Sec2 => {
                let password = self.proof.password.clone().ok_or_else(|| {
                    let failure = Failure {
                        cause: "The device uses security 2 and needs its username and password."
                            .into(),
                        fix: "Enter the password printed on the device (or in its QR code) and start over."
                            .into(),
                        remedy: Remedy::StartOver,
                    };
                    (failure, false)
                })?;
                let username = self
                    .proof
                    .username
                    .clone()
                    .unwrap_or_else(|| "wifiprov".into());
                let patch = version
                    .sec2_patch()
                    .map_err(|e| (internal(&e.to_string()), false))?;
                Session::sec2_for(
                    origin,
                    username.into_bytes(),
                    password,
                    patch,
                    &mut rand::rng(),
                )
                .map_err(|e| (internal(&e.to_string()), false))?
            }
        };
        let mut request = session
            .start()
            .map_err(|e| (internal(&e.to_string()), false))?;
        let mut sent = 0;
        loop {
            let answer = self.raw(Endpoint::from_name("prov-session"), request).await;
            sent += 1;
            let answer = match answer {
                Ok(answer) => answer,
                // A device refusing the proof (its second message, after the key exchange)
                // answers with an error or drops the link; a failure before it is the link's.
                Err(failure)
                    if scheme != SecurityScheme::Sec0
                        && sent >= 2
                        && !failure.cause.contains("did not answer") =>
                {
                    return Err((wrong_proof(scheme, Some(failure.cause)), true));
                }
                Err(failure) => return Err((failure, false)),
            };
            match session.handle_response(&answer) {
                Ok(HandshakeStep::Send(next)) => request = next,
                Ok(HandshakeStep::Established) => break,
                Err(companion_espprov::Error::AuthenticationFailed) => {
                    return Err((wrong_proof(scheme, None), true));
                }
                Err(error) => {
                    let failure = Failure {
                        cause: format!("The secure session failed: {error}."),
                        fix: "Check the proof of possession or password and start over.".into(),
                        remedy: Remedy::StartOver,
                    };
                    return Err((failure, false));
                }
            }
        }
        self.session = Some(session);
        Ok(StepState::Passed(format!(
            "Security {} session established.",
            scheme_number(scheme)
        )))
    }

    async fn scan(&mut self) -> StepResult<StepState> {
        let can_scan = self
            .version
            .as_ref()
            .is_some_and(|v| v.has_capability("wifi_scan"));
        if !can_scan {
            return Ok(StepState::Skipped(
                "The device cannot scan for networks: enter the network name by hand.".into(),
            ));
        }
        let start = ScanRequest::Start(ScanOptions::ble());
        self.scan_call(&start).await?;
        let mut count = 0;
        for _ in 0..50 {
            match self.scan_call(&ScanRequest::Status).await? {
                ScanResponse::Status {
                    finished: true,
                    result_count,
                } => {
                    count = result_count;
                    break;
                }
                ScanResponse::Status { .. } => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                other => return Err(unexpected("scan status", &other)),
            }
        }
        let mut points: Vec<AccessPoint> = Vec::new();
        for page in scan::result_pages(count, scan::BLE_PAGE_SIZE) {
            match self.scan_call(&page).await? {
                ScanResponse::Results(mut found) => points.append(&mut found),
                other => return Err(unexpected("scan results", &other)),
            }
        }
        let mut networks: Vec<Network> = points.iter().map(network).collect();
        networks.sort_by(|a, b| b.rssi.cmp(&a.rssi).then_with(|| a.ssid.cmp(&b.ssid)));
        networks.dedup_by(|a, b| a.ssid == b.ssid);
        let detail = format!("{} networks in range.", networks.len());
        self.publish.send_modify(|v| v.networks = networks);
        Ok(StepState::Passed(detail))
    }

    async fn scan_call(&mut self, request: &ScanRequest) -> StepResult<ScanResponse> {
        let answer = self
            .secure(Endpoint::from_name("prov-scan"), request.encode())
            .await?;
        request
            .read_response(&answer)
            .map_err(|e| protocol("the scan", &e))
    }

    async fn configure(&mut self) -> StepResult<StepState> {
        let choice = match self.wifi.clone() {
            Some(choice) => choice,
            None => {
                self.set(Step::WifiConfig, StepState::NeedsInput);
                loop {
                    match self.inbox.recv().await {
                        Some(Command::Network(choice)) => {
                            self.set(Step::WifiConfig, StepState::Running);
                            break choice;
                        }
                        None => {
                            return Err(Failure {
                                cause: "Cancelled while choosing a network.".into(),
                                fix: "Start over when ready.".into(),
                                remedy: Remedy::StartOver,
                            });
                        }
                        // A cancel ends this step through the attempt's cancel signal.
                        Some(Command::Retry | Command::Cancel) => {}
                    }
                }
            }
        };
        self.wifi = Some(choice.clone());
        let credentials = WifiCredentials::new(choice.ssid.clone().into_bytes(), choice.passphrase)
            .map_err(|e| Failure {
                cause: format!("These Wi-Fi details cannot be sent: {e}."),
                fix:
                    "Check the network name and password (8 to 63 characters) and enter them again."
                        .into(),
                remedy: Remedy::ReenterWifi,
            })?;
        let request = ConfigRequest::SetConfig(credentials);
        match self.config_call(&request).await? {
            ConfigResponse::ConfigSet => {
                if let Err(error) = self
                    .shared
                    .audit
                    .network(self.view().id, &choice.ssid)
                    .await
                {
                    tracing::warn!(%error, "the network could not be recorded");
                }
                Ok(StepState::Passed(format!(
                    "Sent the credentials for “{}”.",
                    choice.ssid
                )))
            }
            other => Err(Failure {
                cause: format!("The device refused the Wi-Fi details ({other:?})."),
                fix: "Check the network name and password and enter them again.".into(),
                remedy: Remedy::ReenterWifi,
            }),
        }
    }

    async fn config_call(&mut self, request: &ConfigRequest) -> StepResult<ConfigResponse> {
        let answer = self
            .secure(Endpoint::from_name("prov-config"), request.encode())
            .await?;
        request
            .read_response(&answer)
            .map_err(|e| protocol("the Wi-Fi configuration", &e))
    }

    async fn credentials(&mut self) -> StepResult<StepState> {
        if !self.offers_credentials() {
            return Ok(StepState::Skipped(
                "The device does not offer the aws-iot endpoint: it gets Wi-Fi only, and needs its identity some other way."
                    .into(),
            ));
        }
        let Some(fleet) = self.shared.fleet.clone() else {
            return Ok(StepState::Skipped(
                "No fleet provisioning is set up for this profile: Wi-Fi only.".into(),
            ));
        };
        let info = match self.credential_call(&credentials::Request::GetInfo).await? {
            credentials::Response::Info(info) => info,
            other => return Err(unexpected("device info", &other)),
        };
        // Back here after a drop (a retry starts from the link): the identity this attempt
        // delivered stays; issuing another would leave the first certificate orphaned.
        let view = self.view();
        if self.delivered
            && let (Some(thing), Some(certificate)) = (&view.thing_name, &view.certificate_id)
            && info
                .installed
                .as_ref()
                .is_some_and(|(t, endpoint)| t == thing && *endpoint == self.shared.cloud.endpoint)
        {
            return Ok(StepState::Passed(format!(
                "Identity already installed earlier in this attempt: thing {thing}, certificate {}….",
                certificate.get(..12).unwrap_or(certificate)
            )));
        }
        let serial = if info.serial_number.is_empty() {
            serial_parameter(&self.view().device.name)
        } else {
            info.serial_number.clone()
        };
        let model = if info.model.is_empty() {
            "device".to_owned()
        } else {
            info.model.clone()
        };
        let common_name = serial.chars().take(64).collect();
        let (csr_len, digest) = match self
            .credential_call(&credentials::Request::CreateCsr {
                common_name,
                new_key: false,
            })
            .await?
        {
            credentials::Response::CsrCreated {
                csr_len,
                csr_sha256,
            } => (csr_len, csr_sha256),
            other => return Err(unexpected("the CSR", &other)),
        };
        let mut assembly = credentials::CsrAssembly::new(csr_len, digest);
        for request in credentials::read_csr_requests(csr_len, info.chunk_size()) {
            let answer = self.credential_call(&request).await?;
            assembly
                .push(&answer)
                .map_err(|e| protocol("the CSR", &e))?;
        }
        let csr = assembly.finish().map_err(|e| protocol("the CSR", &e))?;
        super::csr::check(&csr).map_err(|error| Failure {
            cause: format!("The device's certificate signing request is refused: {error}."),
            fix: "No certificate was issued. The device's firmware must make a key AWS IoT accepts; update it and start over."
                .into(),
            remedy: Remedy::StartOver,
        })?;
        let csr_pem = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", csr));
        if *self.cancel.borrow() {
            return Err(Failure {
                cause: "Cancelled before a certificate was issued.".into(),
                fix: "Start over when ready.".into(),
                remedy: Remedy::StartOver,
            });
        }
        let issued = fleet.issue(&csr_pem).await.map_err(cloud_failure)?;
        self.publish
            .send_modify(|v| v.certificate_id = Some(issued.certificate_id.clone()));
        self.record(AuditResult::Running).await;
        let parameters = BTreeMap::from([
            ("SerialNumber".to_owned(), serial),
            ("Model".to_owned(), model),
        ]);
        let registered = fleet
            .register(&issued.ownership_token, parameters)
            .await
            .map_err(cloud_failure)?;
        let thing = registered.thing_name.ok_or_else(|| Failure {
            cause: format!(
                "The provisioning template “{}” registered no thing.",
                fleet.template()
            ),
            fix: "Use a template with an AWS::IoT::Thing resource.".into(),
            remedy: Remedy::StartOver,
        })?;
        self.publish
            .send_modify(|v| v.thing_name = Some(thing.clone()));
        let certificate = pem_to_der(&issued.certificate_pem)
            .ok_or_else(|| internal("fleet provisioning returned a certificate that is not PEM"))?;
        let installation = Installation {
            thing_name: thing.clone(),
            endpoint: self.shared.cloud.endpoint.clone(),
            port: self.shared.cloud.port,
            certificate,
            root_ca: self.shared.cloud.root_ca_der.clone(),
        };
        installation
            .validate(info.max_blob)
            .map_err(|e| protocol("the installation", &e))?;
        // A refusal of any part ends the step with the device's reason.
        for request in installation.requests(info.chunk_size()) {
            self.credential_call(&request).await?;
        }
        self.delivered = true;
        if let Err(error) = self
            .shared
            .audit
            .delivered(self.view().id, &thing, &issued.certificate_id)
            .await
        {
            tracing::warn!(%error, "the delivered certificate could not be recorded");
        }
        self.device_info = Some(info);
        Ok(StepState::Passed(format!(
            "Identity installed: thing {thing}, certificate {}….",
            &issued.certificate_id[..issued.certificate_id.len().min(12)]
        )))
    }

    async fn credential_call(
        &mut self,
        request: &credentials::Request,
    ) -> StepResult<credentials::Response> {
        let answer = self
            .secure(
                Endpoint::from_name(credentials::APP_LABEL),
                request.encode(),
            )
            .await?;
        let response = request
            .read_response(&answer)
            .map_err(|e| protocol("the credential endpoint", &e))?;
        if let credentials::Response::Refused { to, status } = &response {
            return Err(Failure {
                cause: format!("The device refused {to:?}: {status:?}."),
                fix: "Retry the step; if it persists, reset the device and start over.".into(),
                remedy: Remedy::Retry,
            });
        }
        Ok(response)
    }

    async fn apply(&mut self) -> StepResult<StepState> {
        match self.config_call(&ConfigRequest::ApplyConfig).await? {
            ConfigResponse::ConfigApplied => Ok(StepState::Passed(
                "The device is joining the network.".into(),
            )),
            other => Err(unexpected("apply", &other)),
        }
    }

    async fn station(&mut self) -> StepResult<StepState> {
        let deadline = tokio::time::Instant::now() + self.shared.timeouts.wifi;
        loop {
            let status = match self.config_call(&ConfigRequest::GetStatus).await {
                Ok(status) => status,
                // The link often drops once the station connects: the cloud decides next.
                Err(_) if self.link.is_none() => {
                    return Ok(StepState::Passed(
                        "The device left Bluetooth, as devices do once their Wi-Fi connects."
                            .into(),
                    ));
                }
                Err(failure) => return Err(failure),
            };
            match status {
                ConfigResponse::Status(StationStatus::Connected(info)) => {
                    let joined = self.wifi.as_ref().map(|w| w.ssid.clone());
                    self.publish.send_modify(|v| v.joined_ssid = joined);
                    return Ok(StepState::Passed(format!(
                        "Connected to the network with address {}.",
                        info.ip4_addr
                    )));
                }
                ConfigResponse::Status(StationStatus::Failed(reason)) => {
                    return Err(wifi_failure(reason, self.wifi.as_ref()));
                }
                ConfigResponse::Status(_) => {}
                other => return Err(unexpected("station status", &other)),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Failure {
                    cause: format!(
                        "The device did not connect to the network within {} s.",
                        self.shared.timeouts.wifi.as_secs()
                    ),
                    fix: "Move the device closer to the access point and retry.".into(),
                    remedy: Remedy::Retry,
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn online(&mut self) -> StepResult<StepState> {
        let Some(thing) = self.view().thing_name else {
            return Ok(StepState::Skipped(
                "No identity was delivered, so the app cannot see the device in the cloud.".into(),
            ));
        };
        let mut changes = self.shared.fleet_changes.clone();
        let wait = async {
            loop {
                if let Ok(Some(found)) = self.shared.registry.get(&thing).await
                    && found.presence == Presence::Online
                {
                    return;
                }
                if changes.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(self.shared.timeouts.online, wait)
            .await
            .map_err(|_| Failure {
                cause: format!(
                    "{thing} did not connect to AWS IoT within {} s.",
                    self.shared.timeouts.online.as_secs()
                ),
                fix: "Check that the network reaches the internet (port 8883) and that the certificate's policy allows connecting; then retry."
                    .into(),
                remedy: Remedy::Retry,
            })?;
        if let Some(link) = self.link.take() {
            let _ = link.close().await;
        }
        Ok(StepState::Passed(format!("{thing} is online.")))
    }

    // ---- exchanges --------------------------------------------------------------------------

    /// A plaintext exchange; a dropped link forgets the link and the session.
    async fn raw(&mut self, endpoint: Endpoint, request: Vec<u8>) -> StepResult<Vec<u8>> {
        let link = self.link.as_ref().ok_or_else(|| Failure {
            cause: "The link to the device is closed.".into(),
            fix: "Retry: the app connects again.".into(),
            remedy: Remedy::Retry,
        })?;
        let exchange = link.exchange(endpoint.name(), request);
        let answer = match tokio::time::timeout(self.shared.timeouts.exchange, exchange).await {
            Ok(answer) => answer,
            Err(_) => Err(TransportError::Timeout {
                what: endpoint.name().to_owned(),
                after: self.shared.timeouts.exchange,
            }),
        };
        answer.map_err(|error| {
            if matches!(
                error,
                TransportError::Disconnected(_)
                    | TransportError::NotFound(_)
                    | TransportError::Timeout { .. }
            ) {
                // A timed-out link is closed by the transport: a retry reconnects.
                self.link = None;
                self.session = None;
            }
            transport_failure(&error)
        })
    }

    /// An exchange through the secure session.
    async fn secure(&mut self, endpoint: Endpoint, request: Vec<u8>) -> StepResult<Vec<u8>> {
        let session = self.session.as_mut().ok_or_else(|| Failure {
            cause: "The secure session is gone (the link dropped).".into(),
            fix: "Retry: the app connects and sets up the session again.".into(),
            remedy: Remedy::Retry,
        })?;
        let sealed = session
            .encrypt(&request)
            .map_err(|e| internal(&e.to_string()))?;
        let answer = self.raw(endpoint, sealed).await?;
        let session = self
            .session
            .as_mut()
            .ok_or_else(|| internal("session lost"))?;
        session.decrypt(&answer).map_err(|e| Failure {
            cause: format!("The device's answer cannot be decrypted: {e}."),
            fix: "The session is out of step; retry to set it up again.".into(),
            remedy: Remedy::Retry,
        })
    }
}

fn network(point: &AccessPoint) -> Network {
    let secured = !point.auth.is_open();
    Network {
        ssid: String::from_utf8_lossy(&point.ssid).into_owned(),
        rssi: point.rssi,
        secured,
        security: point.auth.known().map_or_else(
            || format!("security mode {}", point.auth.0),
            |mode| auth_label(mode).to_owned(),
        ),
    }
}

fn auth_label(mode: companion_espprov::proto::wifi_constants::WifiAuthMode) -> &'static str {
    use companion_espprov::proto::wifi_constants::WifiAuthMode;
    match mode {
        WifiAuthMode::Open => "open",
        WifiAuthMode::Wep => "WEP",
        WifiAuthMode::WpaPsk => "WPA",
        WifiAuthMode::Wpa2Psk => "WPA2",
        WifiAuthMode::WpaWpa2Psk => "WPA/WPA2",
        WifiAuthMode::Wpa2Enterprise => "WPA2-Enterprise",
        WifiAuthMode::Wpa3Psk => "WPA3",
        WifiAuthMode::Wpa2Wpa3Psk => "WPA2/WPA3",
    }
}

fn scheme_number(scheme: SecurityScheme) -> u8 {
    match scheme {
        SecurityScheme::Sec0 => 0,
        SecurityScheme::Sec1 => 1,
        SecurityScheme::Sec2 => 2,
    }
}

/// The template's serial parameter: the advertised name without the `PROV_` prefix.
fn serial_parameter(name: &str) -> String {
    name.strip_prefix("PROV_").unwrap_or(name).to_owned()
}

fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    pem::parse(pem).ok().map(pem::Pem::into_contents)
}

fn wrong_proof(scheme: SecurityScheme, detail: Option<String>) -> Failure {
    let what = match scheme {
        SecurityScheme::Sec2 => "username and password",
        _ => "proof of possession",
    };
    Failure {
        cause: format!(
            "The device rejected the {what}{}.",
            detail.map(|d| format!(" ({d})")).unwrap_or_default()
        ),
        fix: format!("Check the {what} printed on the device or its QR code, and start over."),
        remedy: Remedy::StartOver,
    }
}

fn wifi_failure(reason: FailReason, choice: Option<&WifiChoice>) -> Failure {
    let ssid = choice.map(|c| c.ssid.as_str()).unwrap_or("the network");
    match reason {
        FailReason::AuthError => Failure {
            cause: format!("The Wi-Fi password for “{ssid}” is wrong."),
            fix: "Enter the password again.".into(),
            remedy: Remedy::ReenterWifi,
        },
        FailReason::NetworkNotFound => Failure {
            cause: format!("The device cannot find “{ssid}”."),
            fix: "Check the name, move the device closer to the access point, or choose another network."
                .into(),
            remedy: Remedy::ReenterWifi,
        },
        FailReason::Unknown => Failure {
            cause: format!("The device could not join “{ssid}” and did not say why."),
            fix: "Retry, or choose another network.".into(),
            remedy: Remedy::ReenterWifi,
        },
    }
}

/// `text` ending with one full stop (AWS's and the transports' messages often bring their own).
fn full_stop(text: &str) -> String {
    let trimmed = text.trim_end();
    if trimmed.ends_with(['.', '!', '?']) {
        trimmed.to_owned()
    } else {
        format!("{trimmed}.")
    }
}

fn transport_failure(error: &TransportError) -> Failure {
    let remedy = match error {
        TransportError::NoRadio(_) | TransportError::PermissionDenied(_) => Remedy::StartOver,
        _ => Remedy::Retry,
    };
    let mut cause = error.to_string();
    if let Some(first) = cause.get(..1) {
        cause = first.to_uppercase() + &cause[1..];
    }
    Failure {
        cause: full_stop(&cause),
        fix: "Retry; the app reconnects first if the link dropped.".into(),
        remedy,
    }
}

fn cloud_failure(error: super::fleet::FleetError) -> Failure {
    Failure {
        cause: full_stop(&format!("Fleet provisioning failed: {error}")),
        fix: "Check the connection to AWS IoT and the provisioning template, then retry.".into(),
        remedy: Remedy::Retry,
    }
}

fn protocol(what: &str, error: &companion_espprov::Error) -> Failure {
    Failure {
        cause: full_stop(&format!(
            "The device's answer to {what} cannot be read: {error}"
        )),
        fix: "Retry; if it persists, the device's firmware does not follow the protocol.".into(),
        remedy: Remedy::Retry,
    }
}

fn unexpected(what: &str, answer: &impl std::fmt::Debug) -> Failure {
    Failure {
        cause: format!("The device answered {what} unexpectedly: {answer:?}."),
        fix: "Retry the step.".into(),
        remedy: Remedy::Retry,
    }
}

fn internal(what: &str) -> Failure {
    Failure {
        cause: format!("An internal error: {what}."),
        fix: "Start over; if it persists, report it.".into(),
        remedy: Remedy::StartOver,
    }
}
