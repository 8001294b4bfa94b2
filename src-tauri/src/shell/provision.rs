//! The provisioning calls: scan, start an attempt, answer it, the audit trail. Each attempt's
//! progress is forwarded to the window as `provision-changed`.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use companion_core::provision::flow::{
    self, AttemptHandle, Outcome, Proof, Remedy as FlowRemedy, Step, StepState, WifiChoice,
};
use companion_core::provision::networks::{Networks, NetworksError};
use companion_core::provision::{Discovered, TransportKind};
use companion_core::telemetry::now_ms;
use companion_espprov::{Passphrase, Password, Pop};
use companion_mobile::{BlePermissionState, CompanionMobileExt};
use companion_model::{
    AttemptAction, AttemptOutcome, AttemptView, AuditEntry, ErrorCode, IpcError, NetworkView,
    ProvisionChanged, ProvisionStart, Remedy, RememberedNetwork, ScanReply, ScannedDevice,
    StepStatus, StepView, WifiInput,
};
use tauri::{AppHandle, Manager};

use super::{Shell, sentence};
use crate::events::emit;

/// How long one scan listens.
const SCAN_WINDOW: Duration = Duration::from_secs(2);

/// The attempts of this run of the app, by audit id.
pub type Attempts = tokio::sync::Mutex<HashMap<i64, AttemptHandle>>;

/// The network each attempt should remember once its device has joined it (the user ticked
/// "Remember this network"; a wrong password is never remembered).
pub type ToRemember = tokio::sync::Mutex<HashMap<i64, WifiChoice>>;

impl Shell {
    /// Scans the engine's radio; for Bluetooth LE, after making sure the app may use it
    /// (Android and iOS ask the user at run time; desktop systems need nothing).
    pub async fn provision_scan(&self, app: &AppHandle) -> Result<ScanReply, IpcError> {
        let provisioning = self.provisioning().await?;
        if provisioning.radio.kind() == TransportKind::Ble {
            ble_permission(app).await?;
        }
        let found = provisioning
            .radio
            .scan(SCAN_WINDOW)
            .await
            .map_err(|error| IpcError::new(ErrorCode::Unavailable, sentence(&error.to_string())))?;
        Ok(ScanReply {
            radio: match provisioning.radio.kind() {
                TransportKind::Ble => "Bluetooth LE",
                TransportKind::SoftAp => "Wi-Fi access point (SoftAP)",
                TransportKind::Simulated => "Simulated radio (local sandbox)",
            }
            .to_owned(),
            devices: found
                .into_iter()
                .map(|d| ScannedDevice {
                    id: d.id,
                    name: d.name,
                    rssi: d.rssi,
                })
                .collect(),
        })
    }

    /// Starts an attempt and forwards its progress to the window.
    pub async fn provision_start(
        &self,
        app: AppHandle,
        request: ProvisionStart,
    ) -> Result<AttemptView, IpcError> {
        let provisioning = self.provisioning().await?;
        let kind = provisioning.radio.kind();
        let device = Discovered {
            id: request.device.id,
            name: request.device.name,
            rssi: request.device.rssi,
            kind,
        };
        let proof = Proof {
            pop: request.pop.map(|p| Pop::from(p.0)),
            username: request.username,
            password: request.password.map(|p| Password::from(p.0)),
            scheme: None,
        };
        let wifi = match request.wifi {
            Some(wifi) => Some(self.wifi_choice(wifi).await?),
            None => None,
        };
        let handle = provisioning
            .start(
                device,
                proof,
                wifi.as_ref().map(|(choice, _)| choice.clone()),
            )
            .await
            .map_err(|error| IpcError::new(ErrorCode::Internal, sentence(&error.to_string())))?;
        let mut view = handle.view();
        let mut remembered = self.remembered_ssids().await;
        let first = attempt_view(&view.borrow_and_update(), &remembered);
        self.attempts.lock().await.insert(first.id, handle);
        if let Some((choice, true)) = wifi {
            self.to_remember.lock().await.insert(first.id, choice);
        }
        let id = first.id;
        tauri::async_runtime::spawn(async move {
            loop {
                let current = view.borrow_and_update().clone();
                // Joined for sure: the device said so, or it reached the cloud.
                if current.joined_ssid.is_some()
                    || matches!(current.outcome, Outcome::Online { .. })
                {
                    let shell = app.state::<Shell>();
                    if shell
                        .remember_joined(current.id, current.joined_ssid.as_deref())
                        .await
                    {
                        remembered = shell.remembered_ssids().await;
                    }
                }
                let attempt = attempt_view(&current, &remembered);
                if let Err(error) = emit(&app, &ProvisionChanged { attempt }) {
                    tracing::warn!(%error, "provisioning progress not delivered to the window");
                }
                if view.changed().await.is_err() {
                    break;
                }
            }
            // The attempt ended: a network it was to remember (never joined) is forgotten.
            app.state::<Shell>().to_remember.lock().await.remove(&id);
        });
        Ok(first)
    }

    /// Sends the network an attempt waits for.
    pub async fn provision_network(&self, attempt: i64, wifi: WifiInput) -> Result<(), IpcError> {
        let handle = self.attempt(attempt).await?;
        if !handle.waits_for_network() {
            return Err(IpcError::new(
                ErrorCode::InvalidInput,
                "This attempt is not waiting for a network now.",
            ));
        }
        let (choice, remember) = self.wifi_choice(wifi).await?;
        if !handle.choose_network(choice.clone()).await {
            return Err(finished(attempt));
        }
        // Only the choice the attempt took is remembered, once the device has joined it.
        let mut to_remember = self.to_remember.lock().await;
        if remember {
            to_remember.insert(attempt, choice);
        } else {
            to_remember.remove(&attempt);
        }
        Ok(())
    }

    /// The remembered networks, names only.
    pub async fn networks_list(&self) -> Result<Vec<RememberedNetwork>, IpcError> {
        let networks = self.networks().await?;
        let list = networks.list().await.map_err(networks_error)?;
        Ok(list
            .into_iter()
            .map(|n| RememberedNetwork {
                ssid: n.ssid,
                remembered_ms: n.remembered_ms,
            })
            .collect())
    }

    /// Forgets a remembered network and its password.
    pub async fn network_forget(&self, ssid: &str) -> Result<(), IpcError> {
        let networks = self.networks().await?;
        if networks.forget(ssid).await.map_err(networks_error)? {
            Ok(())
        } else {
            Err(IpcError::new(
                ErrorCode::NotFound,
                format!("“{ssid}” is not remembered."),
            ))
        }
    }

    /// The network to send: an empty password for a remembered network means its remembered
    /// one. Also says whether to remember it once the device has joined.
    async fn wifi_choice(&self, wifi: WifiInput) -> Result<(WifiChoice, bool), IpcError> {
        let networks = self.networks().await;
        if wifi.remember
            && let Err(error) = &networks
        {
            // Asked to remember without a keyring: say so before anything is sent.
            return Err(error.clone());
        }
        let mut passphrase = Passphrase::from(wifi.passphrase.0);
        if passphrase.is_empty()
            && let Ok(networks) = &networks
            && let Some(remembered) = networks
                .passphrase(&wifi.ssid)
                .await
                .map_err(networks_error)?
        {
            passphrase = remembered;
        }
        let choice = WifiChoice {
            ssid: wifi.ssid,
            passphrase,
        };
        Ok((choice, wifi.remember))
    }

    /// Remembers the network attempt `id` asked to remember, now that its device joined it
    /// (the network it joined must be the one to remember).
    async fn remember_joined(&self, id: i64, joined: Option<&str>) -> bool {
        let Some(choice) = self.to_remember.lock().await.remove(&id) else {
            return false;
        };
        if joined.is_some_and(|ssid| ssid != choice.ssid) {
            return false;
        }
        let remembered = match self.networks().await {
            Ok(networks) => networks
                .remember(&choice.ssid, &choice.passphrase, now_ms())
                .await
                .map_err(|e| e.to_string()),
            Err(error) => Err(error.message),
        };
        match remembered {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(%error, "the network could not be remembered");
                false
            }
        }
    }

    /// The SSIDs with a remembered password (none without a keyring).
    async fn remembered_ssids(&self) -> BTreeSet<String> {
        let Ok(networks) = self.networks().await else {
            return BTreeSet::new();
        };
        match networks.list().await {
            Ok(list) => list.into_iter().map(|n| n.ssid).collect(),
            Err(error) => {
                tracing::warn!(%error, "the remembered networks cannot be read");
                BTreeSet::new()
            }
        }
    }

    async fn networks(&self) -> Result<Networks, IpcError> {
        let settings = self.settings.lock().await;
        settings.as_ref().ok_or_else(super::unavailable)?.networks()
    }

    /// Retries or cancels an attempt.
    pub async fn provision_act(&self, attempt: i64, action: AttemptAction) -> Result<(), IpcError> {
        let handle = self.attempt(attempt).await?;
        let sent = match action {
            AttemptAction::Retry => handle.retry().await,
            AttemptAction::Cancel => handle.cancel().await,
        };
        if sent { Ok(()) } else { Err(finished(attempt)) }
    }

    /// The newest attempts from the audit trail.
    pub async fn provision_history(&self, limit: u32) -> Result<Vec<AuditEntry>, IpcError> {
        let provisioning = self.provisioning().await?;
        let records = provisioning
            .audit
            .list(limit.min(500))
            .await
            .map_err(|error| IpcError::new(ErrorCode::Internal, sentence(&error.to_string())))?;
        Ok(records
            .into_iter()
            .map(|r| AuditEntry {
                id: r.id,
                device: r.device_name,
                transport: r.transport,
                started_ms: r.started_ms,
                finished_ms: r.finished_ms,
                result: r.result,
                ssid: r.ssid,
                thing_name: r.thing_name,
                certificate_id: r.certificate_id,
                certificate_delivered: r.certificate_delivered,
                error: r.error,
                steps: r.steps,
            })
            .collect())
    }

    async fn attempt(&self, id: i64) -> Result<AttemptHandle, IpcError> {
        self.attempts.lock().await.get(&id).cloned().ok_or_else(|| {
            IpcError::new(
                ErrorCode::NotFound,
                format!("Attempt {id} is not running in this session of the app."),
            )
        })
    }

    async fn provisioning(&self) -> Result<flow::Provisioning, IpcError> {
        let engine = self.engine.lock().await;
        let engine = engine.as_ref().ok_or_else(super::unavailable)?;
        engine.provisioning().cloned().ok_or_else(|| {
            IpcError::new(
                ErrorCode::Unavailable,
                "No radio is available for provisioning on this connection: Bluetooth LE needs an adapter, and the simulated radio runs with the local sandbox.",
            )
        })
    }
}

/// Asks for the Bluetooth permissions when they are not granted yet; the error says what the
/// user can do.
async fn ble_permission(app: &AppHandle) -> Result<(), IpcError> {
    let mobile = app.companion_mobile();
    let unavailable = |message: String| IpcError::new(ErrorCode::Unavailable, message);
    let state = match mobile.check_ble_permissions().await {
        Ok(BlePermissionState::Granted) => BlePermissionState::Granted,
        Ok(_) => mobile
            .request_ble_permissions()
            .await
            .map_err(|e| unavailable(sentence(&format!("asking for Bluetooth failed: {e}"))))?,
        Err(error) => {
            return Err(unavailable(sentence(&format!(
                "the Bluetooth permission cannot be read: {error}"
            ))));
        }
    };
    match state {
        BlePermissionState::Granted => mobile
            .ble_platform()
            .map_err(|e| unavailable(sentence(&format!("Bluetooth cannot be used: {e}")))),
        BlePermissionState::PermanentlyDenied => Err(unavailable(
            "Bluetooth is not allowed for IoT Companion. Allow it (Nearby devices on Android, Bluetooth on iOS) in the system settings, then scan again.".into(),
        )),
        BlePermissionState::Prompt | BlePermissionState::Denied => Err(unavailable(
            "IoT Companion needs the Bluetooth permission to find devices near you. Scan again and allow it when asked.".into(),
        )),
    }
}

fn finished(attempt: i64) -> IpcError {
    IpcError::new(
        ErrorCode::InvalidInput,
        format!("Attempt {attempt} has ended; start a new one."),
    )
}

fn networks_error(error: NetworksError) -> IpcError {
    let code = match error {
        NetworksError::InvalidSsid(_) | NetworksError::PasswordMissing(_) => {
            ErrorCode::InvalidInput
        }
        NetworksError::Vault(_) => ErrorCode::Unavailable,
        NetworksError::Store(_) => ErrorCode::Internal,
    };
    IpcError::new(code, sentence(&error.to_string()))
}

fn attempt_view(view: &flow::AttemptView, remembered: &BTreeSet<String>) -> AttemptView {
    AttemptView {
        id: view.id,
        device: ScannedDevice {
            id: view.device.id.clone(),
            name: view.device.name.clone(),
            rssi: view.device.rssi,
        },
        steps: view
            .steps
            .iter()
            .map(|(step, state)| step_view(*step, state))
            .collect(),
        networks: view
            .networks
            .iter()
            .map(|n| NetworkView {
                ssid: n.ssid.clone(),
                rssi: n.rssi,
                secured: n.secured,
                security: n.security.clone(),
                remembered: remembered.contains(&n.ssid),
            })
            .collect(),
        outcome: match &view.outcome {
            Outcome::Running => AttemptOutcome::Running,
            Outcome::Online { thing } => AttemptOutcome::Online {
                thing: thing.clone(),
            },
            Outcome::WifiOnly => AttemptOutcome::WifiOnly,
            Outcome::Failed(step) => AttemptOutcome::Failed {
                step: step.name().to_owned(),
            },
            Outcome::Cancelled => AttemptOutcome::Cancelled,
        },
        thing_name: view.thing_name.clone(),
        certificate_id: view.certificate_id.clone(),
    }
}

fn step_view(step: Step, state: &StepState) -> StepView {
    let (status, detail, fix, remedy) = match state {
        StepState::Waiting => (StepStatus::Waiting, None, None, None),
        StepState::Running => (StepStatus::Running, None, None, None),
        StepState::NeedsInput => (
            StepStatus::NeedsInput,
            Some("Choose the network the device joins and enter its password.".to_owned()),
            None,
            None,
        ),
        StepState::Passed(detail) => (StepStatus::Passed, Some(detail.clone()), None, None),
        StepState::Skipped(detail) => (StepStatus::Skipped, Some(detail.clone()), None, None),
        StepState::Failed(failure) => (
            StepStatus::Failed,
            Some(failure.cause.clone()),
            Some(failure.fix.clone()),
            Some(match failure.remedy {
                FlowRemedy::Retry => Remedy::Retry,
                FlowRemedy::ReenterWifi => Remedy::ReenterWifi,
                FlowRemedy::StartOver => Remedy::StartOver,
            }),
        ),
    };
    StepView {
        step: step.name().to_owned(),
        label: match step {
            Step::Connect => "Connect",
            Step::Version => "Version and capabilities",
            Step::Session => "Secure session",
            Step::WifiScan => "The device's Wi-Fi scan",
            Step::WifiConfig => "Wi-Fi network",
            Step::Credentials => "AWS IoT identity",
            Step::WifiApply => "Join the network",
            Step::WifiStatus => "Wi-Fi connected",
            Step::Online => "Online in AWS IoT",
        }
        .to_owned(),
        state: status,
        detail,
        fix,
        remedy,
    }
}
