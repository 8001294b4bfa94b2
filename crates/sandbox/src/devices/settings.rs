//! The firmware's own settings, kept in the named shadow `config`: how often it publishes
//! telemetry and which firmware channel it follows.
//!
//! Reported: `telemetry_interval_ms` (clamped to 10 ms – 1 h) and `firmware_channel`
//! (`stable` or `beta`). Both are desired-settable.

use std::time::Duration;

use companion_awsiot::shadow::Object;
use serde_json::{Value, json};

use super::model::{Applied, into_object, number};

/// The named shadow holding the settings.
pub const CONFIG_SHADOW: &str = "config";
/// Shortest telemetry interval accepted, ms.
pub const MIN_TELEMETRY_INTERVAL_MS: u64 = 10;
/// Longest telemetry interval accepted, ms.
pub const MAX_TELEMETRY_INTERVAL_MS: u64 = 3_600_000;

/// Which firmware releases a device takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirmwareChannel {
    /// Released firmware only.
    Stable,
    /// Pre-releases too.
    Beta,
}

impl FirmwareChannel {
    /// The channel as it appears in the shadow.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stable => "stable",
            Self::Beta => "beta",
        }
    }

    fn parse(value: &Value) -> Option<Self> {
        match value.as_str()? {
            "stable" => Some(Self::Stable),
            "beta" => Some(Self::Beta),
            _ => None,
        }
    }
}

/// The settings in the `config` shadow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSettings {
    /// Time between telemetry messages.
    pub telemetry_interval: Duration,
    /// The firmware channel followed.
    pub firmware_channel: FirmwareChannel,
}

impl DeviceSettings {
    /// Settings with `telemetry_interval` on the stable channel.
    pub fn new(telemetry_interval: Duration) -> Self {
        Self {
            telemetry_interval,
            firmware_channel: FirmwareChannel::Stable,
        }
    }

    /// The whole reported `config` state.
    pub fn reported(&self) -> Object {
        into_object(json!({
            "telemetry_interval_ms": self.interval_ms(),
            "firmware_channel": self.firmware_channel.as_str(),
        }))
    }

    /// Applies a `config` delta: values are clamped or, when invalid, left as they are; every
    /// key is cleared from desired.
    pub fn apply_desired(&mut self, delta: &Object) -> Applied {
        let mut applied = Applied::default();
        for (key, value) in delta {
            match key.as_str() {
                "telemetry_interval_ms" => self.apply_interval(value, &mut applied),
                "firmware_channel" => self.apply_channel(value, &mut applied),
                _ => applied.clear(key),
            }
        }
        applied
    }

    fn apply_interval(&mut self, value: &Value, applied: &mut Applied) {
        if let Some(ms) = number(value) {
            let ms = ms.round().clamp(
                MIN_TELEMETRY_INTERVAL_MS as f64,
                MAX_TELEMETRY_INTERVAL_MS as f64,
            );
            self.telemetry_interval = Duration::from_millis(ms as u64);
        }
        applied.report("telemetry_interval_ms", self.interval_ms());
    }

    fn apply_channel(&mut self, value: &Value, applied: &mut Applied) {
        if let Some(channel) = FirmwareChannel::parse(value) {
            self.firmware_channel = channel;
        }
        applied.report("firmware_channel", self.firmware_channel.as_str());
    }

    fn interval_ms(&self) -> u64 {
        u64::try_from(self.telemetry_interval.as_millis()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_desired_interval_is_clamped_reported_and_cleared() {
        let mut settings = DeviceSettings::new(Duration::from_secs(5));
        let applied = settings.apply_desired(&into_object(json!({"telemetry_interval_ms": 1})));
        assert_eq!(applied.reported["telemetry_interval_ms"], json!(10));
        assert_eq!(applied.cleared, ["telemetry_interval_ms"]);
        assert_eq!(settings.telemetry_interval, Duration::from_millis(10));
    }

    #[test]
    fn an_unknown_channel_keeps_the_current_one() {
        let mut settings = DeviceSettings::new(Duration::from_secs(5));
        let applied = settings.apply_desired(&into_object(json!({"firmware_channel": "nightly"})));
        assert_eq!(applied.reported["firmware_channel"], json!("stable"));
        let applied = settings.apply_desired(&into_object(json!({"firmware_channel": "beta"})));
        assert_eq!(applied.reported["firmware_channel"], json!("beta"));
    }
}
