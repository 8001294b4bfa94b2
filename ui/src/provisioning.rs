//! Pure logic of the provisioning page, tested natively: a scan list whose order does not
//! jump, signal bars, and the ESP provisioning QR payload.

use companion_model::ScannedDevice;
use serde::Deserialize;

/// Merges a new scan into the list shown: devices already listed keep their place (their
/// signal is updated), new ones are appended strongest first, and devices not seen for
/// `forget_after` scans are dropped. The list never reorders under the user's finger.
pub fn merge_scan(
    shown: &[(ScannedDevice, u32)],
    scan: &[ScannedDevice],
    forget_after: u32,
) -> Vec<(ScannedDevice, u32)> {
    let mut merged: Vec<(ScannedDevice, u32)> = shown
        .iter()
        .filter_map(
            |(device, missed)| match scan.iter().find(|d| d.id == device.id) {
                Some(fresh) => Some((fresh.clone(), 0)),
                None if missed + 1 < forget_after => Some((device.clone(), missed + 1)),
                None => None,
            },
        )
        .collect();
    let mut new: Vec<&ScannedDevice> = scan
        .iter()
        .filter(|d| !shown.iter().any(|(s, _)| s.id == d.id))
        .collect();
    new.sort_by(|a, b| b.rssi.cmp(&a.rssi).then_with(|| a.name.cmp(&b.name)));
    merged.extend(new.into_iter().map(|d| (d.clone(), 0)));
    merged
}

/// Signal bars from 0 to 4 for a dBm reading (BLE and Wi-Fi alike).
pub fn bars(rssi: Option<i32>) -> u8 {
    match rssi {
        None => 0,
        Some(dbm) if dbm >= -55 => 4,
        Some(dbm) if dbm >= -67 => 3,
        Some(dbm) if dbm >= -78 => 2,
        Some(dbm) if dbm >= -90 => 1,
        Some(_) => 0,
    }
}

/// What an ESP provisioning QR code carries: `{"ver":"v1","name":"PROV_…","pop":"…",
/// "transport":"ble"}` (ESP-IDF's `wifi_prov_print_qr`; security 2 codes add `username` and
/// carry the password in `pop`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct QrPayload {
    /// Payload version.
    pub ver: String,
    /// The device's advertised name.
    pub name: String,
    /// The proof of possession (security 1) or password (security 2).
    #[serde(default)]
    pub pop: Option<String>,
    /// Security 2's username.
    #[serde(default)]
    pub username: Option<String>,
    /// `ble` or `softap`.
    #[serde(default)]
    pub transport: Option<String>,
}

/// Reads a pasted QR payload, or says what is wrong with it.
pub fn parse_qr(text: &str) -> Result<QrPayload, String> {
    let payload: QrPayload = serde_json::from_str(text.trim()).map_err(|_| {
        "This is not an ESP provisioning QR payload: it looks like {\"ver\":\"v1\",\"name\":\"PROV_…\",\"pop\":\"…\",\"transport\":\"ble\"}.".to_owned()
    })?;
    if payload.name.is_empty() {
        return Err("The QR payload names no device.".to_owned());
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(id: &str, rssi: i16) -> ScannedDevice {
        ScannedDevice {
            id: id.to_owned(),
            name: format!("PROV_{id}"),
            rssi: Some(rssi),
        }
    }

    #[test]
    fn a_rescan_never_reorders_the_list() {
        let first = merge_scan(&[], &[device("a", -70), device("b", -50)], 3);
        let ids: Vec<&str> = first.iter().map(|(d, _)| d.id.as_str()).collect();
        assert_eq!(ids, ["b", "a"], "new devices come strongest first");
        let second = merge_scan(
            &first,
            &[device("a", -40), device("c", -30), device("b", -80)],
            3,
        );
        let ids: Vec<&str> = second.iter().map(|(d, _)| d.id.as_str()).collect();
        assert_eq!(ids, ["b", "a", "c"], "known devices keep their place");
        assert_eq!(second[1].0.rssi, Some(-40), "their signal is updated");
    }

    #[test]
    fn a_device_out_of_range_fades_after_a_few_scans() {
        let mut list = merge_scan(&[], &[device("a", -60)], 2);
        list = merge_scan(&list, &[], 2);
        assert_eq!(list.len(), 1, "one missed scan keeps it");
        list = merge_scan(&list, &[], 2);
        assert!(list.is_empty(), "two missed scans drop it");
    }

    #[test]
    fn bars_follow_the_signal() {
        assert_eq!(bars(Some(-40)), 4);
        assert_eq!(bars(Some(-60)), 3);
        assert_eq!(bars(Some(-75)), 2);
        assert_eq!(bars(Some(-85)), 1);
        assert_eq!(bars(Some(-99)), 0);
        assert_eq!(bars(None), 0);
    }

    #[test]
    fn the_qr_payload_of_esp_idf_is_read() {
        let qr =
            parse_qr(r#"{"ver":"v1","name":"PROV_1A2B3C","pop":"abcd1234","transport":"ble"}"#)
                .expect("valid");
        assert_eq!(qr.name, "PROV_1A2B3C");
        assert_eq!(qr.pop.as_deref(), Some("abcd1234"));
        assert!(parse_qr("PROV_1A2B3C").is_err());
        assert!(parse_qr(r#"{"ver":"v1","name":""}"#).is_err());
    }
}
