//! The JSON payloads of the Device Shadow MQTT API (reference §1.2, §1.5), as serde types.
//!
//! Clients build requests and parse responses with these; the service engine produces its
//! responses through the same types, so both sides agree on field names and optionality.
//! State sections are kept as JSON objects (`serde_json::Map`): a shadow's content is
//! free-form by design.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::Error;
use crate::topic::{Outcome, ShadowMessage, ShadowOperation, ShadowTopic};

/// A JSON object, the type of every state and metadata section.
pub type Object = Map<String, Value>;

/// A field that can be absent, explicitly `null`, or a value.
///
/// Shadow requests need all three: an absent `desired` leaves the section alone, while
/// `"desired": null` deletes it (the Python SDK's `desired_is_nullable` flag).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Nullable<T> {
    /// The key is not in the JSON object.
    #[default]
    Absent,
    /// The key is present with the value `null`.
    Null,
    /// The key is present with a value.
    Value(T),
}

impl<T> Nullable<T> {
    /// True when the key is not present (used to skip it when serialising).
    pub fn is_absent(&self) -> bool {
        matches!(self, Self::Absent)
    }

    /// The value, if there is one.
    pub fn value(&self) -> Option<&T> {
        match self {
            Self::Value(v) => Some(v),
            Self::Absent | Self::Null => None,
        }
    }
}

impl<T: Serialize> Serialize for Nullable<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Value(v) => v.serialize(serializer),
            Self::Absent | Self::Null => serializer.serialize_none(),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Nullable<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(deserializer)? {
            Some(v) => Self::Value(v),
            None => Self::Null,
        })
    }
}

/// The `state` of an update request or of its accepted echo: `desired` and/or `reported`,
/// each absent, `null` (delete the section) or an object to merge.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ShadowState {
    /// The state the device should have.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub desired: Nullable<Object>,
    /// The state the device reports it has.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub reported: Nullable<Object>,
}

/// An `/update` request document.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateShadowRequest {
    /// The state to merge; `None` is sent as `"state": null`, which clears both sections.
    pub state: Option<ShadowState>,
    /// Correlates the response (at most 64 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
    /// Optimistic locking: the update applies only if this is the shadow's current version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

/// A `/get` or `/delete` request: only a client token (the body may also be empty).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientTokenRequest {
    /// Correlates the response (at most 64 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// `desired` and `reported` as stored: used for state and for metadata in snapshots.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ShadowSections {
    /// The desired section, absent when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<Object>,
    /// The reported section, absent when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported: Option<Object>,
}

/// The state of a `/get/accepted` response: the stored sections plus the current delta.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ShadowStateWithDelta {
    /// The desired section, absent when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<Object>,
    /// The reported section, absent when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported: Option<Object>,
    /// Desired keys that reported does not match, absent when in sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<Object>,
}

/// `/get/accepted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetShadowResponse {
    /// Desired, reported and delta.
    pub state: ShadowStateWithDelta,
    /// Per-field timestamps of desired and reported.
    pub metadata: ShadowSections,
    /// The current version.
    pub version: u64,
    /// When the response was produced, epoch seconds.
    pub timestamp: u64,
    /// The request's client token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// `/update/accepted`: an echo of the request's state with metadata for exactly those fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateShadowResponse {
    /// The request's state, nulls included (`null` when the request sent `"state": null`).
    pub state: Option<ShadowState>,
    /// Timestamps mirroring `state`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// The new version.
    pub version: u64,
    /// When the update was applied, epoch seconds.
    pub timestamp: u64,
    /// The request's client token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// `/delete/accepted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteShadowResponse {
    /// The version of the deleted document (kept for a later re-creation).
    pub version: u64,
    /// When the shadow was deleted, epoch seconds.
    pub timestamp: u64,
    /// The request's client token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// `/update/delta`: every desired key that reported does not match, with desired's metadata.
/// Note `state` and `metadata` are not wrapped in `desired`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShadowDeltaEvent {
    /// The out-of-sync desired keys.
    pub state: Object,
    /// Desired's timestamps for those keys.
    pub metadata: Object,
    /// The shadow's version after the update.
    pub version: u64,
    /// When the update was applied, epoch seconds.
    pub timestamp: u64,
    /// The client token of the update that caused this event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// One full document inside an `/update/documents` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowSnapshot {
    /// Desired and reported.
    pub state: ShadowSections,
    /// Their timestamps.
    pub metadata: ShadowSections,
    /// The document's version.
    pub version: u64,
}

/// `/update/documents`: the document before and after an accepted update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShadowDocumentsEvent {
    /// The document before the update; absent when the update created the shadow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<ShadowSnapshot>,
    /// The document after the update.
    pub current: ShadowSnapshot,
    /// When the update was applied, epoch seconds.
    pub timestamp: u64,
    /// The client token of the update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// A `.../rejected` payload: an HTTP-like code and AWS's exact message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShadowErrorResponse {
    /// HTTP status code, e.g. 400, 404, 409, 413, 415.
    pub code: u16,
    /// AWS's message text.
    pub message: String,
    /// When the error was produced, epoch seconds (AWS omits it on some errors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
    /// The request's client token, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// Any message the Shadow service publishes, parsed according to its topic.
#[derive(Debug, Clone, PartialEq)]
pub enum ShadowResponse {
    /// `/get/accepted`
    GetAccepted(GetShadowResponse),
    /// `/update/accepted`
    UpdateAccepted(UpdateShadowResponse),
    /// `/delete/accepted`
    DeleteAccepted(DeleteShadowResponse),
    /// `/{operation}/rejected`
    Rejected(ShadowOperation, ShadowErrorResponse),
    /// `/update/delta`
    Delta(ShadowDeltaEvent),
    /// `/update/documents`
    Documents(ShadowDocumentsEvent),
}

impl ShadowResponse {
    /// Parses the payload of a service message published on `topic`. Returns `Ok(None)` for a
    /// request topic (a client's message, not the service's).
    pub fn parse(topic: &ShadowTopic, payload: &[u8]) -> Result<Option<Self>, Error> {
        Ok(Some(match topic.message {
            ShadowMessage::Request(_) => return Ok(None),
            ShadowMessage::Response(op, Outcome::Rejected) => Self::Rejected(op, decode(payload)?),
            ShadowMessage::Response(ShadowOperation::Get, _) => Self::GetAccepted(decode(payload)?),
            ShadowMessage::Response(ShadowOperation::Update, _) => {
                Self::UpdateAccepted(decode(payload)?)
            }
            ShadowMessage::Response(ShadowOperation::Delete, _) => {
                Self::DeleteAccepted(decode(payload)?)
            }
            ShadowMessage::Delta => Self::Delta(decode(payload)?),
            ShadowMessage::Documents => Self::Documents(decode(payload)?),
        }))
    }

    /// The client token the response echoes, for correlating it with a request.
    pub fn client_token(&self) -> Option<&str> {
        match self {
            Self::GetAccepted(r) => r.client_token.as_deref(),
            Self::UpdateAccepted(r) => r.client_token.as_deref(),
            Self::DeleteAccepted(r) => r.client_token.as_deref(),
            Self::Rejected(_, r) => r.client_token.as_deref(),
            Self::Delta(r) => r.client_token.as_deref(),
            Self::Documents(r) => r.client_token.as_deref(),
        }
    }
}

/// Decodes a JSON payload into `T`, naming `T` in the error.
pub(crate) fn decode<'a, T: Deserialize<'a>>(payload: &'a [u8]) -> Result<T, Error> {
    serde_json::from_slice(payload).map_err(|e| Error::MalformedPayload {
        what: std::any::type_name::<T>()
            .rsplit("::")
            .next()
            .unwrap_or("shadow"),
        detail: e.to_string(),
    })
}

/// Encodes a payload as compact JSON. Serialising these types cannot fail (string keys only).
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}
