//! One shadow's state machine: existence, version and document, and the responses to each
//! operation.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::document::{Document, merge, object_metadata, value_metadata};
use super::error::ShadowError;
use super::wire::{
    DeleteShadowResponse, GetShadowResponse, Nullable, Object, ShadowDeltaEvent,
    ShadowDocumentsEvent, ShadowSnapshot, ShadowState, ShadowStateWithDelta, UpdateShadowRequest,
    UpdateShadowResponse,
};
use super::{MissingShadowVersion, ShadowConfig};
use crate::Timestamp;

/// One shadow as the service keeps it.
///
/// A shadow that was never created, or was deleted, has no document but keeps its last
/// version, so that a re-created shadow continues from it (reference §1.6).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Shadow {
    document: Option<Document>,
    version: u64,
    deleted_at: Option<Timestamp>,
}

/// The three messages an accepted update produces.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateOutcome {
    /// For `/update/accepted`.
    pub accepted: UpdateShadowResponse,
    /// For `/update/documents`.
    pub documents: ShadowDocumentsEvent,
    /// For `/update/delta`, only when the delta after the update is not empty.
    pub delta: Option<ShadowDeltaEvent>,
}

impl Shadow {
    /// A shadow that does not exist yet (version 0).
    pub fn new() -> Self {
        Self::default()
    }

    /// True when the shadow currently exists (created and not deleted).
    pub fn exists(&self) -> bool {
        self.document.is_some()
    }

    /// The current version, or the last version of a deleted shadow.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The stored document, when the shadow exists.
    pub fn document(&self) -> Option<&Document> {
        self.document.as_ref()
    }

    /// Applies a validated update at `now`.
    ///
    /// On success the shadow's version is incremented (also when nothing changed) and the
    /// responses are returned; on rejection the shadow is left exactly as it was.
    pub fn update(
        &mut self,
        request: &UpdateShadowRequest,
        config: &ShadowConfig,
        now: Timestamp,
    ) -> Result<UpdateOutcome, ShadowError> {
        let token = request.client_token.clone();
        self.check_version(request.version, config, now)
            .map_err(|e| e.with_client_token(token.clone()))?;
        let mut next = self.document.clone().unwrap_or_default();
        apply_state(&mut next, request.state.as_ref(), now.secs());
        if next.size() > config.max_document_bytes {
            return Err(ShadowError::payload_too_large().with_client_token(token));
        }
        let previous = self.snapshot();
        self.version = self.base_version(config, now) + 1;
        self.document = Some(next);
        self.deleted_at = None;
        Ok(self.update_outcome(request, previous, now))
    }

    /// The `/get/accepted` response, or `None` when the shadow does not exist.
    pub fn get(&self, client_token: Option<String>, now: Timestamp) -> Option<GetShadowResponse> {
        let document = self.document.as_ref()?;
        let delta = document.delta();
        let sections = document.state_sections();
        Some(GetShadowResponse {
            state: ShadowStateWithDelta {
                desired: sections.desired,
                reported: sections.reported,
                delta: (!delta.is_empty()).then_some(delta),
            },
            metadata: document.metadata_sections(),
            version: self.version,
            timestamp: now.secs(),
            client_token,
        })
    }

    /// Deletes the shadow, keeping its version; `None` when it does not exist.
    pub fn delete(
        &mut self,
        client_token: Option<String>,
        now: Timestamp,
    ) -> Option<DeleteShadowResponse> {
        self.document.take()?;
        self.deleted_at = Some(now);
        Some(DeleteShadowResponse {
            version: self.version,
            timestamp: now.secs(),
            client_token,
        })
    }

    fn check_version(
        &self,
        requested: Option<u64>,
        config: &ShadowConfig,
        now: Timestamp,
    ) -> Result<(), ShadowError> {
        let Some(requested) = requested else {
            return Ok(());
        };
        let last = self.base_version(config, now);
        if self.exists()
            || config.missing_shadow_version == MissingShadowVersion::ConflictUnlessLast
        {
            return if requested == last {
                Ok(())
            } else {
                Err(ShadowError::version_conflict())
            };
        }
        match config.missing_shadow_version {
            MissingShadowVersion::InvalidUnlessLast if requested != last => {
                Err(ShadowError::invalid_version())
            }
            _ => Ok(()),
        }
    }

    /// The version the next update builds on: the current one, except that a shadow deleted
    /// longer ago than the retention period starts again from 0.
    fn base_version(&self, config: &ShadowConfig, now: Timestamp) -> u64 {
        match (self.deleted_at, config.version_retention_secs) {
            (Some(at), Some(keep)) if !self.exists() && now > at.plus_secs(keep) => 0,
            _ => self.version,
        }
    }

    fn snapshot(&self) -> Option<ShadowSnapshot> {
        let document = self.document.as_ref()?;
        Some(ShadowSnapshot {
            state: document.state_sections(),
            metadata: document.metadata_sections(),
            version: self.version,
        })
    }

    fn update_outcome(
        &self,
        request: &UpdateShadowRequest,
        previous: Option<ShadowSnapshot>,
        now: Timestamp,
    ) -> UpdateOutcome {
        let secs = now.secs();
        let client_token = request.client_token.clone();
        let accepted = UpdateShadowResponse {
            state: request.state.clone(),
            metadata: request.state.as_ref().map(|s| request_metadata(s, secs)),
            version: self.version,
            timestamp: secs,
            client_token: client_token.clone(),
        };
        let current = self
            .snapshot()
            .unwrap_or_else(|| empty_snapshot(self.version));
        let documents = ShadowDocumentsEvent {
            previous,
            current,
            timestamp: secs,
            client_token,
        };
        UpdateOutcome {
            accepted,
            documents,
            delta: self.delta_event(request, secs),
        }
    }

    fn delta_event(&self, request: &UpdateShadowRequest, secs: u64) -> Option<ShadowDeltaEvent> {
        let document = self.document.as_ref()?;
        let delta = document.delta();
        if delta.is_empty() {
            return None;
        }
        Some(ShadowDeltaEvent {
            metadata: document.delta_metadata(&delta),
            state: delta,
            version: self.version,
            timestamp: secs,
            client_token: request.client_token.clone(),
        })
    }

    /// The shadow in a form a caller can persist (e.g. in SQLite) and restore with
    /// [`Shadow::from_stored`].
    pub fn to_stored(&self) -> StoredShadow {
        let document = self.document.as_ref();
        StoredShadow {
            exists: document.is_some(),
            desired: document.map(|d| d.desired.clone()).unwrap_or_default(),
            reported: document.map(|d| d.reported.clone()).unwrap_or_default(),
            desired_metadata: document
                .map(|d| d.desired_metadata.clone())
                .unwrap_or_default(),
            reported_metadata: document
                .map(|d| d.reported_metadata.clone())
                .unwrap_or_default(),
            version: self.version,
            deleted_at_ms: self.deleted_at.map(Timestamp::millis),
        }
    }

    /// Restores a shadow saved with [`Shadow::to_stored`].
    pub fn from_stored(stored: StoredShadow) -> Self {
        let document = if stored.exists {
            Some(Document {
                desired: stored.desired,
                reported: stored.reported,
                desired_metadata: stored.desired_metadata,
                reported_metadata: stored.reported_metadata,
            })
        } else {
            None
        };
        Self {
            document,
            version: stored.version,
            deleted_at: stored.deleted_at_ms.map(Timestamp::from_millis),
        }
    }
}

/// A persistable form of [`Shadow`]; its JSON shape is this crate's, not AWS's.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredShadow {
    /// Whether the shadow currently exists.
    pub exists: bool,
    /// The desired section.
    pub desired: Object,
    /// The reported section.
    pub reported: Object,
    /// Desired's timestamps.
    pub desired_metadata: Object,
    /// Reported's timestamps.
    pub reported_metadata: Object,
    /// Current or last version.
    pub version: u64,
    /// When it was deleted (epoch ms), if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at_ms: Option<u64>,
}

fn empty_snapshot(version: u64) -> ShadowSnapshot {
    ShadowSnapshot {
        state: Default::default(),
        metadata: Default::default(),
        version,
    }
}

/// Applies a request's `state` to a document: `None` (`"state": null`) clears both sections.
fn apply_state(document: &mut Document, state: Option<&ShadowState>, secs: u64) {
    let Some(state) = state else {
        *document = Document::default();
        return;
    };
    apply_section(
        &mut document.desired,
        &mut document.desired_metadata,
        &state.desired,
        secs,
    );
    apply_section(
        &mut document.reported,
        &mut document.reported_metadata,
        &state.reported,
        secs,
    );
}

fn apply_section(section: &mut Object, metadata: &mut Object, patch: &Nullable<Object>, secs: u64) {
    match patch {
        Nullable::Absent => {}
        Nullable::Null => {
            section.clear();
            metadata.clear();
        }
        Nullable::Value(patch) => merge(section, metadata, patch, secs),
    }
}

/// Metadata for exactly the fields of a request's state, nulls included (reference §1.5).
///
/// Choice: a section sent as `null` gets a single `{"timestamp": t}`, as any null leaf does.
fn request_metadata(state: &ShadowState, secs: u64) -> Value {
    let mut out = Object::new();
    for (name, section) in [("desired", &state.desired), ("reported", &state.reported)] {
        match section {
            Nullable::Absent => {}
            Nullable::Null => {
                out.insert(name.to_owned(), value_metadata(&Value::Null, secs));
            }
            Nullable::Value(map) => {
                out.insert(name.to_owned(), Value::Object(object_metadata(map, secs)));
            }
        }
    }
    Value::Object(out)
}
