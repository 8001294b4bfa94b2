//! What every simulated appliance has in common: the [`DeviceModel`] trait the firmware drives,
//! the results of applying desired state and of a tick, and the kinds of device there are.

use std::fmt;

use companion_awsiot::Timestamp;
use companion_awsiot::shadow::Object;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use super::light::Light;
use super::plug::SmartPlug;
use super::thermostat::Thermostat;

/// The random source of one device: seeded, so the same seed gives the same values.
pub type DeviceRng = ChaCha8Rng;

/// What applying a delta did: the values to report and the desired keys to clear.
///
/// Firmware reports what it actually applied (clamped where a value was out of range, the
/// unchanged value where it was invalid) and clears every desired key it handled, so that the
/// delta disappears.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Applied {
    /// Reported keys and their new values (a `null` value removes a reported key).
    pub reported: Object,
    /// Desired keys to clear with `"desired": {key: null}`.
    pub cleared: Vec<String>,
}

impl Applied {
    /// Records that `key` was handled and `value` is now reported for it.
    pub fn report(&mut self, key: &str, value: impl Into<Value>) {
        self.reported.insert(key.to_owned(), value.into());
        self.clear(key);
    }

    /// Records that desired `key` was handled without reporting anything for it.
    pub fn clear(&mut self, key: &str) {
        if !self.cleared.iter().any(|k| k == key) {
            self.cleared.push(key.to_owned());
        }
    }

    /// True when nothing was handled.
    pub fn is_empty(&self) -> bool {
        self.reported.is_empty() && self.cleared.is_empty()
    }
}

/// The outcome of one tick: a telemetry sample, and reported values that changed enough to be
/// worth a shadow update.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tick {
    /// The measurements published on the telemetry topic.
    pub sample: Object,
    /// Reported keys to update in the shadow; empty when nothing moved enough.
    pub reported: Object,
}

/// An appliance's behaviour, free of I/O: the firmware feeds it deltas and clock ticks and
/// publishes what it returns.
pub trait DeviceModel: fmt::Debug + Send {
    /// Which kind of device this is.
    fn kind(&self) -> DeviceKind;

    /// The whole reported state, as firmware reports it when it (re)connects.
    fn initial_reported(&self) -> Object;

    /// Applies the desired keys of `delta`; unknown keys are cleared without being reported.
    fn apply_desired(&mut self, delta: &Object) -> Applied;

    /// Advances the simulation to `now` (the time since the previous tick drives drift and
    /// energy) and samples it.
    fn tick(&mut self, now: Timestamp, rng: &mut DeviceRng) -> Tick;
}

/// The kinds of simulated device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// A heating/cooling thermostat with a temperature and humidity sensor.
    Thermostat,
    /// A smart plug metering power and energy.
    Plug,
    /// A dimmable light with colour temperature or RGB colour.
    Light,
}

impl DeviceKind {
    /// Every kind, in the order a fleet cycles through them.
    pub const ALL: [Self; 3] = [Self::Thermostat, Self::Plug, Self::Light];

    /// The kind's name, used in thing names (`thermostat-0001`) and telemetry.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Thermostat => "thermostat",
            Self::Plug => "plug",
            Self::Light => "light",
        }
    }

    /// A new device of this kind with its initial state drawn from `rng`.
    pub fn build(self, rng: &mut DeviceRng) -> Box<dyn DeviceModel> {
        match self {
            Self::Thermostat => Box::new(Thermostat::new(rng)),
            Self::Plug => Box::new(SmartPlug::new(rng)),
            Self::Light => Box::new(Light::new(rng)),
        }
    }
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `value` rounded to `step` (e.g. 0.1 for one decimal).
pub(crate) fn round_to(value: f64, step: f64) -> f64 {
    (value / step).round() * step
}

/// `value` rounded to `decimals` decimal places, as it is shown in JSON.
pub(crate) fn round_decimals(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// Seconds between two ticks; zero on the first tick or if the clock went backwards.
pub(crate) fn elapsed_secs(last: Option<Timestamp>, now: Timestamp) -> f64 {
    last.map_or(0.0, |last| {
        now.millis().saturating_sub(last.millis()) as f64 / 1000.0
    })
}

/// A JSON number as `f64`, if `value` is a finite number.
pub(crate) fn number(value: &Value) -> Option<f64> {
    value.as_f64().filter(|n| n.is_finite())
}

/// The object inside a `json!({...})` literal (empty for any other value).
pub(crate) fn into_object(value: Value) -> Object {
    match value {
        Value::Object(object) => object,
        _ => Object::new(),
    }
}
