//! A provisionable simulated device: ESP-IDF's Wi-Fi provisioning manager as our simulated
//! firmware runs it, built from `companion-espprov`'s device role.
//!
//! Endpoints: `prov-ctrl`, `prov-scan`, `prov-session`, `prov-config`, `proto-ver` and, unless
//! the device is a plain ESP-IDF one, our `aws-iot` credential endpoint. The station follows
//! `wifi_prov_mgr`: `CmdSetConfig` stores credentials, `CmdApplyConfig` starts a join (refused
//! once credentials were applied, until a failure is reset), `CmdGetStatus` reports
//! Connecting, then Connected or ConnectionFailed with `AuthError` / `NetworkNotFound`.
//!
//! Once the station is connected and an identity is installed, the device comes online: its
//! firmware ([`crate::devices::Firmware`] of its kind) connects to the installed endpoint over
//! mutual TLS with the installed certificate and its thing name as client id.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use companion_awsiot::ThingName;
use companion_espprov::credentials::{self, CredentialService, Limits};
use companion_espprov::endpoint::{
    AWS_IOT, PROTO_VER, PROV_CONFIG, PROV_CTRL, PROV_SCAN, PROV_SESSION,
};
use companion_espprov::proto::Status;
use companion_espprov::proto::wifi_constants::WifiAuthMode;
use companion_espprov::version::{AppInfo, capability};
use companion_espprov::wifi::config::{
    ConfigKind, ConfigRequest, ConfigResponse, ConnectedInfo, FailReason, StationStatus,
    WifiCredentials,
};
use companion_espprov::wifi::ctrl::{CtrlRequest, CtrlResponse};
use companion_espprov::wifi::scan::{AccessPoint, ScanKind, ScanRequest, ScanResponse};
use companion_espprov::{DeviceSecurity, DeviceSession, Sec2Credentials, Secret, VerifierOrigin};
use rand::rngs::StdRng;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::identity::{SimIdentity, UsableIdentity};
use super::link::{DropPoint, DropRule, LinkError, LinkShared};
use super::spec::{
    CloudState, DeviceLabel, DeviceSpec, DeviceStatus, FailureRecovery, HandlerFailure,
    IdentityStatus, LinkDropOnJoin, MAX_SCAN_RESULTS, Network, SecuritySpec, WifiStatus,
};
use crate::ca::certificate_id;
use crate::connect::{Endpoint, TlsIdentity};
use crate::devices::{DriverOptions, Firmware, FleetMember, SimulatedDevice};

/// What an exchange produced on the device.
pub(crate) struct Handled {
    pub(crate) outcome: Outcome,
    /// Device time before the answer can be read (a blocking Wi-Fi scan).
    pub(crate) delay: Duration,
    /// Drop the link once this answer has been read.
    pub(crate) drop_after: Option<String>,
}

pub(crate) enum Outcome {
    Answer(Vec<u8>),
    Refused(LinkError),
    Dropped(String),
}

impl Handled {
    fn answer(bytes: Vec<u8>) -> Self {
        Self {
            outcome: Outcome::Answer(bytes),
            delay: Duration::ZERO,
            drop_after: None,
        }
    }
}

/// The device's answer to a decrypted request.
struct Reply {
    bytes: Vec<u8>,
    delay: Duration,
    drop_after: Option<String>,
}

impl Reply {
    fn now(bytes: Vec<u8>) -> Self {
        Self {
            bytes,
            delay: Duration::ZERO,
            drop_after: None,
        }
    }
}

enum Sta {
    Disconnected,
    Connecting {
        ssid: String,
        outcome: Result<ConnectedInfo, FailReason>,
    },
    Connected {
        ssid: String,
        info: ConnectedInfo,
    },
    Failed {
        ssid: String,
        reason: FailReason,
    },
}

/// `wifi_prov_mgr`'s station and state machine.
struct Station {
    /// What `CmdSetConfig` stored (the handler context); applying consumes it.
    stored: Option<WifiCredentials>,
    state: Sta,
    /// `prov_state < WIFI_PROV_STATE_CRED_RECV`: credentials may be applied.
    accepts_apply: bool,
    attempt: u64,
    report_dropped: bool,
}

struct ScanRun {
    started: Instant,
    results: Vec<AccessPoint>,
}

struct Running {
    thing: String,
    certificate_id: String,
    stop: watch::Sender<bool>,
    task: JoinHandle<Firmware>,
}

struct DeviceState {
    session: DeviceSession,
    rng: StdRng,
    identity: SimIdentity,
    credentials: Option<CredentialService<SimIdentity>>,
    link: Option<Arc<LinkShared>>,
    station: Station,
    scan: Option<ScanRun>,
    drops: Vec<(DropRule, u32)>,
    firmware: Option<Running>,
    stopped: Vec<JoinHandle<Firmware>>,
    join: Option<JoinHandle<()>>,
    /// The certificate id whose identity failed, and why.
    cloud_error: Option<(String, String)>,
    rssi_offset: i16,
    halted: bool,
}

/// One provisionable simulated device.
pub(crate) struct Device {
    id: String,
    name: String,
    spec: DeviceSpec,
    builtin_root_ca_pem: Option<String>,
    state: Mutex<DeviceState>,
    status: watch::Sender<DeviceStatus>,
}

impl Device {
    pub(crate) fn new(
        id: String,
        name: String,
        spec: DeviceSpec,
        builtin_root_ca_pem: Option<String>,
        mut rng: StdRng,
    ) -> Arc<Self> {
        let security = match &spec.security {
            SecuritySpec::Sec0 => DeviceSecurity::Sec0,
            SecuritySpec::Sec1 { pop } => DeviceSecurity::Sec1 { pop: pop.clone() },
            SecuritySpec::Sec2 {
                username,
                password,
                patch,
                origin,
            } => {
                let mut salt = [0u8; 16];
                rand::Rng::fill_bytes(&mut rng, &mut salt);
                if *origin == VerifierOrigin::EspProv {
                    // esp_prov's salts are Python ints: never a leading zero byte.
                    salt[0] |= 0x01;
                }
                let credentials =
                    Sec2Credentials::derive_as(*origin, username.as_bytes(), password, &salt);
                DeviceSecurity::Sec2 {
                    credentials,
                    patch: *patch,
                }
            }
        };
        let state = DeviceState {
            session: DeviceSession::new(security),
            rng,
            identity: SimIdentity::new(&spec.serial, spec.kind.as_str(), spec.broken_csr_signature),
            credentials: None,
            link: None,
            station: Station {
                stored: None,
                state: Sta::Disconnected,
                accepts_apply: true,
                attempt: 0,
                report_dropped: false,
            },
            scan: None,
            drops: Vec::new(),
            firmware: None,
            stopped: Vec::new(),
            join: None,
            cloud_error: None,
            rssi_offset: 0,
            halted: false,
        };
        let initial = DeviceStatus {
            id: id.clone(),
            name: name.clone(),
            serial: spec.serial.clone(),
            kind: spec.kind,
            advertising: true,
            link_open: false,
            session_established: false,
            wifi: WifiStatus::Disconnected,
            identity: None,
            cloud: CloudState::WaitingForWifi,
        };
        let (status, _) = watch::channel(initial);
        Arc::new(Self {
            id,
            name,
            spec,
            builtin_root_ca_pem,
            state: Mutex::new(state),
            status,
        })
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn spec(&self) -> &DeviceSpec {
        &self.spec
    }

    pub(crate) fn label(&self) -> DeviceLabel {
        let (username, secret) = match &self.spec.security {
            SecuritySpec::Sec0 => (None, Secret::default()),
            SecuritySpec::Sec1 { pop } => (None, pop.clone()),
            SecuritySpec::Sec2 {
                username, password, ..
            } => (Some(username.clone()), password.clone()),
        };
        DeviceLabel {
            id: self.id.clone(),
            name: self.name.clone(),
            serial: self.spec.serial.clone(),
            kind: self.spec.kind,
            security: self.spec.security.scheme(),
            username,
            secret,
        }
    }

    /// The endpoints in characteristic order (0xFF4F, 0xFF50, …, then custom ones).
    pub(crate) fn endpoints(&self) -> Vec<String> {
        let mut names = vec![PROV_CTRL, PROV_SCAN, PROV_SESSION, PROV_CONFIG, PROTO_VER];
        if self.spec.credential_endpoint {
            names.push(AWS_IOT);
        }
        names.into_iter().map(str::to_owned).collect()
    }

    fn lock(&self) -> MutexGuard<'_, DeviceState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn status(&self) -> DeviceStatus {
        self.status.borrow().clone()
    }

    pub(crate) fn watch(&self) -> watch::Receiver<DeviceStatus> {
        self.status.subscribe()
    }

    /// Whether a scan sees it now; when it does, its signal, wandered by `step` dB.
    pub(crate) fn advertise(&self, step: i16) -> Option<i16> {
        let mut st = self.lock();
        if !self.advertising(&st) {
            return None;
        }
        st.rssi_offset = (st.rssi_offset + step).clamp(-6, 6);
        Some((self.spec.rssi + st.rssi_offset).clamp(-100, -20))
    }

    /// Takes the device's one connection slot (it stops advertising).
    pub(crate) fn claim_link(&self) -> Result<Arc<LinkShared>, LinkError> {
        let mut st = self.lock();
        if st.link.is_some() {
            return Err(LinkError::Busy(self.id.clone()));
        }
        if !self.advertising(&st) {
            return Err(LinkError::NotFound(self.id.clone()));
        }
        let shared = Arc::new(LinkShared::default());
        st.link = Some(Arc::clone(&shared));
        st.session.close();
        st.credentials = self
            .spec
            .credential_endpoint
            .then(|| CredentialService::new(st.identity.clone(), Limits::default()));
        self.publish(&st);
        Ok(shared)
    }

    /// Ends the link `shared` (if it is still the device's link) with `reason`.
    pub(crate) fn release_link(&self, shared: &Arc<LinkShared>, reason: &str) {
        let mut st = self.lock();
        let current = st.link.as_ref().is_some_and(|l| Arc::ptr_eq(l, shared));
        if current {
            self.end_link(&mut st, reason);
            self.publish(&st);
        } else {
            shared.close(reason);
        }
    }

    fn end_link(&self, st: &mut DeviceState, reason: &str) {
        if let Some(link) = st.link.take() {
            link.close(reason);
            tracing::debug!(device = %self.name, reason, "the provisioning link ended");
        }
        st.session.close();
        st.credentials = None;
    }

    pub(crate) fn inject_drop(&self, rule: DropRule) {
        self.lock().drops.push((rule, 0));
    }

    /// Counts this exchange against the injected drops; the point of the one that fires.
    pub(crate) fn arm_drop(&self, endpoint: &str) -> Option<DropPoint> {
        let mut st = self.lock();
        let mut fired = None;
        st.drops.retain_mut(|(rule, seen)| {
            if !rule.matches(endpoint) {
                return true;
            }
            *seen += 1;
            if fired.is_none() && *seen >= rule.occurrence {
                fired = Some(rule.point);
                return false;
            }
            true
        });
        fired
    }

    /// Handles one request on the link `shared`.
    pub(crate) fn handle(
        self: &Arc<Self>,
        shared: &Arc<LinkShared>,
        endpoint: &str,
        request: &[u8],
    ) -> Handled {
        let mut st = self.lock();
        if !st.link.as_ref().is_some_and(|l| Arc::ptr_eq(l, shared)) {
            let reason = shared.closed().unwrap_or_else(|| "the link is gone".into());
            return Handled {
                outcome: Outcome::Refused(LinkError::Disconnected(reason)),
                delay: Duration::ZERO,
                drop_after: None,
            };
        }
        let handled = match endpoint {
            PROTO_VER => Handled::answer(self.version_json(&st)),
            PROV_SESSION => {
                let st = &mut *st;
                match st.session.handle_request(request, &mut st.rng) {
                    Ok(answer) => Handled::answer(answer),
                    Err(error) => {
                        tracing::debug!(device = %self.name, %error, "a handshake step failed");
                        self.failure(endpoint)
                    }
                }
            }
            _ => self.encrypted(&mut st, endpoint, request),
        };
        self.reconcile(&mut st);
        self.publish(&st);
        handled
    }

    fn failure(&self, endpoint: &str) -> Handled {
        let outcome = match self.spec.handler_failure {
            HandlerFailure::AttError => Outcome::Refused(LinkError::HandlerFailed {
                endpoint: endpoint.to_owned(),
            }),
            HandlerFailure::Disconnect => Outcome::Dropped(format!(
                "the device's {endpoint} handler failed and it disconnected"
            )),
        };
        Handled {
            outcome,
            delay: Duration::ZERO,
            drop_after: None,
        }
    }

    fn encrypted(
        self: &Arc<Self>,
        st: &mut DeviceState,
        endpoint: &str,
        request: &[u8],
    ) -> Handled {
        let Ok(plain) = st.session.decrypt(request) else {
            return self.failure(endpoint);
        };
        let reply = match endpoint {
            PROV_CONFIG => self.config(st, &plain),
            PROV_SCAN => self.scan(st, &plain),
            PROV_CTRL => self.ctrl(st, &plain),
            AWS_IOT => st
                .credentials
                .as_mut()
                .and_then(|service| service.handle(&plain).ok())
                .map(Reply::now),
            _ => None,
        };
        let Some(reply) = reply else {
            return self.failure(endpoint);
        };
        match st.session.encrypt(&reply.bytes) {
            Ok(sealed) => Handled {
                outcome: Outcome::Answer(sealed),
                delay: reply.delay,
                drop_after: reply.drop_after,
            },
            Err(_) => self.failure(endpoint),
        }
    }

    fn version_json(&self, st: &DeviceState) -> Vec<u8> {
        let mut info = st.session.version_info(&[capability::WIFI_SCAN]);
        if self.spec.credential_endpoint {
            let app = AppInfo {
                ver: credentials::PROTOCOL_VERSION.to_string(),
                cap: vec![credentials::CAP_CSR.to_owned()],
            };
            info = info.with_app(credentials::APP_LABEL, &app);
        }
        info.to_json()
    }

    fn config(self: &Arc<Self>, st: &mut DeviceState, plain: &[u8]) -> Option<Reply> {
        let mut drop_after = None;
        let response = match ConfigRequest::decode(plain).ok()? {
            ConfigRequest::GetStatus => {
                let status = station_status(&st.station.state);
                if matches!(status, StationStatus::Connected(_))
                    && self.spec.wifi.link_drop == LinkDropOnJoin::AfterReport
                    && !st.station.report_dropped
                {
                    st.station.report_dropped = true;
                    drop_after = Some(
                        "the device's radio switched to Wi-Fi after reporting Connected".into(),
                    );
                }
                ConfigResponse::Status(status)
            }
            ConfigRequest::SetConfig(credentials) => {
                if credentials.validate().is_ok() {
                    st.station.stored = Some(credentials);
                    ConfigResponse::ConfigSet
                } else {
                    ConfigResponse::Refused {
                        to: ConfigKind::SetConfig,
                        status: Status::InvalidArgument,
                    }
                }
            }
            ConfigRequest::ApplyConfig => match st.station.stored.take() {
                Some(credentials) if st.station.accepts_apply => {
                    self.start_join(st, &credentials);
                    ConfigResponse::ConfigApplied
                }
                stored => {
                    st.station.stored = stored;
                    ConfigResponse::Refused {
                        to: ConfigKind::ApplyConfig,
                        status: Status::InternalError,
                    }
                }
            },
        };
        Some(Reply {
            bytes: response.encode(),
            delay: Duration::ZERO,
            drop_after,
        })
    }

    fn start_join(self: &Arc<Self>, st: &mut DeviceState, credentials: &WifiCredentials) {
        let ssid = String::from_utf8_lossy(&credentials.ssid).into_owned();
        let outcome = self.join_outcome(credentials);
        st.station.attempt += 1;
        st.station.accepts_apply = false;
        st.station.report_dropped = false;
        st.station.state = Sta::Connecting {
            ssid: ssid.clone(),
            outcome,
        };
        tracing::info!(device = %self.name, %ssid, "joining Wi-Fi");
        if let Some(previous) = st.join.take() {
            previous.abort();
        }
        let device = Arc::clone(self);
        let attempt = st.station.attempt;
        let delay = self.spec.wifi.join_time;
        st.join = Some(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            device.finish_join(attempt);
        }));
    }

    fn join_outcome(&self, credentials: &WifiCredentials) -> Result<ConnectedInfo, FailReason> {
        let network = self
            .spec
            .networks
            .iter()
            .find(|n| n.ssid.as_bytes() == credentials.ssid.as_slice())
            .ok_or(FailReason::NetworkNotFound)?;
        let pinned_elsewhere = credentials.bssid.is_some_and(|b| b != network.bssid())
            || (credentials.channel != 0 && u32::from(credentials.channel) != network.channel);
        if pinned_elsewhere {
            return Err(FailReason::NetworkNotFound);
        }
        if network.auth != WifiAuthMode::Open && network.passphrase != credentials.passphrase {
            return Err(FailReason::AuthError);
        }
        let host = 10 + Sha256::digest(self.id.as_bytes())[0] % 240;
        Ok(ConnectedInfo {
            ip4_addr: format!("192.168.1.{host}"),
            auth_mode: network.auth.into(),
            ssid: credentials.ssid.clone(),
            bssid: network.bssid().to_vec(),
            channel: i32::try_from(network.channel).unwrap_or(0),
        })
    }

    fn finish_join(&self, attempt: u64) {
        let mut st = self.lock();
        if st.halted || st.station.attempt != attempt {
            return;
        }
        let Sta::Connecting { ssid, outcome } =
            std::mem::replace(&mut st.station.state, Sta::Disconnected)
        else {
            return;
        };
        match outcome {
            Ok(info) => {
                tracing::info!(device = %self.name, %ssid, ip = %info.ip4_addr, "joined Wi-Fi");
                st.station.state = Sta::Connected { ssid, info };
                if self.spec.wifi.link_drop == LinkDropOnJoin::OnJoin {
                    self.end_link(
                        &mut st,
                        "the device's radio switched to Wi-Fi when the station joined",
                    );
                }
            }
            Err(reason) => {
                tracing::info!(device = %self.name, %ssid, ?reason, "could not join Wi-Fi");
                st.station.state = Sta::Failed { ssid, reason };
                st.station.accepts_apply = self.spec.wifi.recovery == FailureRecovery::AutoReset;
            }
        }
        st.join = None;
        self.reconcile(&mut st);
        self.publish(&st);
    }

    fn scan(&self, st: &mut DeviceState, plain: &[u8]) -> Option<Reply> {
        let scan_time = self.spec.wifi.scan_time;
        let mut delay = Duration::ZERO;
        let response = match ScanRequest::decode(plain).ok()? {
            ScanRequest::Start(options) => {
                let mut results: Vec<AccessPoint> = self
                    .spec
                    .networks
                    .iter()
                    .map(Network::access_point)
                    .collect();
                results.sort_by_key(|ap| std::cmp::Reverse(ap.rssi));
                results.truncate(MAX_SCAN_RESULTS);
                st.scan = Some(ScanRun {
                    started: Instant::now(),
                    results,
                });
                if options.blocking {
                    delay = scan_time;
                }
                ScanResponse::Started
            }
            ScanRequest::Status => {
                let results = finished_results(st.scan.as_ref(), scan_time);
                ScanResponse::Status {
                    finished: results.is_some(),
                    result_count: results.map_or(0, |r| r.len() as u32),
                }
            }
            ScanRequest::Results { start_index, count } => {
                let results = finished_results(st.scan.as_ref(), scan_time).unwrap_or_default();
                let start = start_index as usize;
                match start
                    .checked_add(count as usize)
                    .and_then(|end| results.get(start..end))
                {
                    Some(page) => ScanResponse::Results(page.to_vec()),
                    None => ScanResponse::Refused {
                        to: ScanKind::Results,
                        status: Status::InvalidArgument,
                    },
                }
            }
        };
        Some(Reply {
            bytes: response.encode(),
            delay,
            drop_after: None,
        })
    }

    fn ctrl(&self, st: &mut DeviceState, plain: &[u8]) -> Option<Reply> {
        let request = CtrlRequest::decode(plain).ok()?;
        let response = match (request, &st.station.state) {
            (CtrlRequest::Reset, Sta::Failed { .. }) => {
                st.station.accepts_apply = true;
                CtrlResponse::Reset
            }
            (CtrlRequest::Reprov, Sta::Connected { .. }) => {
                st.station.accepts_apply = true;
                CtrlResponse::Reprov
            }
            (to, _) => CtrlResponse::Refused {
                to,
                status: Status::InternalError,
            },
        };
        Some(Reply::now(response.encode()))
    }

    fn done(&self, st: &DeviceState) -> bool {
        matches!(st.station.state, Sta::Connected { .. })
            && !st.station.accepts_apply
            && (!self.spec.credential_endpoint || st.identity.installation().is_some())
    }

    fn advertising(&self, st: &DeviceState) -> bool {
        !st.halted && st.link.is_none() && !self.done(st)
    }

    /// Starts or stops the firmware so that it runs exactly when the station is connected and
    /// an identity is installed.
    fn reconcile(&self, st: &mut DeviceState) {
        let wanted = if self.spec.credential_endpoint
            && !st.halted
            && matches!(st.station.state, Sta::Connected { .. })
        {
            st.identity.usable()
        } else {
            None
        };
        let Some(identity) = wanted else {
            self.stop_firmware(st);
            return;
        };
        let certificate = certificate_id(&identity.installation.certificate);
        let thing = identity.installation.thing_name.clone();
        let same = |id: &str, name: &str| id == certificate && name == thing;
        if st
            .firmware
            .as_ref()
            .is_some_and(|r| same(&r.certificate_id, &r.thing))
            || st
                .cloud_error
                .as_ref()
                .is_some_and(|(id, _)| *id == certificate)
        {
            return;
        }
        self.stop_firmware(st);
        match self.start_firmware(identity) {
            Ok((stop, task)) => {
                tracing::info!(device = %self.name, %thing, "online: the firmware connects to its endpoint");
                st.firmware = Some(Running {
                    thing,
                    certificate_id: certificate,
                    stop,
                    task,
                });
            }
            Err(reason) => {
                tracing::warn!(device = %self.name, %reason, "the installed identity is unusable");
                st.cloud_error = Some((certificate, reason));
            }
        }
    }

    fn start_firmware(
        &self,
        identity: UsableIdentity,
    ) -> Result<(watch::Sender<bool>, JoinHandle<Firmware>), String> {
        let installation = identity.installation;
        let ca_pem = if installation.root_ca.is_empty() {
            self.builtin_root_ca_pem.clone().ok_or_else(|| {
                "no root CA was installed and the device has no built-in one".to_owned()
            })?
        } else {
            pem_certificate(&installation.root_ca)
        };
        let thing = ThingName::new(installation.thing_name.clone())
            .map_err(|e| format!("the thing name is not usable: {e}"))?;
        let endpoint = Endpoint {
            host: installation.endpoint.clone(),
            port: installation.port,
            tls: Some(TlsIdentity {
                ca_pem,
                cert_pem: pem_certificate(&installation.certificate),
                key_pem: identity.key_pem,
            }),
        };
        let member = FleetMember {
            thing,
            kind: self.spec.kind,
            seed: self.spec.seed,
        };
        let firmware = member.firmware(&self.spec.firmware);
        let device = SimulatedDevice::new(firmware, &endpoint, DriverOptions::default())
            .map_err(|e| e.to_string())?;
        let (stop, stopped) = watch::channel(false);
        Ok((stop, tokio::spawn(device.run(stopped))))
    }

    fn stop_firmware(&self, st: &mut DeviceState) {
        if let Some(running) = st.firmware.take() {
            tracing::info!(device = %self.name, thing = %running.thing, "offline: the firmware stops");
            running.stop.send_replace(true);
            st.stopped.push(running.task);
        }
    }

    fn publish(&self, st: &DeviceState) {
        let snapshot = self.snapshot(st);
        self.status.send_if_modified(|current| {
            let changed = *current != snapshot;
            if changed {
                *current = snapshot;
            }
            changed
        });
    }

    fn snapshot(&self, st: &DeviceState) -> DeviceStatus {
        let wifi = match &st.station.state {
            Sta::Disconnected => WifiStatus::Disconnected,
            Sta::Connecting { ssid, .. } => WifiStatus::Connecting { ssid: ssid.clone() },
            Sta::Connected { ssid, info } => WifiStatus::Connected {
                ssid: ssid.clone(),
                ip: info.ip4_addr.clone(),
            },
            Sta::Failed { ssid, reason } => WifiStatus::Failed {
                ssid: ssid.clone(),
                reason: *reason,
            },
        };
        let identity = st.identity.installation().map(|i| IdentityStatus {
            certificate_id: certificate_id(&i.certificate),
            thing_name: i.thing_name,
            endpoint: i.endpoint,
            port: i.port,
        });
        let online = matches!(wifi, WifiStatus::Connected { .. });
        let cloud = match (&st.firmware, &st.cloud_error, &identity) {
            (Some(running), _, _) => CloudState::Running {
                thing_name: running.thing.clone(),
            },
            _ if !online => CloudState::WaitingForWifi,
            _ if !self.spec.credential_endpoint => CloudState::WifiOnly,
            (None, Some((failed, reason)), Some(installed))
                if *failed == installed.certificate_id =>
            {
                CloudState::Failed {
                    reason: reason.clone(),
                }
            }
            _ => CloudState::WaitingForIdentity,
        };
        DeviceStatus {
            id: self.id.clone(),
            name: self.name.clone(),
            serial: self.spec.serial.clone(),
            kind: self.spec.kind,
            advertising: self.advertising(st),
            link_open: st.link.is_some(),
            session_established: st.link.is_some() && st.session.is_established(),
            wifi,
            identity,
            cloud,
        }
    }

    /// Stops everything: the link, a pending join, the firmware. Returns the firmware tasks
    /// to wait for.
    pub(crate) fn halt(&self) -> Vec<JoinHandle<Firmware>> {
        let mut st = self.lock();
        st.halted = true;
        self.end_link(&mut st, "the simulated radio shut down");
        if let Some(join) = st.join.take() {
            join.abort();
        }
        self.stop_firmware(&mut st);
        self.publish(&st);
        std::mem::take(&mut st.stopped)
    }
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("serial", &self.spec.serial)
            .finish_non_exhaustive()
    }
}

fn station_status(state: &Sta) -> StationStatus {
    match state {
        Sta::Disconnected => StationStatus::Disconnected,
        Sta::Connecting { .. } => StationStatus::Connecting {
            attempts_remaining: None,
        },
        Sta::Connected { info, .. } => StationStatus::Connected(info.clone()),
        Sta::Failed { reason, .. } => StationStatus::Failed(*reason),
    }
}

/// The scan's results once it has run for `scan_time`; `None` while it runs. No scan yet
/// counts as a finished scan with no results (ESP-IDF: not scanning).
fn finished_results(run: Option<&ScanRun>, scan_time: Duration) -> Option<Vec<AccessPoint>> {
    match run {
        None => Some(Vec::new()),
        Some(run) if run.started.elapsed() >= scan_time => Some(run.results.clone()),
        Some(_) => None,
    }
}

fn pem_certificate(der: &[u8]) -> String {
    pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec()))
}
