//! Device Shadows as the workbench shows them: documents, desired-state edits and history.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Command, Event};

/// Which shadow: a thing's classic shadow (`name: None`) or one of its named shadows.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShadowRef {
    /// The thing.
    pub thing: String,
    /// The named shadow, or `None` for the classic one.
    pub name: Option<String>,
}

/// Opens a shadow: starts following it and replies with everything the workbench shows.
/// Later changes arrive as [`ShadowChanged`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowOpen {
    /// Which shadow.
    pub shadow: ShadowRef,
}

impl Command for ShadowOpen {
    const NAME: &'static str = "shadow_open";
    type Reply = ShadowPanel;
}

/// A shadow with its edits and history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowPanel {
    /// The last known document; `None` when the shadow does not exist (or is not known yet
    /// while offline).
    pub document: Option<ShadowDocument>,
    /// Whether the document came from the local copy because the broker is unreachable.
    pub offline: bool,
    /// The edits of this shadow in the outbox, oldest first.
    pub edits: Vec<EditSummary>,
    /// The newest versions, newest first.
    pub history: Vec<HistoryItem>,
    /// What the user can set, each writing one desired key.
    pub controls: Vec<Control>,
}

/// A control generated for one top-level key of the shadow's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Control {
    /// The key it writes.
    pub key: String,
    /// A label for display.
    pub label: String,
    /// How it is edited.
    pub kind: ControlKind,
    /// `true` when the device's model is known to accept this key; `false` when the control
    /// was inferred from a reported value's type (the device decides whether it accepts it).
    pub known: bool,
}

/// How a control edits its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ControlKind {
    /// A boolean switch.
    Switch,
    /// A slider over a range.
    Range {
        /// Smallest value.
        min: f64,
        /// Largest value.
        max: f64,
        /// Step.
        step: f64,
        /// Unit, e.g. `°C`.
        unit: Option<String>,
    },
    /// A number without known bounds (a stepper).
    Number,
    /// One of a set of strings.
    Choice {
        /// The choices.
        options: Vec<String>,
    },
    /// Free text.
    Text,
}

/// A shadow document's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowDocument {
    /// The version.
    pub version: u64,
    /// The desired section (an object, empty when absent).
    pub desired: Value,
    /// The reported section (an object, empty when absent).
    pub reported: Value,
    /// Desired keys reported does not match yet.
    pub delta: Value,
}

/// One version in a shadow's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryItem {
    /// The version this update produced.
    pub version: u64,
    /// When the service applied it, epoch seconds.
    pub timestamp: u64,
    /// What changed from the previous version.
    pub changes: Vec<ShadowChange>,
}

/// One changed value between two versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowChange {
    /// The dotted path, e.g. `desired.brightness`.
    pub path: String,
    /// The value before (`None`: absent).
    pub before: Option<Value>,
    /// The value after (`None`: absent).
    pub after: Option<Value>,
}

/// Queues a desired-state edit (merged into desired; `null` deletes a key). It is sent now
/// when connected, else when the link returns, with a version check. Replies with the edit;
/// `invalid_input` when the patch breaks AWS's rules (not an object, too deep, too large).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowEdit {
    /// Which shadow.
    pub shadow: ShadowRef,
    /// The desired patch: a JSON object.
    pub desired: Value,
}

impl Command for ShadowEdit {
    const NAME: &'static str = "shadow_edit";
    type Reply = EditSummary;
}

/// Queues an edit that removes every desired key, so the device's delta empties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowClearDesired {
    /// Which shadow.
    pub shadow: ShadowRef,
}

impl Command for ShadowClearDesired {
    const NAME: &'static str = "shadow_clear_desired";
    type Reply = EditSummary;
}

/// An edit in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EditSummary {
    /// Its id (and place in the order).
    pub id: i64,
    /// The desired patch.
    pub desired: Value,
    /// The version it is based on, once known.
    pub base_version: Option<u64>,
    /// How many times it was published.
    pub attempts: u32,
    /// Where it stands.
    pub status: EditStatus,
}

/// Where an edit stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum EditStatus {
    /// Waiting to be sent (offline) or for its answer.
    Queued,
    /// Accepted at `version`; the device has not reported the values yet.
    Pending {
        /// The version it produced.
        version: u64,
    },
    /// The device reports the values.
    Applied {
        /// The version it produced.
        version: u64,
    },
    /// The shadow changed since the edit's base: nothing was written.
    Conflict {
        /// Why, in words.
        reason: String,
        /// The shadow's version now, when it exists.
        current_version: Option<u64>,
    },
    /// The service refused it.
    Rejected {
        /// AWS's code.
        code: u16,
        /// AWS's message.
        message: String,
    },
    /// A later edit rewrote every key it set.
    Superseded {
        /// The version it produced.
        version: u64,
    },
}

impl EditStatus {
    /// A short label for badges.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Pending { .. } => "pending",
            Self::Applied { .. } => "applied",
            Self::Conflict { .. } => "conflict",
            Self::Rejected { .. } => "rejected",
            Self::Superseded { .. } => "superseded",
        }
    }
}

/// A followed shadow or one of its edits changed; the workbench opens it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowChanged {
    /// Which shadow.
    pub shadow: ShadowRef,
}

impl Event for ShadowChanged {
    const NAME: &'static str = "shadow-changed";
}
