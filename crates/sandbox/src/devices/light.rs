//! A dimmable light with either a colour temperature or an RGB colour.
//!
//! Reported: `on`, `brightness` (0–100), `color_mode` (`color_temp` or `rgb`) and the matching
//! `color_temp_k` (2700–6500 K) or `rgb` (`[r, g, b]`, 0–255 each); the other colour key is
//! removed from reported (`null`) when the mode changes. All of these are desired-settable.

use companion_awsiot::Timestamp;
use companion_awsiot::shadow::Object;
use rand::RngExt;
use serde_json::{Value, json};

use super::model::{
    Applied, DeviceKind, DeviceModel, DeviceRng, Tick, into_object, number, round_decimals,
    round_to,
};

/// Warmest colour temperature, K.
pub const MIN_COLOR_TEMP_K: u64 = 2700;
/// Coolest colour temperature, K.
pub const MAX_COLOR_TEMP_K: u64 = 6500;
/// Power at full brightness, W.
const FULL_POWER_W: f64 = 9.0;
/// Standby power, W.
const STANDBY_W: f64 = 0.3;

/// The light's colour setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    /// White at a colour temperature, K.
    Temperature(u64),
    /// An RGB colour.
    Rgb([u8; 3]),
}

/// The simulated light.
#[derive(Debug, Clone, PartialEq)]
pub struct Light {
    on: bool,
    brightness: u8,
    color: Color,
}

impl Light {
    /// A light whose switch state and brightness are drawn from `rng`, in warm white.
    pub fn new(rng: &mut DeviceRng) -> Self {
        Self {
            on: rng.random_bool(0.5),
            brightness: rng.random_range(10..=100),
            color: Color::Temperature(MIN_COLOR_TEMP_K),
        }
    }

    /// Whether the light is on.
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// Brightness, 0–100.
    pub fn brightness(&self) -> u8 {
        self.brightness
    }

    /// The colour setting.
    pub fn color(&self) -> Color {
        self.color
    }

    fn apply_on(&mut self, value: &Value, applied: &mut Applied) {
        if let Some(on) = value.as_bool() {
            self.on = on;
        }
        applied.report("on", self.on);
    }

    fn apply_brightness(&mut self, value: &Value, applied: &mut Applied) {
        if let Some(level) = number(value) {
            self.brightness = level.clamp(0.0, 100.0).round() as u8;
        }
        applied.report("brightness", self.brightness);
    }

    fn apply_color_temp(&mut self, value: &Value, applied: &mut Applied) {
        if let Some(kelvin) = number(value) {
            let kelvin =
                round_to(kelvin, 1.0).clamp(MIN_COLOR_TEMP_K as f64, MAX_COLOR_TEMP_K as f64);
            self.color = Color::Temperature(kelvin as u64);
        }
        self.report_color(applied);
        applied.clear("color_temp_k");
    }

    fn apply_rgb(&mut self, value: &Value, applied: &mut Applied) {
        if let Some(rgb) = parse_rgb(value) {
            self.color = Color::Rgb(rgb);
        }
        self.report_color(applied);
        applied.clear("rgb");
    }

    /// Reports the colour mode and value, and removes the other mode's key from reported.
    fn report_color(&self, applied: &mut Applied) {
        for (key, value) in color_fields(self.color) {
            applied.reported.insert(key.to_owned(), value);
        }
    }

    fn power_w(&self) -> f64 {
        match self.on {
            true => STANDBY_W + FULL_POWER_W * f64::from(self.brightness) / 100.0,
            false => STANDBY_W,
        }
    }
}

/// `color_mode` and the colour keys for `color`, with `null` for the unused one.
fn color_fields(color: Color) -> [(&'static str, Value); 3] {
    match color {
        Color::Temperature(kelvin) => [
            ("color_mode", json!("color_temp")),
            ("color_temp_k", json!(kelvin)),
            ("rgb", Value::Null),
        ],
        Color::Rgb(rgb) => [
            ("color_mode", json!("rgb")),
            ("color_temp_k", Value::Null),
            ("rgb", json!(rgb)),
        ],
    }
}

/// An `[r, g, b]` array of three numbers, each clamped to 0–255.
fn parse_rgb(value: &Value) -> Option<[u8; 3]> {
    let items = value.as_array().filter(|a| a.len() == 3)?;
    let mut rgb = [0u8; 3];
    for (slot, item) in rgb.iter_mut().zip(items) {
        *slot = number(item)?.clamp(0.0, 255.0).round() as u8;
    }
    Some(rgb)
}

impl DeviceModel for Light {
    fn kind(&self) -> DeviceKind {
        DeviceKind::Light
    }

    fn initial_reported(&self) -> Object {
        let mut reported = into_object(json!({"on": self.on, "brightness": self.brightness}));
        for (key, value) in color_fields(self.color) {
            if !value.is_null() {
                reported.insert(key.to_owned(), value);
            }
        }
        reported
    }

    fn apply_desired(&mut self, delta: &Object) -> Applied {
        let mut applied = Applied::default();
        for (key, value) in delta {
            match key.as_str() {
                "on" => self.apply_on(value, &mut applied),
                "brightness" => self.apply_brightness(value, &mut applied),
                "color_temp_k" => self.apply_color_temp(value, &mut applied),
                "rgb" => self.apply_rgb(value, &mut applied),
                _ => applied.clear(key),
            }
        }
        applied
    }

    fn tick(&mut self, _now: Timestamp, rng: &mut DeviceRng) -> Tick {
        let flicker = rng.random_range(-0.02..=0.02);
        let sample = json!({
            "on": self.on,
            "brightness": self.brightness,
            "power_w": round_decimals(self.power_w() + flicker, 2),
        });
        Tick {
            sample: into_object(sample),
            reported: Object::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rand::SeedableRng;

    use super::*;

    fn light() -> Light {
        Light::new(&mut DeviceRng::seed_from_u64(5))
    }

    fn apply(light: &mut Light, delta: Value) -> Applied {
        light.apply_desired(&into_object(delta))
    }

    #[test]
    fn brightness_above_100_is_clamped_to_100() {
        let mut l = light();
        let applied = apply(&mut l, json!({"brightness": 140}));
        assert_eq!(applied.reported, into_object(json!({"brightness": 100})));
        assert_eq!(applied.cleared, ["brightness"]);
    }

    #[test]
    fn an_rgb_colour_switches_the_mode_and_removes_the_colour_temperature() {
        let mut l = light();
        let applied = apply(&mut l, json!({"rgb": [255, 300, -1]}));
        assert_eq!(
            applied.reported,
            into_object(json!({"color_mode": "rgb", "rgb": [255, 255, 0], "color_temp_k": null}))
        );
        assert_eq!(l.color(), Color::Rgb([255, 255, 0]));
    }

    #[test]
    fn a_colour_temperature_is_clamped_to_the_lamp_range() {
        let mut l = light();
        let applied = apply(&mut l, json!({"color_temp_k": 9000}));
        assert_eq!(applied.reported["color_temp_k"], json!(MAX_COLOR_TEMP_K));
        assert_eq!(applied.reported["rgb"], Value::Null);
    }

    #[test]
    fn a_malformed_rgb_is_cleared_and_the_current_colour_reported() {
        let mut l = light();
        let applied = apply(&mut l, json!({"rgb": [1, 2]}));
        assert_eq!(applied.reported["color_mode"], json!("color_temp"));
        assert_eq!(applied.cleared, ["rgb"]);
    }

    #[test]
    fn a_light_that_is_off_draws_only_standby_power() {
        let mut l = light();
        apply(&mut l, json!({"on": false}));
        let tick = l.tick(Timestamp::from_secs(1), &mut DeviceRng::seed_from_u64(1));
        let power = tick.sample["power_w"].as_f64().unwrap_or_default();
        assert!(power < 0.5, "standby power, got {power}");
        assert!(
            tick.reported.is_empty(),
            "a light has nothing to report by itself"
        );
    }

    proptest! {
        #[test]
        fn any_brightness_is_applied_within_0_to_100(level in -1e6f64..1e6) {
            let mut l = light();
            let applied = apply(&mut l, json!({ "brightness": level }));
            let reported = applied.reported["brightness"].as_u64();
            prop_assert!(reported.is_some_and(|b| b <= 100));
            prop_assert_eq!(applied.cleared, vec!["brightness".to_owned()]);
        }
    }
}
