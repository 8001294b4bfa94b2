//! One device: its details, jobs, telemetry series, chart points and raw message log.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Command, Event, ThingSummary};

/// Reads one thing's details. Replies with [`DeviceDetail`]; `not_found` when the registry
/// does not know it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceGet {
    /// The thing name.
    pub thing: String,
}

impl Command for DeviceGet {
    const NAME: &'static str = "device_get";
    type Reply = DeviceDetail;
}

/// Everything the device page shows above its panels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceDetail {
    /// What the fleet list shows of it.
    pub summary: ThingSummary,
    /// Signal strength in dBm, when reported.
    pub signal_dbm: Option<i64>,
    /// Attributes from provisioning or import.
    pub attributes: BTreeMap<String, String>,
    /// Its job executions, newest first.
    pub jobs: Vec<JobSummary>,
    /// The names of its telemetry series, sorted.
    pub series: Vec<String>,
    /// Its shadows the app knows: `None` is the classic shadow, then named ones by name.
    pub shadows: Vec<Option<String>>,
}

/// One job execution of a device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSummary {
    /// The job id.
    pub job_id: String,
    /// `QUEUED`, `IN_PROGRESS`, `SUCCEEDED`, `FAILED`, …
    pub status: String,
    /// Progress in percent, when the device reports one.
    pub progress: Option<f64>,
    /// The execution's status details as JSON text.
    pub status_details: String,
    /// Epoch seconds.
    pub queued_at: Option<i64>,
    /// Epoch seconds.
    pub last_updated_at: Option<i64>,
}

/// A chart's time span.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChartSpan {
    /// The last 5 minutes (1 s points).
    #[default]
    FiveMinutes,
    /// The last hour (12 s points).
    OneHour,
    /// The last 24 hours.
    OneDay,
    /// The last 7 days.
    SevenDays,
}

impl ChartSpan {
    /// Every span, shortest first.
    pub const ALL: [ChartSpan; 4] = [
        Self::FiveMinutes,
        Self::OneHour,
        Self::OneDay,
        Self::SevenDays,
    ];

    /// A short label for display.
    pub fn label(self) -> &'static str {
        match self {
            Self::FiveMinutes => "5 min",
            Self::OneHour => "1 h",
            Self::OneDay => "24 h",
            Self::SevenDays => "7 d",
        }
    }

    /// The span in milliseconds.
    pub fn span_ms(self) -> i64 {
        const MINUTE: i64 = 60_000;
        match self {
            Self::FiveMinutes => 5 * MINUTE,
            Self::OneHour => 60 * MINUTE,
            Self::OneDay => 24 * 60 * MINUTE,
            Self::SevenDays => 7 * 24 * 60 * MINUTE,
        }
    }
}

/// Reads the chart points of one series. Replies with [`Chart`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TelemetryChart {
    /// The thing.
    pub thing: String,
    /// The series, e.g. `sample.temperature_c`.
    pub series: String,
    /// The span, ending now.
    pub span: ChartSpan,
}

impl Command for TelemetryChart {
    const NAME: &'static str = "telemetry_chart";
    type Reply = Chart;
}

/// A chart: the window and its points, oldest first. Buckets without samples are absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    /// The window's start, epoch milliseconds.
    pub from_ms: i64,
    /// The window's end, epoch milliseconds.
    pub to_ms: i64,
    /// The points.
    pub points: Vec<ChartPoint>,
}

/// One chart point: the samples of one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChartPoint {
    /// The bucket's start, epoch milliseconds.
    pub t_ms: i64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Mean.
    pub avg: f64,
}

/// Says which device's live telemetry the window shows (`None`: none). Only that device's
/// values are sent as [`TelemetryFrame`]s, so a large fleet's stream stays in the backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TelemetryFollow {
    /// The device, or `None`.
    pub thing: Option<String>,
}

impl Command for TelemetryFollow {
    const NAME: &'static str = "telemetry_follow";
    type Reply = ();
}

/// The newest values of the series that changed, at most 30 times a second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TelemetryFrame {
    /// One entry per changed series.
    pub updates: Vec<SeriesValue>,
}

impl Event for TelemetryFrame {
    const NAME: &'static str = "telemetry-frame";
}

/// The newest value of one series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesValue {
    /// The thing.
    pub thing: String,
    /// The series.
    pub series: String,
    /// When it was received, epoch milliseconds.
    pub at_ms: i64,
    /// The value.
    pub value: f64,
}

/// Reads the newest messages of a device's raw log. Replies with them, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawLog {
    /// The thing.
    pub thing: String,
    /// At most this many (the backend caps it at 1,000).
    pub limit: u32,
}

impl Command for RawLog {
    const NAME: &'static str = "raw_log";
    type Reply = Vec<RawEntry>;
}

/// One message as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawEntry {
    /// Epoch milliseconds.
    pub received_ms: i64,
    /// The topic.
    pub topic: String,
    /// The payload as text (invalid UTF-8 replaced).
    pub payload: String,
    /// The payload's size in bytes.
    pub bytes: usize,
}

/// Saves a device's raw log (up to 1,000 newest messages) as a JSON file in the app's export
/// folder. Replies with where it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawLogExport {
    /// The thing.
    pub thing: String,
}

impl Command for RawLogExport {
    const NAME: &'static str = "raw_log_export";
    type Reply = ExportedFile;
}

/// A file the app wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedFile {
    /// Its full path.
    pub path: String,
    /// How many records it holds.
    pub records: usize,
}
