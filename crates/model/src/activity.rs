//! The activity page: connection changes and errors, beside the provisioning audit.

use serde::{Deserialize, Serialize};

use crate::{Command, ExportedFile};

/// Lists the newest activity events. Replies with them, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityList {
    /// At most this many (capped at 1,000).
    pub limit: u32,
}

impl Command for ActivityList {
    const NAME: &'static str = "activity_list";
    type Reply = Vec<ActivityEvent>;
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityEvent {
    /// When, epoch ms.
    pub at_ms: i64,
    /// `connection` or `error`.
    pub kind: String,
    /// What happened.
    pub summary: String,
}

/// Saves the activity events or the provisioning audit as a file in the app's export folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityExport {
    /// Which records.
    pub records: ExportRecords,
    /// Which format.
    pub format: ExportFormat,
}

impl Command for ActivityExport {
    const NAME: &'static str = "activity_export";
    type Reply = ExportedFile;
}

/// Which records to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportRecords {
    /// Connection changes and errors.
    Events,
    /// Provisioning attempts.
    Provisioning,
}

/// File format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// Comma-separated values.
    Csv,
    /// A JSON array.
    Json,
}
