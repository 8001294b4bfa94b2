//! Simulated devices that behave like real firmware, for the local AWS IoT Core stand-in.
//!
//! Layers, from pure to I/O:
//! * device models ([`Thermostat`], [`SmartPlug`], [`Light`]) behind [`DeviceModel`]: state,
//!   desired-state validation and a deterministic simulation under a seeded [`DeviceRng`];
//! * [`Firmware`]: a sans-IO machine speaking the Shadow and Jobs MQTT APIs through
//!   `companion_awsiot`'s client builders, taking messages and the time and returning
//!   [`Action`]s;
//! * [`SimulatedDevice`]: the tokio driver, one rumqttc connection per device;
//! * [`SimulatedFleet`]: N devices of mixed kinds from one seed.
//!
//! ```no_run
//! # async fn example() -> Result<(), companion_sandbox::devices::DeviceError> {
//! use companion_sandbox::connect::Endpoint;
//! use companion_sandbox::devices::{FleetSpec, SimulatedFleet};
//!
//! let spec = FleetSpec { seed: 7, count: 3, ..FleetSpec::default() };
//! let fleet = SimulatedFleet::spawn(&spec, |_thing| Endpoint {
//!     host: "127.0.0.1".into(),
//!     port: 1883,
//!     tls: None,
//! })?;
//! // ... thermostat-0001, plug-0002 and light-0003 report, follow desired state and run jobs.
//! fleet.shutdown().await?;
//! # Ok(())
//! # }
//! ```

pub mod clock;
pub mod driver;
pub mod firmware;
pub mod fleet;
pub mod job;
pub mod light;
pub mod model;
pub mod plug;
pub mod settings;
pub mod telemetry;
pub mod thermostat;

pub use clock::{Clock, SystemClock};
pub use driver::{Backoff, DeviceError, DriverOptions, SimulatedDevice};
pub use firmware::{Action, Firmware, FirmwareOptions, Qos};
pub use fleet::{FleetMember, FleetSpec, SimulatedFleet, plan};
pub use job::{JobOrder, JobRun};
pub use light::Light;
pub use model::{Applied, DeviceKind, DeviceModel, DeviceRng, Tick};
pub use plug::SmartPlug;
pub use settings::{DeviceSettings, FirmwareChannel};
pub use telemetry::{TELEMETRY_FILTER, TelemetryMessage, telemetry_topic};
pub use thermostat::Thermostat;
