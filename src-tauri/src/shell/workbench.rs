//! The device page's calls: details, shadows (open, edit, clear), charts and the raw log.
//! Each maps a `companion-model` request onto the engine and its answer back.

use companion_awsiot::ThingName;
use companion_awsiot::topic::ShadowKind;
use companion_core::registry::{JobView, Registry, controls};
use companion_core::session::ConnectionState as SessionState;
use companion_core::shadows::{
    EditId, EditRecord, EditState, HistoryEntry, ShadowView, Shadows, ShadowsError, diff,
};
use companion_core::telemetry::{ChartWindow, Telemetry};
use companion_model::{
    BulkResult, Chart, ChartPoint, ChartSpan, Control, ControlKind, DeviceDetail, EditStatus,
    EditSummary, ErrorCode, ExportedFile, HistoryItem, IpcError, JobSummary, RawEntry,
    ShadowChange, ShadowDocument, ShadowPanel, ShadowRef,
};
use serde_json::Value;

use super::{Shell, sentence, summary, unavailable};

/// History entries the workbench shows.
const HISTORY_SHOWN: usize = 50;
/// The most raw messages one call returns.
const RAW_LOG_MAX: u32 = 1_000;

/// What the device calls need from the engine, cloned out so no lock is held while they run.
pub(super) struct Parts {
    pub registry: Registry,
    pub shadows: Shadows,
    pub telemetry: Telemetry,
    pub connected: bool,
}

impl Shell {
    /// One thing's details, jobs, series and known shadows.
    pub async fn device(&self, thing: &str) -> Result<DeviceDetail, IpcError> {
        let parts = self.parts().await?;
        let Some(found) = parts.registry.get(thing).await.map_err(internal)? else {
            return Err(IpcError::new(
                ErrorCode::NotFound,
                format!("No thing named “{thing}” is in this fleet."),
            ));
        };
        let jobs = parts.registry.jobs(thing).await.map_err(internal)?;
        let series = parts.telemetry.series(thing).await.map_err(internal)?;
        let mut named: Vec<String> = controls::known_named_shadows(found.model.as_deref())
            .into_iter()
            .map(str::to_owned)
            .collect();
        if let Ok(name) = ThingName::new(thing) {
            named.extend(
                parts
                    .shadows
                    .known(&name)
                    .into_iter()
                    .filter_map(|kind| match kind {
                        ShadowKind::Classic => None,
                        ShadowKind::Named(name) => Some(name.as_str().to_owned()),
                    }),
            );
        }
        named.sort();
        named.dedup();
        let shadows = std::iter::once(None)
            .chain(named.into_iter().map(Some))
            .collect();
        Ok(DeviceDetail {
            signal_dbm: found.signal_dbm,
            attributes: found.attributes.clone(),
            summary: summary(found, 0),
            jobs: jobs.into_iter().map(job).collect(),
            series,
            shadows,
        })
    }

    /// Follows a shadow and returns it with its edits and history.
    pub async fn shadow_open(&self, shadow: &ShadowRef) -> Result<ShadowPanel, IpcError> {
        let parts = self.parts().await?;
        let (thing, kind) = key(shadow)?;
        // Offline or slow: the local copy is shown and the watch keeps following.
        match parts.shadows.watch(&thing, &kind).await {
            Ok(_) | Err(ShadowsError::Offline | ShadowsError::Timeout(_)) => {}
            Err(error) => return Err(shadow_error(error)),
        }
        let model = parts
            .registry
            .get(thing.as_str())
            .await
            .map_err(internal)?
            .and_then(|found| found.model);
        panel(&parts, &thing, &kind, model.as_deref()).await
    }

    /// Queues the same desired patch on many things' classic shadows; one result each. A
    /// shadow never read is read first, so the edit has a version to be checked against.
    pub async fn bulk_edit(
        &self,
        things: &[String],
        desired: &Value,
    ) -> Result<Vec<BulkResult>, IpcError> {
        if !desired.is_object() {
            return Err(IpcError::new(
                ErrorCode::InvalidInput,
                "The desired state must be a JSON object, such as {\"on\": true}.",
            ));
        }
        let parts = self.parts().await?;
        let mut results = Vec::with_capacity(things.len());
        for thing in things {
            let shadow = ShadowRef {
                thing: thing.clone(),
                name: None,
            };
            let outcome = async {
                let (name, kind) = key(&shadow)?;
                if parts.shadows.cached(&name, &kind).is_none() {
                    match parts.shadows.watch(&name, &kind).await {
                        Ok(_) | Err(ShadowsError::Offline | ShadowsError::Timeout(_)) => {}
                        Err(error) => return Err(shadow_error(error)),
                    }
                }
                self.shadow_edit(&shadow, desired).await
            };
            results.push(match outcome.await {
                Ok(edit) => BulkResult {
                    thing: thing.clone(),
                    ok: true,
                    message: edit.status.label().to_owned(),
                },
                Err(error) => BulkResult {
                    thing: thing.clone(),
                    ok: false,
                    message: error.message,
                },
            });
        }
        Ok(results)
    }

    /// Queues a desired-state edit of a shadow.
    pub async fn shadow_edit(
        &self,
        shadow: &ShadowRef,
        desired: &Value,
    ) -> Result<EditSummary, IpcError> {
        let Value::Object(patch) = desired else {
            return Err(IpcError::new(
                ErrorCode::InvalidInput,
                "The desired state must be a JSON object, such as {\"on\": true}.",
            ));
        };
        let parts = self.parts().await?;
        let (thing, kind) = key(shadow)?;
        let edit = parts
            .shadows
            .edit(&thing, &kind, patch.clone(), None)
            .await
            .map_err(shadow_error)?;
        let record = parts
            .shadows
            .edit_record(edit.id())
            .await
            .map_err(shadow_error)?
            .ok_or_else(|| internal("the queued edit is missing from the outbox"))?;
        Ok(edit_summary(record))
    }

    /// Queues an edit that deletes every desired key of a shadow.
    pub async fn shadow_clear_desired(&self, shadow: &ShadowRef) -> Result<EditSummary, IpcError> {
        let parts = self.parts().await?;
        let (thing, kind) = key(shadow)?;
        let desired = parts
            .shadows
            .cached(&thing, &kind)
            .map(|view| view.desired)
            .unwrap_or_default();
        if desired.is_empty() {
            return Err(IpcError::new(
                ErrorCode::InvalidInput,
                "Nothing is desired in this shadow, so there is nothing to clear.",
            ));
        }
        let patch: serde_json::Map<String, Value> =
            desired.keys().map(|k| (k.clone(), Value::Null)).collect();
        self.shadow_edit(shadow, &Value::Object(patch)).await
    }

    /// A chart of one series over a span ending now.
    pub async fn chart(
        &self,
        thing: &str,
        series: &str,
        span: ChartSpan,
        now_ms: i64,
    ) -> Result<Chart, IpcError> {
        let parts = self.parts().await?;
        let window = chart_window(span);
        let (from_ms, to_ms) = window.range(now_ms);
        let buckets = parts
            .telemetry
            .buckets(thing, series, window, now_ms)
            .await
            .map_err(internal)?;
        Ok(Chart {
            from_ms,
            to_ms,
            points: buckets
                .into_iter()
                .map(|b| ChartPoint {
                    t_ms: b.start_ms,
                    min: b.min,
                    max: b.max,
                    avg: b.avg,
                })
                .collect(),
        })
    }

    /// The newest messages of a device's raw log.
    pub async fn raw_log(&self, thing: &str, limit: u32) -> Result<Vec<RawEntry>, IpcError> {
        let parts = self.parts().await?;
        let limit = usize::try_from(limit.min(RAW_LOG_MAX)).unwrap_or(0);
        let messages = parts
            .telemetry
            .raw_log(thing, limit)
            .await
            .map_err(internal)?;
        Ok(messages
            .into_iter()
            .map(|m| RawEntry {
                received_ms: m.received_ms,
                topic: m.topic,
                bytes: m.payload.len(),
                payload: String::from_utf8_lossy(&m.payload).into_owned(),
            })
            .collect())
    }

    /// Writes a device's raw log to `<data dir>/exports/<thing>-raw-<time>.json`.
    pub async fn export_raw_log(&self, thing: &str, now_ms: i64) -> Result<ExportedFile, IpcError> {
        // A valid thing name holds no path separators; ':' is not allowed in Windows names.
        let (valid, _) = key(&ShadowRef {
            thing: thing.to_owned(),
            name: None,
        })?;
        let entries = self.raw_log(thing, RAW_LOG_MAX).await?;
        let file = format!("{}-raw-{now_ms}.json", valid.as_str().replace(':', "_"));
        let json = serde_json::to_vec_pretty(&entries).map_err(internal)?;
        let path = self.write_export(&file, json).await?;
        Ok(ExportedFile {
            path,
            records: entries.len(),
        })
    }

    /// The shadow an edit belongs to, while the engine runs.
    pub async fn edit_shadow(&self, id: EditId) -> Option<ShadowRef> {
        let parts = self.parts().await.ok()?;
        let record = parts.shadows.edit_record(id).await.ok()??;
        Some(shadow_ref(&record.thing, &record.shadow))
    }

    /// The engine's handles, or `unavailable` while it starts.
    pub(super) async fn parts(&self) -> Result<Parts, IpcError> {
        let engine = self.engine.lock().await;
        let engine = engine.as_ref().ok_or_else(unavailable)?;
        Ok(Parts {
            registry: engine.registry().clone(),
            shadows: engine.shadows().clone(),
            telemetry: engine.telemetry().clone(),
            connected: matches!(
                *engine.connection().borrow(),
                SessionState::Connected { .. }
            ),
        })
    }
}

impl Parts {
    /// Open edits (queued or waiting for the device) per thing.
    pub async fn pending_edits(&self) -> std::collections::HashMap<String, u32> {
        match self.shadows.open_edit_counts().await {
            Ok(counts) => counts,
            Err(error) => {
                tracing::warn!(%error, "the pending edits cannot be counted");
                std::collections::HashMap::new()
            }
        }
    }
}

/// The shadow's document, its edits and history.
async fn panel(
    parts: &Parts,
    thing: &ThingName,
    kind: &ShadowKind,
    model: Option<&str>,
) -> Result<ShadowPanel, IpcError> {
    let view = parts.shadows.cached(thing, kind);
    let name = match kind {
        ShadowKind::Classic => None,
        ShadowKind::Named(name) => Some(name.as_str()),
    };
    let reported = view
        .as_ref()
        .map(|v| v.reported.clone())
        .unwrap_or_default();
    let controls = controls::controls_for(model, name, &reported)
        .into_iter()
        .map(control)
        .collect();
    let document = view.as_ref().map(document);
    let edits = parts
        .shadows
        .edits_of(thing, kind)
        .await
        .map_err(shadow_error)?
        .into_iter()
        .map(edit_summary)
        .collect();
    let history = parts
        .shadows
        .history(thing, kind, HISTORY_SHOWN)
        .await
        .map_err(shadow_error)?
        .into_iter()
        .map(history_item)
        .collect();
    Ok(ShadowPanel {
        document,
        offline: !parts.connected,
        edits,
        history,
        controls,
    })
}

fn control(control: controls::Control) -> Control {
    Control {
        key: control.key,
        label: control.label,
        known: control.known,
        kind: match control.kind {
            controls::ControlKind::Switch => ControlKind::Switch,
            controls::ControlKind::Range {
                min,
                max,
                step,
                unit,
            } => ControlKind::Range {
                min,
                max,
                step,
                unit: unit.map(str::to_owned),
            },
            controls::ControlKind::Number => ControlKind::Number,
            controls::ControlKind::Choice(options) => ControlKind::Choice {
                options: options.into_iter().map(str::to_owned).collect(),
            },
            controls::ControlKind::Text => ControlKind::Text,
        },
    }
}

/// The thing and shadow a reference names, or `invalid_input` saying which rule it breaks.
pub(super) fn key(shadow: &ShadowRef) -> Result<(ThingName, ShadowKind), IpcError> {
    let invalid = |error: companion_awsiot::Error| {
        IpcError::new(ErrorCode::InvalidInput, sentence(&error.to_string()))
    };
    let thing = ThingName::new(shadow.thing.clone()).map_err(invalid)?;
    let kind = match &shadow.name {
        None => ShadowKind::Classic,
        Some(name) => {
            ShadowKind::Named(companion_awsiot::ShadowName::new(name.clone()).map_err(invalid)?)
        }
    };
    Ok((thing, kind))
}

/// The model's reference to a shadow.
pub(crate) fn shadow_ref(thing: &ThingName, kind: &ShadowKind) -> ShadowRef {
    ShadowRef {
        thing: thing.as_str().to_owned(),
        name: match kind {
            ShadowKind::Classic => None,
            ShadowKind::Named(name) => Some(name.as_str().to_owned()),
        },
    }
}

fn document(view: &ShadowView) -> ShadowDocument {
    ShadowDocument {
        version: view.version,
        desired: Value::Object(view.desired.clone()),
        reported: Value::Object(view.reported.clone()),
        delta: Value::Object(view.delta()),
    }
}

fn history_item(entry: HistoryEntry) -> HistoryItem {
    let before = entry.previous.as_ref().map_or_else(
        || ShadowView::default().state_json(),
        ShadowView::state_json,
    );
    HistoryItem {
        version: entry.version,
        timestamp: entry.timestamp,
        changes: diff(&before, &entry.current.state_json())
            .into_iter()
            .map(|change| ShadowChange {
                path: change.dotted(),
                before: change.before,
                after: change.after,
            })
            .collect(),
    }
}

fn edit_summary(record: EditRecord) -> EditSummary {
    EditSummary {
        id: record.id.0,
        desired: Value::Object(record.desired),
        base_version: record.base_version,
        attempts: record.attempts,
        status: edit_status(record.state),
    }
}

fn edit_status(state: EditState) -> EditStatus {
    match state {
        EditState::Queued => EditStatus::Queued,
        EditState::Pending { version } => EditStatus::Pending { version },
        EditState::Applied { version } => EditStatus::Applied { version },
        EditState::Superseded { version } => EditStatus::Superseded { version },
        EditState::Rejected { code, message } => EditStatus::Rejected { code, message },
        EditState::Conflict(conflict) => EditStatus::Conflict {
            reason: sentence(&conflict.reason),
            current_version: conflict.theirs.map(|view| view.version),
        },
    }
}

fn job(view: JobView) -> JobSummary {
    JobSummary {
        job_id: view.job_id,
        status: view.status,
        progress: view.progress,
        status_details: view.status_details,
        queued_at: view.queued_at,
        last_updated_at: view.last_updated_at,
    }
}

fn chart_window(span: ChartSpan) -> ChartWindow {
    match span {
        ChartSpan::FiveMinutes => ChartWindow::FiveMinutes,
        ChartSpan::OneHour => ChartWindow::OneHour,
        ChartSpan::OneDay => ChartWindow::OneDay,
        ChartSpan::SevenDays => ChartWindow::SevenDays,
    }
}

/// A shadow failure in the window's terms: the code decides what the page offers.
fn shadow_error(error: ShadowsError) -> IpcError {
    let code = match &error {
        ShadowsError::Timeout(_) => ErrorCode::Timeout,
        ShadowsError::Offline | ShadowsError::NoBaseVersion | ShadowsError::Session(_) => {
            ErrorCode::Unavailable
        }
        ShadowsError::Rejected { code: 404, .. } => ErrorCode::NotFound,
        ShadowsError::Rejected { code: 409, .. } => ErrorCode::Conflict,
        ShadowsError::Rejected {
            code: 401 | 403, ..
        } => ErrorCode::PermissionDenied,
        ShadowsError::Rejected { .. } | ShadowsError::InvalidEdit { .. } => ErrorCode::InvalidInput,
        ShadowsError::Unexpected(_)
        | ShadowsError::Database(_)
        | ShadowsError::Corrupt(_)
        | ShadowsError::Stopped => ErrorCode::Internal,
    };
    IpcError::new(code, sentence(&error.to_string()))
}

fn internal(error: impl std::fmt::Display) -> IpcError {
    IpcError::new(ErrorCode::Internal, sentence(&error.to_string()))
}
