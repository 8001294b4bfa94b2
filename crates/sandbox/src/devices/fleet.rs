//! A fleet of simulated devices of mixed kinds, derived from one seed.
//!
//! Device `i` (from 1) is of kind `DeviceKind::ALL[(i - 1) % 3]` and is named
//! `{kind}-{i:04}`: `thermostat-0001`, `plug-0002`, `light-0003`, `thermostat-0004`, ... Its
//! random source is seeded from the fleet's seed, so the same seed gives the same fleet with
//! the same initial states and the same sequence of values at the same tick times.

use companion_awsiot::ThingName;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::driver::{DeviceError, DriverOptions, SimulatedDevice};
use super::firmware::{Firmware, FirmwareOptions};
use super::model::{DeviceKind, DeviceRng};
use crate::connect::Endpoint;

/// What fleet to simulate.
#[derive(Debug, Clone, Default)]
pub struct FleetSpec {
    /// Seeds every device's initial state and noise.
    pub seed: u64,
    /// How many devices.
    pub count: usize,
    /// Firmware behaviour shared by all devices.
    pub firmware: FirmwareOptions,
    /// Connection behaviour shared by all devices.
    pub driver: DriverOptions,
}

/// One planned device: its name, kind and seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetMember {
    /// The thing name, also the MQTT client id.
    pub thing: ThingName,
    /// The kind of device.
    pub kind: DeviceKind,
    /// The seed of the device's random source.
    pub seed: u64,
}

impl FleetMember {
    /// The device's firmware, in its initial state.
    pub fn firmware(&self, options: &FirmwareOptions) -> Firmware {
        let mut rng = DeviceRng::seed_from_u64(self.seed);
        let model = self.kind.build(&mut rng);
        Firmware::new(self.thing.clone(), model, rng, options.clone())
    }
}

/// The devices a seed gives: names, kinds and per-device seeds.
pub fn plan(seed: u64, count: usize) -> Vec<FleetMember> {
    let mut seeds = DeviceRng::seed_from_u64(seed);
    (1..=count)
        .map(|number| {
            let kind = DeviceKind::ALL[(number - 1) % DeviceKind::ALL.len()];
            let thing = ThingName::new(format!("{kind}-{number:04}"))
                .expect("kind names with digits are valid thing names");
            FleetMember {
                thing,
                kind,
                seed: seeds.next_u64(),
            }
        })
        .collect()
}

/// A running device of the fleet.
#[derive(Debug)]
struct Running {
    thing: ThingName,
    kind: DeviceKind,
    task: JoinHandle<Firmware>,
}

/// Simulated devices running on the current tokio runtime, one task and one MQTT connection
/// each.
#[derive(Debug)]
pub struct SimulatedFleet {
    devices: Vec<Running>,
    stop: watch::Sender<bool>,
}

impl SimulatedFleet {
    /// Spawns the devices of `spec`; each connects to the endpoint `endpoint_for` gives for
    /// its thing name (for example one with a certificate issued for that thing). Must be
    /// called within a tokio runtime.
    pub fn spawn(
        spec: &FleetSpec,
        mut endpoint_for: impl FnMut(&ThingName) -> Endpoint,
    ) -> Result<Self, DeviceError> {
        let (stop, _) = watch::channel(false);
        let devices = plan(spec.seed, spec.count)
            .into_iter()
            .map(|member| {
                let firmware = member.firmware(&spec.firmware);
                let endpoint = endpoint_for(&member.thing);
                let device = SimulatedDevice::new(firmware, &endpoint, spec.driver.clone())?;
                Ok(Running {
                    thing: member.thing,
                    kind: member.kind,
                    task: tokio::spawn(device.run(stop.subscribe())),
                })
            })
            .collect::<Result<Vec<_>, DeviceError>>()?;
        Ok(Self { devices, stop })
    }

    /// The devices' thing names and kinds, in fleet order.
    pub fn things(&self) -> impl Iterator<Item = (&ThingName, DeviceKind)> {
        self.devices.iter().map(|d| (&d.thing, d.kind))
    }

    /// How many devices run.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// True for a fleet of no devices.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// Stops every device, waits for each to disconnect cleanly, and returns their firmware
    /// in fleet order.
    pub async fn shutdown(self) -> Result<Vec<Firmware>, DeviceError> {
        self.stop.send_replace(true);
        let mut firmware = Vec::with_capacity(self.devices.len());
        for device in self.devices {
            let stopped = device.task.await.map_err(|e| DeviceError::Crashed {
                thing: device.thing.to_string(),
                reason: e.to_string(),
            })?;
            firmware.push(stopped);
        }
        Ok(firmware)
    }
}

#[cfg(test)]
mod tests {
    use companion_awsiot::Timestamp;
    use companion_awsiot::shadow::Object;

    use super::*;

    #[test]
    fn devices_cycle_through_the_kinds_with_numbered_names() {
        let names: Vec<String> = plan(1, 5).iter().map(|m| m.thing.to_string()).collect();
        assert_eq!(
            names,
            [
                "thermostat-0001",
                "plug-0002",
                "light-0003",
                "thermostat-0004",
                "plug-0005"
            ]
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_fleet() {
        assert_eq!(plan(42, 9), plan(42, 9));
        assert_ne!(plan(42, 9), plan(43, 9), "another seed, other devices");
        assert_eq!(
            plan(42, 9)[..4],
            plan(42, 4)[..],
            "a larger fleet extends a smaller one"
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_sequence_of_model_values() {
        let values = |seed| -> Vec<Object> {
            plan(seed, 3)
                .iter()
                .flat_map(|member| {
                    let mut rng = DeviceRng::seed_from_u64(member.seed);
                    let mut model = member.kind.build(&mut rng);
                    let mut samples = vec![model.initial_reported()];
                    for i in 0..10 {
                        samples.push(model.tick(Timestamp::from_secs(i * 5), &mut rng).sample);
                    }
                    samples
                })
                .collect()
        };
        assert_eq!(values(7), values(7));
        assert_ne!(values(7), values(8));
    }
}
