//! Pure logic of the provisioning page, tested natively: a scan list whose order does not
//! jump and its filters, the attempts of this session, signal bars, and the ESP provisioning QR
//! payload.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use companion_model::{AttemptOutcome, AttemptView, ScannedDevice};
use serde::Deserialize;
use yew::Reducible;

/// Scans a device must be missing from before it leaves the list.
pub const FORGET_AFTER: u32 = 3;

/// The scan list shown, merged scan after scan ([`merge_scan`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanList {
    /// Each device with the number of scans it has been missing from.
    pub devices: Vec<(ScannedDevice, u32)>,
}

impl Reducible for ScanList {
    /// A scan's devices.
    type Action = Vec<ScannedDevice>;

    fn reduce(self: Rc<Self>, scan: Self::Action) -> Rc<Self> {
        Rc::new(Self {
            devices: merge_scan(&self.devices, &scan, FORGET_AFTER),
        })
    }
}

/// What the list shows: the name filter, the weakest signal wanted, and devices to hide.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanFilter {
    /// Part of the name, any case; empty for all.
    pub name: String,
    /// The weakest signal shown, dBm; devices without a reading are kept.
    pub min_rssi: Option<i16>,
    /// Hide devices this session has provisioned.
    pub hide_provisioned: bool,
}

/// The rows of `list` that `filter` lets through; `provisioned` holds device ids.
pub fn visible<'a>(
    list: &'a [(ScannedDevice, u32)],
    filter: &ScanFilter,
    provisioned: &BTreeSet<String>,
) -> Vec<&'a (ScannedDevice, u32)> {
    let needle = filter.name.to_lowercase();
    list.iter()
        .filter(|(d, _)| needle.is_empty() || d.name.to_lowercase().contains(&needle))
        .filter(|(d, _)| match (filter.min_rssi, d.rssi) {
            (Some(min), Some(rssi)) => rssi >= min,
            _ => true,
        })
        .filter(|(d, _)| !(filter.hide_provisioned && provisioned.contains(&d.id)))
        .collect()
}

/// The attempts of this session, by audit id, as their events arrive (in any order, from
/// several attempts at once).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attempts {
    /// Each attempt's latest view.
    pub by_id: BTreeMap<i64, AttemptView>,
}

/// A change to [`Attempts`].
#[derive(Debug, Clone)]
pub enum AttemptsAction {
    /// A progress event: the newest view.
    Changed(AttemptView),
    /// The answer to a start: the first view, unless an event came first.
    Started(AttemptView),
}

impl Reducible for Attempts {
    type Action = AttemptsAction;

    fn reduce(self: Rc<Self>, action: Self::Action) -> Rc<Self> {
        let mut by_id = self.by_id.clone();
        match action {
            AttemptsAction::Changed(view) => {
                by_id.insert(view.id, view);
            }
            AttemptsAction::Started(view) => {
                by_id.entry(view.id).or_insert(view);
            }
        }
        Rc::new(Self { by_id })
    }
}

impl Attempts {
    /// The ids of the devices taken online or onto Wi-Fi in this session.
    pub fn provisioned(&self) -> BTreeSet<String> {
        self.by_id
            .values()
            .filter(|v| {
                matches!(
                    v.outcome,
                    AttemptOutcome::Online { .. } | AttemptOutcome::WifiOnly
                )
            })
            .map(|v| v.device.id.clone())
            .collect()
    }

    /// Whether an attempt is working now (scans wait meanwhile: a radio busy scanning slows
    /// the links of the devices being provisioned).
    pub fn any_running(&self) -> bool {
        self.by_id
            .values()
            .any(|v| v.outcome == AttemptOutcome::Running)
    }
}

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
    fn filters_keep_the_order_and_hide_what_they_should() {
        let list = merge_scan(
            &[],
            &[device("a", -50), device("b", -75), device("c", -90)],
            3,
        );
        let ids = |rows: Vec<&(ScannedDevice, u32)>| -> Vec<String> {
            rows.into_iter().map(|(d, _)| d.id.clone()).collect()
        };
        let all = ScanFilter::default();
        assert_eq!(ids(visible(&list, &all, &BTreeSet::new())), ["a", "b", "c"]);
        let near = ScanFilter {
            min_rssi: Some(-80),
            ..ScanFilter::default()
        };
        assert_eq!(ids(visible(&list, &near, &BTreeSet::new())), ["a", "b"]);
        let done = BTreeSet::from(["a".to_owned()]);
        let hide = ScanFilter {
            hide_provisioned: true,
            ..ScanFilter::default()
        };
        assert_eq!(ids(visible(&list, &hide, &done)), ["b", "c"]);
        assert_eq!(
            ids(visible(&list, &all, &done)),
            ["a", "b", "c"],
            "shown when asked"
        );
        let named = ScanFilter {
            name: "prov_B".into(),
            ..ScanFilter::default()
        };
        assert_eq!(ids(visible(&list, &named, &BTreeSet::new())), ["b"]);
    }

    fn view(id: i64, device_id: &str, outcome: AttemptOutcome) -> AttemptView {
        AttemptView {
            id,
            device: device(device_id, -50),
            steps: Vec::new(),
            networks: Vec::new(),
            outcome,
            thing_name: None,
            certificate_id: None,
        }
    }

    #[test]
    fn attempts_keep_the_newest_view_whatever_the_order_of_arrival() {
        let attempts = Rc::new(Attempts::default());
        let attempts = attempts.reduce(AttemptsAction::Changed(view(
            1,
            "a",
            AttemptOutcome::Running,
        )));
        let attempts = attempts.reduce(AttemptsAction::Changed(view(
            2,
            "b",
            AttemptOutcome::WifiOnly,
        )));
        let attempts = attempts.reduce(AttemptsAction::Changed(view(
            1,
            "a",
            AttemptOutcome::Online {
                thing: "plug-1".into(),
            },
        )));
        // The start's answer arrives after the events: it does not roll the attempt back.
        let attempts = attempts.reduce(AttemptsAction::Started(view(
            1,
            "a",
            AttemptOutcome::Running,
        )));
        assert!(!attempts.any_running());
        assert_eq!(
            attempts.provisioned(),
            BTreeSet::from(["a".to_owned(), "b".to_owned()])
        );
        let attempts = attempts.reduce(AttemptsAction::Started(view(
            3,
            "c",
            AttemptOutcome::Running,
        )));
        assert!(attempts.any_running());
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
