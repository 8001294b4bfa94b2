//! The Device Shadow service (reference §1): a sans-IO engine with AWS's semantics, and the
//! serde types clients use to build requests and read responses.
//!
//! * [`ShadowStore`] is the service side: it takes a request publish and the time and returns
//!   the messages AWS IoT Core would publish (accepted/rejected, delta, documents).
//! * [`Shadow`] is one shadow's state machine (existence, version, document).
//! * [`document`] holds the pure merge/delta/metadata rules.
//! * [`client`] builds requests and the filters a client subscribes to.
//! * [`wire`] holds the payload types, e.g. [`UpdateShadowRequest`] and [`ShadowResponse`].

pub mod client;
pub mod document;
mod engine;
mod error;
pub mod request;
mod store;
pub mod wire;

pub use document::Document;
pub use engine::{Shadow, StoredShadow, UpdateOutcome};
pub use error::ShadowError;
pub use store::{ShadowKey, ShadowRequest, ShadowStore};
pub use wire::{
    ClientTokenRequest, DeleteShadowResponse, GetShadowResponse, Nullable, Object,
    ShadowDeltaEvent, ShadowDocumentsEvent, ShadowErrorResponse, ShadowResponse, ShadowSections,
    ShadowSnapshot, ShadowState, ShadowStateWithDelta, UpdateShadowRequest, UpdateShadowResponse,
};

/// Seconds a deleted shadow's version is remembered: AWS continues the version of a shadow
/// re-created within 48 hours of its deletion (reference §1.6).
pub const VERSION_RETENTION_SECS: u64 = 48 * 3600;

/// Limits and policies of the Shadow engine. `Default` gives AWS's default quotas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowConfig {
    /// Maximum bytes of stored desired + reported JSON after the merge (AWS: 8192, adjustable;
    /// Greengrass allows up to 30 KB). A larger result is rejected with 413.
    pub max_document_bytes: usize,
    /// Maximum nesting depth of a `desired` or `reported` section, counting the section object
    /// itself as level 1 and arrays as levels. Default 6 as Greengrass enforces it (the
    /// reference records 5, 6 and 8 from different sources).
    pub max_depth: usize,
    /// How a `version` in an update of a shadow that does not exist is judged.
    pub missing_shadow_version: MissingShadowVersion,
    /// How long a deleted shadow's version is kept; `None` keeps it forever.
    pub version_retention_secs: Option<u64>,
}

impl Default for ShadowConfig {
    fn default() -> Self {
        Self {
            max_document_bytes: 8192,
            max_depth: 6,
            missing_shadow_version: MissingShadowVersion::InvalidUnlessLast,
            version_retention_secs: Some(VERSION_RETENTION_SECS),
        }
    }
}

/// Policy for `version` in an update of a shadow that does not currently exist (never created,
/// or deleted). The cloud's behaviour is unverified (reference §1.6, §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingShadowVersion {
    /// Greengrass-like (default): the version must equal the shadow's last version (0 if it
    /// never existed, the kept version after a delete), else 400 "Invalid version".
    /// Greengrass's source checks for 0 on a new document; the reference also reports 1.
    InvalidUnlessLast,
    /// The version must equal the last version, else 409 "Version conflict", exactly as for
    /// an existing shadow.
    ConflictUnlessLast,
    /// A version on a missing shadow is not checked.
    Ignore,
}
