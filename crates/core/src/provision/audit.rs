//! The provisioning audit trail: one record per attempt — the device, when, each step's
//! outcome, the result, and the certificate it was given (also when it was issued but never
//! delivered). No secret is ever recorded.

use sqlx::FromRow;

use super::flow::{AttemptView, Outcome, StepState};
use super::transport::{Discovered, TransportKind};
use crate::store::{Store, StoreError};
use crate::telemetry::now_ms;

/// Why the audit trail could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The database failed.
    #[error("the provisioning audit failed: {0}")]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AuditError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(StoreError::Query(error))
    }
}

/// An attempt's result as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditResult {
    /// Under way.
    Running,
    /// Online with its identity.
    Succeeded,
    /// On Wi-Fi without an identity.
    WifiOnly,
    /// Stopped at a failed step.
    Failed,
    /// Cancelled.
    Cancelled,
}

impl AuditResult {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::WifiOnly => "wifi_only",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// One stored attempt.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct AuditRecord {
    /// Its id.
    pub id: i64,
    /// The device's id on its transport.
    pub device_id: String,
    /// The device's advertised name.
    pub device_name: String,
    /// `ble`, `softap` or `simulated`.
    pub transport: String,
    /// Start, epoch ms.
    pub started_ms: i64,
    /// End, epoch ms.
    pub finished_ms: Option<i64>,
    /// `running`, `succeeded`, `wifi_only`, `failed`, `cancelled`.
    pub result: String,
    /// Each step's state, JSON.
    pub steps: String,
    /// The network joined.
    pub ssid: Option<String>,
    /// The registered thing.
    pub thing_name: Option<String>,
    /// The issued certificate.
    pub certificate_id: Option<String>,
    /// Whether the certificate reached the device.
    pub certificate_delivered: bool,
    /// The failure's cause, when it failed.
    pub error: Option<String>,
}

/// The audit trail in the app's database.
#[derive(Debug, Clone)]
pub struct Audit {
    store: Store,
}

impl Audit {
    /// The trail in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Records the start of an attempt; returns its id.
    pub async fn begin(&self, device: &Discovered) -> Result<i64, AuditError> {
        let transport = match device.kind {
            TransportKind::Ble => "ble",
            TransportKind::SoftAp => "softap",
            TransportKind::Simulated => "simulated",
        };
        let id = sqlx::query_scalar(
            "INSERT INTO provisioning_attempts (device_id, device_name, transport, started_ms, \
             result, steps) VALUES (?, ?, ?, ?, 'running', '[]') RETURNING id",
        )
        .bind(&device.id)
        .bind(&device.name)
        .bind(transport)
        .bind(now_ms())
        .fetch_one(self.store.write())
        .await?;
        Ok(id)
    }

    /// Writes an attempt's steps and result.
    pub async fn update(&self, view: &AttemptView, result: AuditResult) -> Result<(), AuditError> {
        let steps: Vec<serde_json::Value> = view
            .steps
            .iter()
            .map(|(step, state)| {
                let (word, detail) = match state {
                    StepState::Waiting => ("waiting", String::new()),
                    StepState::Running => ("running", String::new()),
                    StepState::NeedsInput => ("needs_input", String::new()),
                    StepState::Passed(detail) => ("passed", detail.clone()),
                    StepState::Skipped(detail) => ("skipped", detail.clone()),
                    StepState::Failed(failure) => ("failed", failure.cause.clone()),
                };
                serde_json::json!({"step": step.name(), "state": word, "detail": detail})
            })
            .collect();
        let error = view.steps.iter().find_map(|(_, state)| match state {
            StepState::Failed(failure) => Some(failure.cause.clone()),
            _ => None,
        });
        let finished = (!matches!(view.outcome, Outcome::Running)
            && result != AuditResult::Running)
            .then(now_ms);
        sqlx::query(
            "UPDATE provisioning_attempts SET result = ?, steps = ?, thing_name = ?, \
             certificate_id = ?, error = ?, finished_ms = coalesce(?, finished_ms) WHERE id = ?",
        )
        .bind(result.as_str())
        .bind(serde_json::Value::Array(steps).to_string())
        .bind(&view.thing_name)
        .bind(&view.certificate_id)
        .bind(error)
        .bind(finished)
        .bind(view.id)
        .execute(self.store.write())
        .await?;
        Ok(())
    }

    /// Records that the certificate reached the device.
    pub async fn delivered(
        &self,
        id: i64,
        thing: &str,
        certificate_id: &str,
    ) -> Result<(), AuditError> {
        sqlx::query(
            "UPDATE provisioning_attempts SET certificate_delivered = 1, thing_name = ?, \
             certificate_id = ? WHERE id = ?",
        )
        .bind(thing)
        .bind(certificate_id)
        .bind(id)
        .execute(self.store.write())
        .await?;
        Ok(())
    }

    /// Records the network an attempt joined (its name only).
    pub async fn network(&self, id: i64, ssid: &str) -> Result<(), AuditError> {
        sqlx::query("UPDATE provisioning_attempts SET ssid = ? WHERE id = ?")
            .bind(ssid)
            .bind(id)
            .execute(self.store.write())
            .await?;
        Ok(())
    }

    /// The newest `limit` attempts, newest first.
    pub async fn list(&self, limit: u32) -> Result<Vec<AuditRecord>, AuditError> {
        Ok(sqlx::query_as(
            "SELECT id, device_id, device_name, transport, started_ms, finished_ms, result, \
             steps, ssid, thing_name, certificate_id, certificate_delivered, error \
             FROM provisioning_attempts ORDER BY id DESC LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(self.store.read())
        .await?)
    }
}
