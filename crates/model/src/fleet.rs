use serde::{Deserialize, Serialize};

use crate::{Command, Event};

/// Lists the things of the fleet. Replies with the matching [`ThingSummary`]s, sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetList {
    /// Which things.
    pub filter: FleetFilter,
    /// Only things whose name contains this.
    pub search: Option<String>,
}

impl Command for FleetList {
    const NAME: &'static str = "fleet_list";
    type Reply = Vec<ThingSummary>;
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
