//! Provisioning: the scan list, attempts step by step, and the audit trail.

use serde::{Deserialize, Serialize};

use crate::{Command, Event, Secret};

/// Scans for devices that offer provisioning. Replies with them, strongest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionScan {}

impl Command for ProvisionScan {
    const NAME: &'static str = "provision_scan";
    type Reply = ScanReply;
}

/// What a scan found, and on which radio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanReply {
    /// The radio, in words ("Simulated radio (local sandbox)", "Bluetooth LE").
    pub radio: String,
    /// The devices found.
    pub devices: Vec<ScannedDevice>,
}

/// A device offering provisioning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScannedDevice {
    /// Its id on the radio.
    pub id: String,
    /// Its advertised name (`PROV_…`).
    pub name: String,
    /// Signal, dBm.
    pub rssi: Option<i16>,
}

/// Starts provisioning a device. Replies with the attempt; its progress arrives as
/// [`ProvisionChanged`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionStart {
    /// The device, from a scan.
    pub device: ScannedDevice,
    /// Security 1's proof of possession.
    pub pop: Option<Secret>,
    /// Security 2's username (default `wifiprov`).
    pub username: Option<String>,
    /// Security 2's password.
    pub password: Option<Secret>,
    /// The network to join without asking (batch mode).
    pub wifi: Option<WifiInput>,
}

impl Command for ProvisionStart {
    const NAME: &'static str = "provision_start";
    type Reply = AttemptView;
}

/// A network and its passphrase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WifiInput {
    /// The SSID.
    pub ssid: String,
    /// The passphrase (empty for an open network, or to use the remembered one).
    pub passphrase: Secret,
    /// Remember this network's password in the OS keyring for the next devices.
    #[serde(default)]
    pub remember: bool,
}

/// Sends the network an attempt waits for (or a corrected password after a failure).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionNetwork {
    /// The attempt.
    pub attempt: i64,
    /// The network.
    pub wifi: WifiInput,
}

impl Command for ProvisionNetwork {
    const NAME: &'static str = "provision_network";
    type Reply = ();
}

/// Retries an attempt's failed step, or cancels the attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionAct {
    /// The attempt.
    pub attempt: i64,
    /// What to do.
    pub action: AttemptAction,
}

impl Command for ProvisionAct {
    const NAME: &'static str = "provision_act";
    type Reply = ();
}

/// What the user does with an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptAction {
    /// Repeat the failed step.
    Retry,
    /// End it.
    Cancel,
}

/// An attempt changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionChanged {
    /// The attempt as it stands.
    pub attempt: AttemptView,
}

impl Event for ProvisionChanged {
    const NAME: &'static str = "provision-changed";
}

/// An attempt as the wizard shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptView {
    /// Its audit id.
    pub id: i64,
    /// The device.
    pub device: ScannedDevice,
    /// Each step, in order.
    pub steps: Vec<StepView>,
    /// The device's Wi-Fi networks, strongest first.
    pub networks: Vec<NetworkView>,
    /// How it stands.
    pub outcome: AttemptOutcome,
    /// The registered thing, once known.
    pub thing_name: Option<String>,
    /// The issued certificate, once known.
    pub certificate_id: Option<String>,
}

/// One step of an attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepView {
    /// Its stable name (`connect`, `version`, `session`, `wifi_scan`, `wifi_config`,
    /// `credentials`, `wifi_apply`, `wifi_status`, `online`).
    pub step: String,
    /// A label.
    pub label: String,
    /// Where it stands.
    pub state: StepStatus,
    /// What it found, or why it was skipped.
    pub detail: Option<String>,
    /// On failure: what to do.
    pub fix: Option<String>,
    /// On failure: which action helps.
    pub remedy: Option<Remedy>,
}

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Not reached.
    Waiting,
    /// Under way.
    Running,
    /// Waits for the user.
    NeedsInput,
    /// Done.
    Passed,
    /// Not needed.
    Skipped,
    /// Failed.
    Failed,
}

/// What a failure calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Remedy {
    /// Retry the step.
    Retry,
    /// Re-enter the Wi-Fi password or choose another network.
    ReenterWifi,
    /// Start over (another PoP or password).
    StartOver,
}

/// A network the device saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkView {
    /// The SSID.
    pub ssid: String,
    /// Signal, dBm.
    pub rssi: i32,
    /// Whether it needs a passphrase.
    pub secured: bool,
    /// The security, in words.
    pub security: String,
    /// Whether its password is remembered (leave the password empty to use it).
    #[serde(default)]
    pub remembered: bool,
}

/// How an attempt stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// Going, or waiting for the user.
    Running,
    /// Online with its identity.
    Online {
        /// Its thing name.
        thing: String,
    },
    /// On Wi-Fi; the device takes no identity.
    WifiOnly,
    /// Stopped at a failed step.
    Failed {
        /// The step.
        step: String,
    },
    /// Cancelled.
    Cancelled,
}

/// Lists the newest provisioning attempts from the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionHistory {
    /// At most this many (capped at 500).
    pub limit: u32,
}

impl Command for ProvisionHistory {
    const NAME: &'static str = "provision_history";
    type Reply = Vec<AuditEntry>;
}

/// One attempt as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Its id.
    pub id: i64,
    /// The device's name.
    pub device: String,
    /// `ble`, `softap` or `simulated`.
    pub transport: String,
    /// Start, epoch ms.
    pub started_ms: i64,
    /// End, epoch ms.
    pub finished_ms: Option<i64>,
    /// `running`, `succeeded`, `wifi_only`, `failed` or `cancelled`.
    pub result: String,
    /// The network joined.
    pub ssid: Option<String>,
    /// The registered thing.
    pub thing_name: Option<String>,
    /// The issued certificate.
    pub certificate_id: Option<String>,
    /// Whether the certificate reached the device.
    pub certificate_delivered: bool,
    /// Why it failed.
    pub error: Option<String>,
    /// Each step as JSON text (`[{"step", "state", "detail"}]`).
    pub steps: String,
}

/// Lists the Wi-Fi networks whose passwords are remembered (names only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworksList {}

impl Command for NetworksList {
    const NAME: &'static str = "networks_list";
    type Reply = Vec<RememberedNetwork>;
}

/// A remembered network: its name and when; never its password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RememberedNetwork {
    /// The SSID.
    pub ssid: String,
    /// When it was remembered, epoch ms.
    pub remembered_ms: i64,
}

/// Forgets a remembered network and its password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkForget {
    /// The SSID.
    pub ssid: String,
}

impl Command for NetworkForget {
    const NAME: &'static str = "network_forget";
    type Reply = ();
}
