//! The telemetry a device publishes on its own topic, outside AWS's reserved namespace.

use companion_awsiot::shadow::Object;
use companion_awsiot::{Outgoing, ThingName};
use serde::{Deserialize, Serialize};

/// A filter matching every simulated device's telemetry topic.
pub const TELEMETRY_FILTER: &str = "dt/companion/+/telemetry";

/// The topic `thing` publishes its telemetry on: `dt/companion/{thing}/telemetry` (the `dt/`
/// prefix follows AWS's topic design guidance for device telemetry).
pub fn telemetry_topic(thing: &ThingName) -> String {
    format!("dt/companion/{thing}/telemetry")
}

/// One telemetry message, published as JSON with QoS 0.
///
/// ```json
/// {"thing":"thermostat-0001","kind":"thermostat","seq":3,"timestamp":1764430000123,
///  "firmware_version":"1.0.0","sample":{"temperature_c":20.97,"humidity_pct":41.2,
///  "target_c":21.0,"hvac":"heating"}}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TelemetryMessage {
    /// The thing that measured.
    pub thing: String,
    /// The device kind (`thermostat`, `plug`, `light`).
    pub kind: String,
    /// Counts messages from 1 since the device started; a gap means a lost message.
    pub seq: u64,
    /// When the sample was taken, epoch milliseconds.
    pub timestamp: u64,
    /// The firmware that produced it.
    pub firmware_version: String,
    /// The model's measurements.
    pub sample: Object,
}

impl TelemetryMessage {
    /// The message as an MQTT publish on the thing's telemetry topic.
    pub fn to_outgoing(&self, thing: &ThingName) -> Outgoing {
        Outgoing {
            topic: telemetry_topic(thing),
            payload: serde_json::to_vec(self).unwrap_or_default(),
        }
    }
}
