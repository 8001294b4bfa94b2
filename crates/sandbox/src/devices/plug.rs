//! A smart plug: switched on or off; when on it draws its appliance's load with a little
//! noise, and the energy meter accumulates.
//!
//! Reported: `on`, `watts`, `energy_kwh`. Desired-settable: `on`.

use companion_awsiot::Timestamp;
use companion_awsiot::shadow::Object;
use rand::RngExt;
use serde_json::{Value, json};

use super::model::{
    Applied, DeviceKind, DeviceModel, DeviceRng, Tick, elapsed_secs, into_object, round_decimals,
};

/// Relative noise of the load, ±.
const LOAD_NOISE: f64 = 0.03;
/// An energy change worth a shadow update, kWh.
const REPORT_ENERGY_STEP_KWH: f64 = 0.01;
/// A power change worth a shadow update: this many watts or this fraction, whichever is more.
const REPORT_WATTS_MIN: f64 = 5.0;
const REPORT_WATTS_FRACTION: f64 = 0.1;
/// Nominal mains voltage, V.
const MAINS_V: f64 = 230.0;

/// The simulated smart plug.
#[derive(Debug, Clone, PartialEq)]
pub struct SmartPlug {
    on: bool,
    load_w: f64,
    watts: f64,
    energy_kwh: f64,
    last_tick: Option<Timestamp>,
    reported_watts: f64,
    reported_energy_kwh: f64,
}

impl SmartPlug {
    /// A plug whose appliance load, meter reading and switch state are drawn from `rng`.
    pub fn new(rng: &mut DeviceRng) -> Self {
        let on = rng.random_bool(0.5);
        let load_w = round_decimals(rng.random_range(40.0..1800.0), 0);
        let energy_kwh = round_decimals(rng.random_range(0.0..50.0), 3);
        let watts = if on { load_w } else { 0.0 };
        Self {
            on,
            load_w,
            watts,
            energy_kwh,
            last_tick: None,
            reported_watts: watts,
            reported_energy_kwh: energy_kwh,
        }
    }

    /// Whether the relay is closed.
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// The meter reading, kWh.
    pub fn energy_kwh(&self) -> f64 {
        self.energy_kwh
    }

    fn apply_on(&mut self, value: &Value, applied: &mut Applied) {
        if let Some(on) = value.as_bool() {
            self.on = on;
            self.watts = if on { self.load_w } else { 0.0 };
            self.reported_watts = self.watts;
            applied.reported.insert("watts".into(), json!(self.watts));
        }
        applied.report("on", self.on);
    }

    /// Accumulates `secs` seconds of consumption and samples the power.
    fn meter(&mut self, secs: f64, rng: &mut DeviceRng) {
        self.energy_kwh += self.watts * secs / 3_600_000.0;
        self.watts = if self.on {
            round_decimals(
                self.load_w * (1.0 + rng.random_range(-LOAD_NOISE..=LOAD_NOISE)),
                1,
            )
        } else {
            0.0
        };
    }

    fn worth_reporting(&mut self) -> Object {
        let mut reported = Object::new();
        let energy = round_decimals(self.energy_kwh, 3);
        if energy - self.reported_energy_kwh >= REPORT_ENERGY_STEP_KWH {
            self.reported_energy_kwh = energy;
            reported.insert("energy_kwh".into(), json!(energy));
        }
        let threshold = REPORT_WATTS_MIN.max(self.reported_watts * REPORT_WATTS_FRACTION);
        if (self.watts - self.reported_watts).abs() >= threshold {
            self.reported_watts = self.watts;
            reported.insert("watts".into(), json!(self.watts));
        }
        reported
    }

    fn sample(&self, rng: &mut DeviceRng) -> Object {
        let voltage = round_decimals(MAINS_V + rng.random_range(-2.0..=2.0), 1);
        into_object(json!({
            "on": self.on,
            "watts": self.watts,
            "voltage_v": voltage,
            "current_a": round_decimals(self.watts / voltage, 3),
            "energy_kwh": round_decimals(self.energy_kwh, 4),
        }))
    }
}

impl DeviceModel for SmartPlug {
    fn kind(&self) -> DeviceKind {
        DeviceKind::Plug
    }

    fn initial_reported(&self) -> Object {
        into_object(json!({
            "on": self.on,
            "watts": self.reported_watts,
            "energy_kwh": self.reported_energy_kwh,
        }))
    }

    fn apply_desired(&mut self, delta: &Object) -> Applied {
        let mut applied = Applied::default();
        for (key, value) in delta {
            match key.as_str() {
                "on" => self.apply_on(value, &mut applied),
                _ => applied.clear(key),
            }
        }
        applied
    }

    fn tick(&mut self, now: Timestamp, rng: &mut DeviceRng) -> Tick {
        let secs = elapsed_secs(self.last_tick, now);
        self.last_tick = Some(now);
        self.meter(secs, rng);
        Tick {
            sample: self.sample(rng),
            reported: self.worth_reporting(),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rand::SeedableRng;

    use super::*;

    fn plug(seed: u64) -> (SmartPlug, DeviceRng) {
        let mut rng = DeviceRng::seed_from_u64(seed);
        (SmartPlug::new(&mut rng), rng)
    }

    fn switch(plug: &mut SmartPlug, on: bool) -> Applied {
        plug.apply_desired(&into_object(json!({ "on": on })))
    }

    #[test]
    fn switching_off_reports_off_and_zero_watts_and_clears_desired() {
        let (mut p, _) = plug(1);
        let applied = switch(&mut p, false);
        assert_eq!(
            applied.reported,
            into_object(json!({"on": false, "watts": 0.0}))
        );
        assert_eq!(applied.cleared, ["on"]);
    }

    #[test]
    fn a_non_boolean_switch_is_cleared_and_the_current_state_reported() {
        let (mut p, _) = plug(1);
        let before = p.is_on();
        let applied = p.apply_desired(&into_object(json!({"on": "yes please"})));
        assert_eq!(applied.reported, into_object(json!({ "on": before })));
        assert_eq!(applied.cleared, ["on"]);
    }

    #[test]
    fn an_hour_on_accumulates_the_load_in_kilowatt_hours() {
        let (mut p, mut rng) = plug(2);
        switch(&mut p, true);
        let start = p.energy_kwh();
        let mut reported = Object::new();
        for minute in 0..=60 {
            reported.extend(p.tick(Timestamp::from_secs(minute * 60), &mut rng).reported);
        }
        let used = p.energy_kwh() - start;
        let expected = p.load_w / 1000.0;
        assert!(
            (used - expected).abs() < expected * 0.05,
            "used {used} kWh, expected about {expected}"
        );
        assert!(
            reported.contains_key("energy_kwh"),
            "the meter was reported"
        );
    }

    #[test]
    fn a_plug_that_is_off_uses_no_energy() {
        let (mut p, mut rng) = plug(3);
        switch(&mut p, false);
        let start = p.energy_kwh();
        for minute in 0..=60 {
            let tick = p.tick(Timestamp::from_secs(minute * 60), &mut rng);
            assert_eq!(tick.sample["watts"], json!(0.0));
        }
        assert_eq!(p.energy_kwh(), start);
    }

    proptest! {
        #[test]
        fn the_meter_never_runs_backwards(seed: u64, steps in proptest::collection::vec((0u64..600, any::<bool>()), 1..40)) {
            let (mut p, mut rng) = plug(seed);
            let mut now = 0;
            let mut last = p.energy_kwh();
            for (secs, on) in steps {
                switch(&mut p, on);
                now += secs;
                p.tick(Timestamp::from_secs(now), &mut rng);
                prop_assert!(p.energy_kwh() >= last);
                last = p.energy_kwh();
            }
        }
    }
}
