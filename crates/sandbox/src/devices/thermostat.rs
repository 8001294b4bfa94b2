//! A thermostat: the room temperature drifts toward the target while heating or cooling, and
//! toward the ambient temperature otherwise, with sensor noise; humidity wanders slowly.
//!
//! Reported: `temperature_c`, `humidity_pct`, `target_c`, `mode` (`heat`, `cool`, `off`).
//! Desired-settable: `target_c` (clamped to 5–30 °C in 0.5 °C steps) and `mode`.

use companion_awsiot::Timestamp;
use companion_awsiot::shadow::Object;
use rand::RngExt;
use serde_json::{Value, json};

use super::model::{
    Applied, DeviceKind, DeviceModel, DeviceRng, Tick, elapsed_secs, into_object, number,
    round_decimals, round_to,
};

/// Lowest target a user may set, °C.
pub const MIN_TARGET_C: f64 = 5.0;
/// Highest target a user may set, °C.
pub const MAX_TARGET_C: f64 = 30.0;
/// How fast heating or cooling moves the temperature, °C per second.
const HVAC_RATE_C_PER_S: f64 = 0.05;
/// How fast the room drifts toward ambient with the HVAC idle, °C per second.
const AMBIENT_RATE_C_PER_S: f64 = 0.01;
/// Sensor noise added to each reading, ± °C.
const NOISE_C: f64 = 0.05;
/// A temperature change worth a shadow update, °C.
const REPORT_TEMPERATURE_STEP: f64 = 0.5;
/// A humidity change worth a shadow update, percentage points.
const REPORT_HUMIDITY_STEP: f64 = 2.0;

/// What the thermostat is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Heat up to the target.
    Heat,
    /// Cool down to the target.
    Cool,
    /// Do nothing; the room drifts toward ambient.
    Off,
}

impl Mode {
    /// The mode as it appears in the shadow.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Heat => "heat",
            Self::Cool => "cool",
            Self::Off => "off",
        }
    }

    /// Reads a mode from the shadow; `None` for anything else.
    pub fn parse(value: &Value) -> Option<Self> {
        match value.as_str()? {
            "heat" => Some(Self::Heat),
            "cool" => Some(Self::Cool),
            "off" => Some(Self::Off),
            _ => None,
        }
    }
}

/// The simulated thermostat.
#[derive(Debug, Clone, PartialEq)]
pub struct Thermostat {
    temperature_c: f64,
    humidity_pct: f64,
    ambient_c: f64,
    target_c: f64,
    mode: Mode,
    last_tick: Option<Timestamp>,
    reported_temperature_c: f64,
    reported_humidity_pct: f64,
}

impl Thermostat {
    /// A thermostat in a room whose temperature and humidity are drawn from `rng`, heating to
    /// 21 °C.
    pub fn new(rng: &mut DeviceRng) -> Self {
        let temperature_c = round_decimals(rng.random_range(16.0..22.0), 1);
        let humidity_pct = round_decimals(rng.random_range(35.0..55.0), 1);
        Self {
            temperature_c,
            humidity_pct,
            ambient_c: round_decimals(rng.random_range(14.0..19.0), 1),
            target_c: 21.0,
            mode: Mode::Heat,
            last_tick: None,
            reported_temperature_c: temperature_c,
            reported_humidity_pct: humidity_pct,
        }
    }

    /// The current room temperature, °C.
    pub fn temperature_c(&self) -> f64 {
        self.temperature_c
    }

    /// The current target, °C.
    pub fn target_c(&self) -> f64 {
        self.target_c
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// `heating`, `cooling` or `idle`: what the HVAC is doing right now.
    pub fn hvac_state(&self) -> &'static str {
        match self.mode {
            Mode::Heat if self.temperature_c < self.target_c => "heating",
            Mode::Cool if self.temperature_c > self.target_c => "cooling",
            _ => "idle",
        }
    }

    fn apply_target(&mut self, value: &Value, applied: &mut Applied) {
        if let Some(target) = number(value) {
            self.target_c = round_to(target.clamp(MIN_TARGET_C, MAX_TARGET_C), 0.5);
        }
        applied.report("target_c", self.target_c);
    }

    fn apply_mode(&mut self, value: &Value, applied: &mut Applied) {
        if let Some(mode) = Mode::parse(value) {
            self.mode = mode;
        }
        applied.report("mode", self.mode.as_str());
    }

    /// Moves the temperature over `secs` seconds toward where the HVAC (or the room) pulls it.
    fn drift(&mut self, secs: f64, rng: &mut DeviceRng) {
        let (goal, rate) = match self.hvac_state() {
            "idle" => (self.ambient_c, AMBIENT_RATE_C_PER_S),
            _ => (self.target_c, HVAC_RATE_C_PER_S),
        };
        let step = (rate * secs).min((goal - self.temperature_c).abs());
        self.temperature_c += step * (goal - self.temperature_c).signum();
        self.temperature_c += rng.random_range(-NOISE_C..=NOISE_C);
        self.humidity_pct = (self.humidity_pct + rng.random_range(-0.3..=0.3)).clamp(20.0, 80.0);
    }

    /// Reported values that moved enough since they were last reported.
    fn worth_reporting(&mut self) -> Object {
        let mut reported = Object::new();
        let temperature = round_decimals(self.temperature_c, 1);
        if (temperature - self.reported_temperature_c).abs() >= REPORT_TEMPERATURE_STEP {
            self.reported_temperature_c = temperature;
            reported.insert("temperature_c".into(), json!(temperature));
        }
        let humidity = round_decimals(self.humidity_pct, 1);
        if (humidity - self.reported_humidity_pct).abs() >= REPORT_HUMIDITY_STEP {
            self.reported_humidity_pct = humidity;
            reported.insert("humidity_pct".into(), json!(humidity));
        }
        reported
    }

    fn sample(&self) -> Object {
        let sample = json!({
            "temperature_c": round_decimals(self.temperature_c, 2),
            "humidity_pct": round_decimals(self.humidity_pct, 1),
            "target_c": self.target_c,
            "hvac": self.hvac_state(),
        });
        into_object(sample)
    }
}

impl DeviceModel for Thermostat {
    fn kind(&self) -> DeviceKind {
        DeviceKind::Thermostat
    }

    fn initial_reported(&self) -> Object {
        into_object(json!({
            "temperature_c": self.reported_temperature_c,
            "humidity_pct": self.reported_humidity_pct,
            "target_c": self.target_c,
            "mode": self.mode.as_str(),
        }))
    }

    fn apply_desired(&mut self, delta: &Object) -> Applied {
        let mut applied = Applied::default();
        for (key, value) in delta {
            match key.as_str() {
                "target_c" => self.apply_target(value, &mut applied),
                "mode" => self.apply_mode(value, &mut applied),
                _ => applied.clear(key),
            }
        }
        applied
    }

    fn tick(&mut self, now: Timestamp, rng: &mut DeviceRng) -> Tick {
        let secs = elapsed_secs(self.last_tick, now);
        self.last_tick = Some(now);
        self.drift(secs, rng);
        Tick {
            sample: self.sample(),
            reported: self.worth_reporting(),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rand::SeedableRng;

    use super::*;

    fn thermostat(seed: u64) -> (Thermostat, DeviceRng) {
        let mut rng = DeviceRng::seed_from_u64(seed);
        (Thermostat::new(&mut rng), rng)
    }

    fn delta(value: Value) -> Object {
        into_object(value)
    }

    #[test]
    fn the_same_seed_gives_the_same_readings() {
        let run = |seed| {
            let (mut t, mut rng) = thermostat(seed);
            (1..=20)
                .map(|i| t.tick(Timestamp::from_secs(i * 10), &mut rng).sample)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7), "two runs with one seed must agree");
        assert_ne!(
            run(7),
            run(8),
            "different seeds should give different rooms"
        );
    }

    #[test]
    fn a_desired_target_and_mode_are_applied_reported_and_cleared() {
        let (mut t, _) = thermostat(1);
        let applied = t.apply_desired(&delta(json!({"target_c": 23.5, "mode": "cool"})));
        assert_eq!(
            applied.reported,
            delta(json!({"target_c": 23.5, "mode": "cool"}))
        );
        assert_eq!(applied.cleared, ["mode", "target_c"]);
        assert_eq!((t.target_c(), t.mode()), (23.5, Mode::Cool));
    }

    #[test]
    fn an_out_of_range_target_is_clamped_and_the_clamped_value_reported() {
        let (mut t, _) = thermostat(1);
        let high = t.apply_desired(&delta(json!({"target_c": 80})));
        assert_eq!(
            high.reported["target_c"],
            json!(30.0),
            "clamped to the maximum"
        );
        let low = t.apply_desired(&delta(json!({"target_c": -4})));
        assert_eq!(
            low.reported["target_c"],
            json!(5.0),
            "clamped to the minimum"
        );
        let odd = t.apply_desired(&delta(json!({"target_c": 21.26})));
        assert_eq!(
            odd.reported["target_c"],
            json!(21.5),
            "rounded to half degrees"
        );
    }

    #[test]
    fn an_invalid_mode_is_cleared_and_the_current_mode_reported() {
        let (mut t, _) = thermostat(1);
        let applied = t.apply_desired(&delta(json!({"mode": "turbo", "target_c": "warm"})));
        assert_eq!(applied.reported["mode"], json!("heat"));
        assert_eq!(applied.reported["target_c"], json!(21.0));
        assert_eq!(applied.cleared, ["mode", "target_c"]);
    }

    #[test]
    fn unknown_desired_keys_are_cleared_without_being_reported() {
        let (mut t, _) = thermostat(1);
        let applied = t.apply_desired(&delta(json!({"colour": "red"})));
        assert!(applied.reported.is_empty(), "nothing to report");
        assert_eq!(applied.cleared, ["colour"]);
    }

    #[test]
    fn heating_brings_the_room_to_the_target_and_reports_the_change() {
        let (mut t, mut rng) = thermostat(3);
        t.apply_desired(&delta(json!({"target_c": 28, "mode": "heat"})));
        let mut reported = Object::new();
        for i in 0..=60 {
            reported.extend(t.tick(Timestamp::from_secs(i * 10), &mut rng).reported);
        }
        assert!(
            (t.temperature_c() - 28.0).abs() < 0.6,
            "after 10 minutes the room is near the target, got {}",
            t.temperature_c()
        );
        assert!(
            reported.contains_key("temperature_c"),
            "the rising temperature was reported"
        );
    }

    #[test]
    fn with_the_hvac_off_the_room_drifts_toward_ambient() {
        let (mut t, mut rng) = thermostat(4);
        t.apply_desired(&delta(json!({"mode": "off"})));
        for i in 0..=2000 {
            t.tick(Timestamp::from_secs(i * 10), &mut rng);
        }
        assert!((t.temperature_c() - t.ambient_c).abs() < 0.3);
        assert_eq!(t.hvac_state(), "idle");
    }

    proptest! {
        #[test]
        fn any_numeric_target_is_applied_within_range_in_half_degrees(target in -1e9f64..1e9) {
            let (mut t, _) = thermostat(1);
            let applied = t.apply_desired(&delta(json!({ "target_c": target })));
            let reported = applied.reported["target_c"].as_f64().unwrap_or(f64::NAN);
            prop_assert!((MIN_TARGET_C..=MAX_TARGET_C).contains(&reported), "{reported}");
            prop_assert_eq!(reported * 2.0, (reported * 2.0).round());
            prop_assert_eq!(applied.cleared, vec!["target_c".to_owned()]);
        }
    }
}
