//! AWS IoT Core's MQTT APIs, sans-IO.
//!
//! This crate is the single description of AWS IoT Core's reserved-topic protocols used by both
//! sides of IoT Companion: the app's clients and the local stand-in of AWS IoT Core (the
//! sandbox). It performs no I/O, reads no clock and draws no random numbers: the caller passes
//! the current [`Timestamp`] and any identifiers in, and gets topics and payload bytes back.
//!
//! * [`names`]: validated thing, shadow, job and template names.
//! * [`topic`]: builders and parsers for every reserved topic ([`Topic`]).
//! * [`shadow`]: the Device Shadow document engine ([`shadow::ShadowStore`]) and its wire types.
//! * [`jobs`]: the job execution state machine and the Jobs device API payloads.
//! * [`provisioning`]: fleet provisioning messages (JSON and CBOR) and template evaluation.
//! * [`lifecycle`]: lifecycle event payloads (`$aws/events/...`).
//!
//! The behaviour follows `shared/reference/aws-iot-core.md`; where that reference marks a fact
//! as unverified, the choice made here is Greengrass-like, configurable, and named in a comment.
//!
//! ```
//! use companion_awsiot::Timestamp;
//! use companion_awsiot::shadow::ShadowStore;
//!
//! let mut service = ShadowStore::default();
//! let out = service
//!     .handle_publish(
//!         "$aws/things/lamp/shadow/update",
//!         br#"{"state":{"desired":{"on":true}},"clientToken":"t1"}"#,
//!         Timestamp::from_secs(1_700_000_000),
//!     )
//!     .expect("a shadow request topic");
//! let topics: Vec<&str> = out.iter().map(|m| m.topic.as_str()).collect();
//! assert_eq!(
//!     topics,
//!     [
//!         "$aws/things/lamp/shadow/update/delta",
//!         "$aws/things/lamp/shadow/update/documents",
//!         "$aws/things/lamp/shadow/update/accepted",
//!     ]
//! );
//! ```

#![warn(missing_docs)]

pub mod error;
pub mod jobs;
pub mod lifecycle;
pub mod names;
pub mod provisioning;
pub mod shadow;
pub mod time;
pub mod topic;

pub use error::Error;
pub use names::{ClientId, JobId, ShadowName, TemplateName, ThingName};
pub use time::Timestamp;
pub use topic::{Outcome, Topic};

/// One MQTT message to publish: the topic and the payload bytes.
///
/// Protocol machines in this crate return these instead of publishing, so that the caller's
/// driver owns the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The exact topic string to publish on.
    pub topic: String,
    /// The payload bytes (JSON unless the API's CBOR format was requested).
    pub payload: Vec<u8>,
}

impl Outgoing {
    /// Builds an outgoing message from a typed topic and payload bytes.
    pub fn new(topic: &Topic, payload: Vec<u8>) -> Self {
        Self {
            topic: topic.to_string(),
            payload,
        }
    }
}
