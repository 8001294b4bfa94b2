//! The caller's clock reading, passed into every protocol machine.

use serde::{Deserialize, Serialize};

/// A point in time as milliseconds since the Unix epoch.
///
/// The crate never reads a clock: callers pass one of these in. AWS uses epoch **seconds** in
/// shadow and jobs payloads and epoch **milliseconds** in lifecycle events; this type carries
/// milliseconds so that both can be derived from one reading.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Timestamp(u64);

impl Timestamp {
    /// A timestamp from milliseconds since the epoch.
    pub const fn from_millis(millis: u64) -> Self {
        Self(millis)
    }

    /// A timestamp from whole seconds since the epoch.
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs.saturating_mul(1000))
    }

    /// Milliseconds since the epoch (lifecycle events use these).
    pub const fn millis(self) -> u64 {
        self.0
    }

    /// Whole seconds since the epoch, rounded down (shadow and jobs payloads use these).
    pub const fn secs(self) -> u64 {
        self.0 / 1000
    }

    /// This timestamp moved forward by `secs` seconds, saturating.
    pub const fn plus_secs(self, secs: u64) -> Self {
        Self(self.0.saturating_add(secs.saturating_mul(1000)))
    }
}
