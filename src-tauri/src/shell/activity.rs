//! The activity calls: the event log, exports, and recording connection changes.

use companion_core::activity::{self, Kind};
use companion_model::{
    ActivityEvent, ConnectionChanged, ConnectionState, ErrorCode, ExportFormat, ExportRecords,
    ExportedFile, IpcError,
};

use super::{Shell, sentence};

impl Shell {
    /// Records a connection change worth keeping: a new state (not a repeat of the last).
    pub async fn record_connection(&self, change: &ConnectionChanged, now_ms: i64) {
        let Ok(settings) = self.settings().await else {
            return;
        };
        let kind = match change.state {
            ConnectionState::Connected | ConnectionState::Connecting => Kind::Connection,
            ConnectionState::Reconnecting | ConnectionState::Disconnected => Kind::Error,
        };
        {
            let mut last = self.last_connection.lock().await;
            if last.as_ref() == Some(&(change.state, change.detail.clone())) {
                return;
            }
            *last = Some((change.state, change.detail.clone()));
        }
        if let Err(error) = settings
            .activity()
            .record(kind, now_ms, &change.detail)
            .await
        {
            tracing::warn!(%error, "the activity log could not be written");
        }
    }

    /// The newest events.
    pub async fn activity(&self, limit: u32) -> Result<Vec<ActivityEvent>, IpcError> {
        let settings = self.settings().await?;
        let events = settings
            .activity()
            .list(limit.min(1_000))
            .await
            .map_err(|e| IpcError::new(ErrorCode::Internal, sentence(&e.to_string())))?;
        Ok(events
            .into_iter()
            .map(|e| ActivityEvent {
                at_ms: e.at_ms,
                kind: e.kind,
                summary: e.summary,
            })
            .collect())
    }

    /// Writes the events or the provisioning audit to `<data dir>/exports/`.
    pub async fn export_activity(
        &self,
        records: ExportRecords,
        format: ExportFormat,
        now_ms: i64,
    ) -> Result<ExportedFile, IpcError> {
        let (name, count, body) = match records {
            ExportRecords::Events => {
                let events = self.activity(1_000).await?;
                let body = match format {
                    ExportFormat::Json => json(&events)?,
                    ExportFormat::Csv => activity::to_csv(
                        &["at_ms", "kind", "summary"],
                        &events
                            .iter()
                            .map(|e| vec![e.at_ms.to_string(), e.kind.clone(), e.summary.clone()])
                            .collect::<Vec<_>>(),
                    ),
                };
                ("activity", events.len(), body)
            }
            ExportRecords::Provisioning => {
                let attempts = self.provision_history(500).await?;
                let body = match format {
                    ExportFormat::Json => json(&attempts)?,
                    ExportFormat::Csv => activity::to_csv(
                        &[
                            "id",
                            "device",
                            "transport",
                            "started_ms",
                            "finished_ms",
                            "result",
                            "ssid",
                            "thing_name",
                            "certificate_id",
                            "certificate_delivered",
                            "error",
                        ],
                        &attempts
                            .iter()
                            .map(|a| {
                                vec![
                                    a.id.to_string(),
                                    a.device.clone(),
                                    a.transport.clone(),
                                    a.started_ms.to_string(),
                                    a.finished_ms.map(|t| t.to_string()).unwrap_or_default(),
                                    a.result.clone(),
                                    a.ssid.clone().unwrap_or_default(),
                                    a.thing_name.clone().unwrap_or_default(),
                                    a.certificate_id.clone().unwrap_or_default(),
                                    a.certificate_delivered.to_string(),
                                    a.error.clone().unwrap_or_default(),
                                ]
                            })
                            .collect::<Vec<_>>(),
                    ),
                };
                ("provisioning", attempts.len(), body)
            }
        };
        let extension = match format {
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
        };
        let path = self
            .write_export(&format!("{name}-{now_ms}.{extension}"), body.into_bytes())
            .await?;
        Ok(ExportedFile {
            path,
            records: count,
        })
    }

    /// Writes `bytes` to `<data dir>/exports/<file>`; returns the full path.
    pub(super) async fn write_export(
        &self,
        file: &str,
        bytes: Vec<u8>,
    ) -> Result<String, IpcError> {
        let dir = self.data_dir.join("exports");
        let path = dir.join(file);
        let write = async {
            tokio::fs::create_dir_all(&dir).await?;
            tokio::fs::write(&path, bytes).await
        };
        write.await.map_err(|error| {
            IpcError::new(
                ErrorCode::PermissionDenied,
                format!(
                    "The file could not be saved to {}: {error}. Check that the folder is writable.",
                    path.display()
                ),
            )
        })?;
        Ok(path.display().to_string())
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, IpcError> {
    serde_json::to_string_pretty(value)
        .map_err(|e| IpcError::new(ErrorCode::Internal, sentence(&e.to_string())))
}
