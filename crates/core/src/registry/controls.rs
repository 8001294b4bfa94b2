//! What a device lets its user change: controls for the device page, from a catalogue of known
//! device models, and for unknown models from the types of the values the device reports.
//!
//! A shadow says what a device reports, not what it accepts. For models the catalogue knows
//! (the kinds the local sandbox simulates, which follow the firmware conventions documented in
//! `crates/sandbox/src/devices`) the controls are exact: range, step and choices. For anything
//! else every scalar the device reports becomes a control of its type, and the page says that
//! the device decides what it accepts.

use serde_json::Value;

/// How a value is edited.
#[derive(Debug, Clone, PartialEq)]
pub enum ControlKind {
    /// A boolean.
    Switch,
    /// A number within bounds.
    Range {
        /// Smallest value.
        min: f64,
        /// Largest value.
        max: f64,
        /// Step between values.
        step: f64,
        /// Unit shown next to the value.
        unit: Option<&'static str>,
    },
    /// A number without known bounds.
    Number,
    /// One of a fixed set of strings.
    Choice(Vec<&'static str>),
    /// Free text.
    Text,
}

/// One control of a shadow.
#[derive(Debug, Clone, PartialEq)]
pub struct Control {
    /// The top-level key of the shadow's state.
    pub key: String,
    /// A label for display.
    pub label: String,
    /// How it is edited.
    pub kind: ControlKind,
    /// Whether it comes from the catalogue (`true`) or was inferred from a reported value.
    pub known: bool,
}

/// A known model's controls per shadow (`None`: the classic shadow).
struct ModelControls {
    model: &'static str,
    shadow: Option<&'static str>,
    controls: &'static [(&'static str, &'static str, Known)],
}

/// A catalogue entry's kind (a `const`-friendly [`ControlKind`]).
#[derive(Clone, Copy)]
enum Known {
    Switch,
    Number,
    Range(f64, f64, f64, &'static str),
    Choice(&'static [&'static str]),
}

/// The firmware settings every sandbox model keeps in its named shadow `config`.
const CONFIG: &[(&str, &str, Known)] = &[
    // 10 ms to 1 h: too wide for a slider.
    (
        "telemetry_interval_ms",
        "Telemetry interval (ms)",
        Known::Number,
    ),
    (
        "firmware_channel",
        "Firmware channel",
        Known::Choice(&["stable", "beta"]),
    ),
];

const CATALOGUE: &[ModelControls] = &[
    ModelControls {
        model: "thermostat",
        shadow: None,
        controls: &[
            ("mode", "Mode", Known::Choice(&["heat", "cool", "off"])),
            ("target_c", "Target", Known::Range(5.0, 30.0, 0.5, "°C")),
        ],
    },
    ModelControls {
        model: "plug",
        shadow: None,
        controls: &[("on", "Power", Known::Switch)],
    },
    ModelControls {
        model: "light",
        shadow: None,
        controls: &[
            ("on", "Power", Known::Switch),
            (
                "brightness",
                "Brightness",
                Known::Range(0.0, 100.0, 1.0, "%"),
            ),
            (
                "color_temp_k",
                "Colour temperature",
                Known::Range(2700.0, 6500.0, 100.0, "K"),
            ),
        ],
    },
    ModelControls {
        model: "thermostat",
        shadow: Some("config"),
        controls: CONFIG,
    },
    ModelControls {
        model: "plug",
        shadow: Some("config"),
        controls: CONFIG,
    },
    ModelControls {
        model: "light",
        shadow: Some("config"),
        controls: CONFIG,
    },
];

/// The named shadows a model is known to keep.
pub fn known_named_shadows(model: Option<&str>) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = CATALOGUE
        .iter()
        .filter(|entry| Some(entry.model) == model)
        .filter_map(|entry| entry.shadow)
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// The controls of a shadow (`shadow: None` is the classic one) of a device of `model` that
/// reports `reported`: the catalogue's when it knows the model, else one per scalar reported
/// value, by type, in key order.
pub fn controls_for(
    model: Option<&str>,
    shadow: Option<&str>,
    reported: &serde_json::Map<String, Value>,
) -> Vec<Control> {
    if let Some(entry) = CATALOGUE
        .iter()
        .find(|entry| Some(entry.model) == model && entry.shadow == shadow)
    {
        return entry
            .controls
            .iter()
            .map(|(key, label, kind)| Control {
                key: (*key).to_owned(),
                label: (*label).to_owned(),
                kind: match *kind {
                    Known::Switch => ControlKind::Switch,
                    Known::Number => ControlKind::Number,
                    Known::Range(min, max, step, unit) => ControlKind::Range {
                        min,
                        max,
                        step,
                        unit: Some(unit),
                    },
                    Known::Choice(options) => ControlKind::Choice(options.to_vec()),
                },
                known: true,
            })
            .collect();
    }
    reported
        .iter()
        .filter_map(|(key, value)| {
            let kind = match value {
                Value::Bool(_) => ControlKind::Switch,
                Value::Number(_) => ControlKind::Number,
                Value::String(_) => ControlKind::Text,
                Value::Null | Value::Array(_) | Value::Object(_) => return None,
            };
            Some(Control {
                key: key.clone(),
                label: key.replace('_', " "),
                kind,
                known: false,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> serde_json::Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn a_known_model_gets_its_catalogue_controls_whatever_it_reports() {
        let controls = controls_for(
            Some("thermostat"),
            None,
            &object(json!({"temperature_c": 20.5})),
        );
        let keys: Vec<&str> = controls.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(
            keys,
            ["mode", "target_c"],
            "measured values are not controls"
        );
        assert!(controls.iter().all(|c| c.known));
        assert_eq!(
            controls[1].kind,
            ControlKind::Range {
                min: 5.0,
                max: 30.0,
                step: 0.5,
                unit: Some("°C")
            }
        );
    }

    #[test]
    fn an_unknown_model_gets_a_control_per_scalar_by_type() {
        let reported = object(json!({
            "led": true, "level": 3, "name": "hall", "rgb": [1, 2, 3], "nested": {"a": 1}
        }));
        let controls = controls_for(Some("gadget"), None, &reported);
        let kinds: Vec<(&str, &ControlKind)> =
            controls.iter().map(|c| (c.key.as_str(), &c.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("led", &ControlKind::Switch),
                ("level", &ControlKind::Number),
                ("name", &ControlKind::Text)
            ]
        );
        assert!(controls.iter().all(|c| !c.known));
    }

    #[test]
    fn named_shadows_come_from_the_catalogue_per_model() {
        assert_eq!(known_named_shadows(Some("plug")), ["config"]);
        assert!(known_named_shadows(Some("gadget")).is_empty());
        assert!(known_named_shadows(None).is_empty());
        let config = controls_for(Some("plug"), Some("config"), &serde_json::Map::new());
        assert_eq!(config.len(), 2);
    }
}
