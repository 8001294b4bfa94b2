//! The new devices in their boxes that the app's local sandbox and `companion sandbox` put on
//! the simulated radio, so that provisioning can be tried on a fresh machine.

use super::{DeviceLabel, DeviceSpec, Network, RadioError, SecuritySpec, SimulatedRadio};
use crate::devices::DeviceKind;

/// The network the demo devices are provisioned onto, and its passphrase (also in the
/// sandbox's README).
pub const DEMO_NETWORK: (&str, &str) = ("Workshop", "provision-me");

/// The `count` demo devices, taking turns through the device kinds and security schemes: a
/// plug with security 1 (PoP `abcd1234`), a light with security 2 (`wifiprov` /
/// `light-secret`), and a thermostat whose firmware takes Wi-Fi only. Each sees `Workshop`
/// (WPA2, the demo passphrase), an open `Guest` and a far `Office-5G`. The serials follow
/// `seed`.
pub fn demo_devices(seed: u64, count: usize) -> Vec<DeviceSpec> {
    (0..count)
        .map(|index| {
            let serial = format!(
                "{:06X}",
                (seed.wrapping_mul(7919) + index as u64 * 104_729) & 0xFF_FFFF
            );
            let spec = match index % 3 {
                0 => DeviceSpec::new(serial, DeviceKind::Plug, SecuritySpec::sec1("abcd1234")),
                1 => DeviceSpec::new(
                    serial,
                    DeviceKind::Light,
                    SecuritySpec::sec2("wifiprov", "light-secret"),
                ),
                _ => DeviceSpec::new(
                    serial,
                    DeviceKind::Thermostat,
                    SecuritySpec::sec1("abcd1234"),
                )
                .wifi_only(),
            };
            let strength = i16::try_from(index % 5).unwrap_or(0);
            spec.with_network(Network::wpa2(DEMO_NETWORK.0, DEMO_NETWORK.1).with_rssi(-52))
                .with_network(Network::open("Guest").with_rssi(-71))
                .with_network(Network::wpa2("Office-5G", "not-this-one").with_rssi(-83))
                .with_rssi(-48 - strength * 9)
        })
        .collect()
}

/// Puts the `count` demo devices on `radio` and returns their labels.
pub fn add_demo_devices(
    radio: &SimulatedRadio,
    seed: u64,
    count: usize,
) -> Result<Vec<DeviceLabel>, RadioError> {
    demo_devices(seed, count)
        .into_iter()
        .map(|spec| radio.add_device(spec))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radio::RadioConfig;

    #[test]
    fn demo_devices_cycle_through_kinds_and_schemes() {
        let radio = SimulatedRadio::new(RadioConfig::default());
        let labels = add_demo_devices(&radio, 1, 4).expect("added");
        let kinds: Vec<DeviceKind> = labels.iter().map(|l| l.kind).collect();
        assert_eq!(
            kinds,
            [
                DeviceKind::Plug,
                DeviceKind::Light,
                DeviceKind::Thermostat,
                DeviceKind::Plug
            ]
        );
        assert_eq!(labels[1].username.as_deref(), Some("wifiprov"));
        assert_eq!(labels[0].secret.expose(), b"abcd1234");
        let again = demo_devices(1, 4);
        assert_eq!(again[3].serial, labels[3].serial, "serials follow the seed");
    }
}
