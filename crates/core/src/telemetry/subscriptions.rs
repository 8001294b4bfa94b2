//! Which topics carry a device's telemetry: topic patterns per device model, where the
//! segment `{thing}` stands for the thing name (and becomes `+` in a fleet-wide filter).

use std::collections::BTreeMap;

/// The placeholder segment for the thing name in a pattern.
pub const THING: &str = "{thing}";

/// The sandbox devices' telemetry topic, the default for every model.
pub const SANDBOX_PATTERN: &str = "dt/companion/{thing}/telemetry";

/// Telemetry topic patterns per device model, with a fallback for models not listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetrySubscriptions {
    by_model: BTreeMap<String, Vec<String>>,
    fallback: Vec<String>,
}

impl Default for TelemetrySubscriptions {
    /// The sandbox's devices: `thermostat`, `plug` and `light` (and any other model) publish on
    /// `dt/companion/{thing}/telemetry`.
    fn default() -> Self {
        let sandbox = vec![SANDBOX_PATTERN.to_owned()];
        let by_model = ["thermostat", "plug", "light"]
            .into_iter()
            .map(|model| (model.to_owned(), sandbox.clone()))
            .collect();
        Self {
            by_model,
            fallback: sandbox,
        }
    }
}

impl TelemetrySubscriptions {
    /// No model-specific patterns; every device uses `fallback`.
    pub fn new(fallback: Vec<String>) -> Self {
        Self {
            by_model: BTreeMap::new(),
            fallback,
        }
    }

    /// These subscriptions with `patterns` for devices of `model`.
    pub fn with_model(mut self, model: impl Into<String>, patterns: Vec<String>) -> Self {
        self.by_model.insert(model.into(), patterns);
        self
    }

    /// The patterns of `model` (the fallback when unknown or `None`).
    pub fn patterns_for(&self, model: Option<&str>) -> &[String] {
        model
            .and_then(|m| self.by_model.get(m))
            .unwrap_or(&self.fallback)
    }

    /// The MQTT filters that carry `thing`'s telemetry.
    pub fn filters_for(&self, thing: &str, model: Option<&str>) -> Vec<String> {
        self.patterns_for(model)
            .iter()
            .map(|p| p.replace(THING, thing))
            .collect()
    }

    /// Filters for every device at once (`{thing}` becomes `+`), without duplicates.
    pub fn fleet_filters(&self) -> Vec<String> {
        let mut filters: Vec<String> = self
            .by_model
            .values()
            .flatten()
            .chain(&self.fallback)
            .map(|p| p.replace(THING, "+"))
            .collect();
        filters.sort_unstable();
        filters.dedup();
        filters
    }

    /// The thing a telemetry `topic` belongs to, from the first pattern it matches.
    pub fn thing_of<'t>(&self, topic: &'t str) -> Option<&'t str> {
        self.by_model
            .values()
            .flatten()
            .chain(&self.fallback)
            .find_map(|pattern| capture_thing(pattern, topic))
    }
}

/// Matches `topic` against `pattern` (MQTT wildcards `+` and `#` allowed) and returns the
/// topic level in the `{thing}` position.
pub fn capture_thing<'t>(pattern: &str, topic: &'t str) -> Option<&'t str> {
    let mut thing = None;
    let mut levels = topic.split('/');
    for segment in pattern.split('/') {
        if segment == "#" {
            return thing;
        }
        let level = levels.next()?;
        match segment {
            THING if !level.is_empty() => thing = Some(level),
            "+" => {}
            literal if literal == level => {}
            _ => return None,
        }
    }
    if levels.next().is_some() { None } else { thing }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_fit_the_sandbox_devices() {
        let subscriptions = TelemetrySubscriptions::default();
        assert_eq!(
            subscriptions.fleet_filters(),
            ["dt/companion/+/telemetry"],
            "one fleet-wide filter"
        );
        assert_eq!(
            subscriptions.filters_for("plug-0002", Some("plug")),
            ["dt/companion/plug-0002/telemetry"],
            "a device's own filter"
        );
        assert_eq!(
            subscriptions.thing_of("dt/companion/light-0003/telemetry"),
            Some("light-0003"),
            "the thing comes from the topic"
        );
    }

    #[test]
    fn a_model_can_have_its_own_patterns() {
        let subscriptions = TelemetrySubscriptions::default()
            .with_model("meter", vec!["site/+/{thing}/metrics/#".to_owned()]);
        assert_eq!(
            subscriptions.filters_for("m-1", Some("meter")),
            ["site/+/m-1/metrics/#"],
            "the model's pattern"
        );
        assert_eq!(
            subscriptions.filters_for("x", Some("unknown-model")),
            ["dt/companion/x/telemetry"],
            "unknown models fall back to the default"
        );
        assert_eq!(
            subscriptions.thing_of("site/paris/m-1/metrics/power/total"),
            Some("m-1"),
            "`+` and `#` match around the thing"
        );
    }

    #[test]
    fn topics_that_do_not_fit_a_pattern_name_no_thing() {
        let cases = [
            "dt/companion/telemetry",
            "dt/companion//telemetry",
            "dt/companion/a/telemetry/extra",
            "dt/other/a/telemetry",
            "$aws/things/a/shadow/update",
        ];
        let subscriptions = TelemetrySubscriptions::default();
        for topic in cases {
            assert_eq!(subscriptions.thing_of(topic), None, "topic {topic}");
        }
    }
}
