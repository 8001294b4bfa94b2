use serde::{Deserialize, Serialize};

use crate::{Command, Event};

/// Lists a window of the fleet's things (the list is virtualized: the UI asks for the rows
/// around what is on screen). Replies with a [`FleetWindow`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetList {
    /// Which things.
    pub filter: FleetFilter,
    /// Only things whose name contains this.
    pub search: Option<String>,
    /// The order.
    pub sort: FleetSort,
    /// Reverse the order.
    pub descending: bool,
    /// The first row wanted.
    pub offset: u32,
    /// How many rows (the backend caps it at 500).
    pub limit: u32,
}

impl Default for FleetList {
    fn default() -> Self {
        Self {
            filter: FleetFilter::All,
            search: None,
            sort: FleetSort::Name,
            descending: false,
            offset: 0,
            limit: 200,
        }
    }
}

impl Command for FleetList {
    const NAME: &'static str = "fleet_list";
    type Reply = FleetWindow;
}

/// Rows of the fleet list and how many match in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetWindow {
    /// Things matching the filter and search.
    pub total: u64,
    /// The first row's index.
    pub offset: u32,
    /// The rows.
    pub things: Vec<ThingSummary>,
}

/// The fleet list's order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FleetSort {
    /// By name.
    #[default]
    Name,
    /// By last seen.
    LastSeen,
    /// By model.
    Model,
    /// By firmware.
    Firmware,
}

impl FleetSort {
    /// Every order, as the page offers them.
    pub const ALL: [FleetSort; 4] = [Self::Name, Self::LastSeen, Self::Model, Self::Firmware];

    /// A short label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Name => "Name",
            Self::LastSeen => "Last seen",
            Self::Model => "Model",
            Self::Firmware => "Firmware",
        }
    }
}

/// Sets the same desired values on many things. Replies with one result per thing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetBulkEdit {
    /// The things.
    pub things: Vec<String>,
    /// The desired patch (a JSON object) for each thing's classic shadow.
    pub desired: serde_json::Value,
}

impl Command for FleetBulkEdit {
    const NAME: &'static str = "fleet_bulk_edit";
    type Reply = Vec<BulkResult>;
}

/// What happened to one thing of a bulk edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkResult {
    /// The thing.
    pub thing: String,
    /// Whether the edit was queued.
    pub ok: bool,
    /// Its state (`queued`, `pending`, …) or why it failed.
    pub message: String,
}

/// Which things a fleet list shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FleetFilter {
    /// Every thing.
    #[default]
    All,
    /// Connected now.
    Online,
    /// Not connected.
    Offline,
    /// Desired state differs from reported.
    OutOfSync,
    /// Has queued or running jobs.
    HasJobs,
}

impl FleetFilter {
    /// Every filter, in the order the page offers them.
    pub const ALL: [FleetFilter; 5] = [
        Self::All,
        Self::Online,
        Self::Offline,
        Self::OutOfSync,
        Self::HasJobs,
    ];

    /// A short label for display.
    pub fn label(self) -> &'static str {
        match self {
            Self::All => "All",
            Self::Online => "Online",
            Self::Offline => "Offline",
            Self::OutOfSync => "Out of sync",
            Self::HasJobs => "Has jobs",
        }
    }
}

/// Whether a thing is connected, as its lifecycle events say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Its last event was a connect.
    Online,
    /// Its last event was a disconnect.
    Offline,
    /// No event seen yet.
    Unknown,
}

/// One thing of the fleet, as the fleet list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThingSummary {
    /// The thing name.
    pub name: String,
    /// Model or kind, when known.
    pub model: Option<String>,
    /// Firmware version, when reported.
    pub firmware: Option<String>,
    /// Online, offline or unknown.
    pub presence: Presence,
    /// Last connect or disconnect, epoch milliseconds.
    pub last_seen_ms: Option<i64>,
    /// Why it disconnected, while offline.
    pub disconnect_reason: Option<String>,
    /// Desired state differs from reported.
    pub out_of_sync: bool,
    /// Queued or running jobs.
    pub pending_jobs: u32,
    /// Desired-state edits not yet applied (queued or waiting for the device).
    pub pending_edits: u32,
}

/// The fleet changed; the UI lists it again. Emitted at most a few times a second.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetChanged {
    /// Counts the changes since the app started.
    pub revision: u64,
}

impl Event for FleetChanged {
    const NAME: &'static str = "fleet-changed";
}
