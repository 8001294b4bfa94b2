//! What a provisionable simulated device is ([`DeviceSpec`]: security, networks, Wi-Fi
//! behaviour) and how it reports itself ([`DeviceLabel`], [`DeviceStatus`]).

use std::time::Duration;

use companion_espprov::proto::wifi_constants::WifiAuthMode;
use companion_espprov::wifi::config::{FailReason, WifiCredentials};
use companion_espprov::wifi::scan::AccessPoint;
use companion_espprov::{
    Passphrase, Password, Pop, Sec2Patch, Secret, SecurityScheme, VerifierOrigin,
};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::devices::{DeviceKind, FirmwareOptions};

/// The most access points a scan reports (ESP-IDF's `CONFIG_WIFI_PROV_SCAN_MAX_ENTRIES`
/// default).
pub const MAX_SCAN_RESULTS: usize = 16;

/// How a device secures its provisioning session.
#[derive(Debug, Clone)]
pub enum SecuritySpec {
    /// Security 0: no secret at all.
    Sec0,
    /// Security 1 with a proof of possession (empty: `no_pop`).
    Sec1 {
        /// The PoP printed on the device's label.
        pop: Pop,
    },
    /// Security 2 with a username and password; the device keeps only a salt and verifier.
    Sec2 {
        /// The SRP username (ESP-IDF's examples use `wifiprov`).
        username: String,
        /// The password printed on the label.
        password: Password,
        /// The nonce rule advertised as `sec_patch_ver`.
        patch: Sec2Patch,
        /// The tool that made the device's verifier (esp_prov's differs for about one password
        /// in 256).
        origin: VerifierOrigin,
    },
}

impl SecuritySpec {
    /// Security 1 with this PoP.
    pub fn sec1(pop: impl Into<Pop>) -> Self {
        Self::Sec1 { pop: pop.into() }
    }

    /// Security 2 for `username` and `password`, with the current nonce rule
    /// (`sec_patch_ver` 1).
    pub fn sec2(username: impl Into<String>, password: impl Into<Password>) -> Self {
        Self::Sec2 {
            username: username.into(),
            password: password.into(),
            patch: Sec2Patch::Counter,
            origin: VerifierOrigin::EspSrp,
        }
    }

    /// Security 2 whose salt and verifier were made with esp_prov's `--sec2_gen_cred` (the
    /// tool ESP-IDF's documentation names) rather than on the device.
    pub fn sec2_from_esp_prov(username: impl Into<String>, password: impl Into<Password>) -> Self {
        Self::Sec2 {
            username: username.into(),
            password: password.into(),
            patch: Sec2Patch::Counter,
            origin: VerifierOrigin::EspProv,
        }
    }

    /// The scheme.
    pub fn scheme(&self) -> SecurityScheme {
        match self {
            Self::Sec0 => SecurityScheme::Sec0,
            Self::Sec1 { .. } => SecurityScheme::Sec1,
            Self::Sec2 { .. } => SecurityScheme::Sec2,
        }
    }
}

/// A Wi-Fi network the device can see, with the passphrase that joins it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// The SSID.
    pub ssid: String,
    /// Its signal at the device, dBm.
    pub rssi: i32,
    /// Its authentication mode.
    pub auth: WifiAuthMode,
    /// Its channel.
    pub channel: u32,
    /// The passphrase that joins it (ignored for an open network).
    pub passphrase: Passphrase,
}

impl Network {
    /// A WPA2-PSK network on channel 6 at −55 dBm.
    pub fn wpa2(ssid: impl Into<String>, passphrase: impl Into<Passphrase>) -> Self {
        Self {
            ssid: ssid.into(),
            rssi: -55,
            auth: WifiAuthMode::Wpa2Psk,
            channel: 6,
            passphrase: passphrase.into(),
        }
    }

    /// An open network on channel 1 at −70 dBm.
    pub fn open(ssid: impl Into<String>) -> Self {
        Self {
            ssid: ssid.into(),
            rssi: -70,
            auth: WifiAuthMode::Open,
            channel: 1,
            passphrase: Passphrase::default(),
        }
    }

    /// The same network at another signal strength.
    pub fn with_rssi(mut self, rssi: i32) -> Self {
        self.rssi = rssi;
        self
    }

    /// The access point's BSSID, derived from the SSID (a locally administered address).
    pub fn bssid(&self) -> [u8; 6] {
        let digest = Sha256::digest(self.ssid.as_bytes());
        [0x02, digest[0], digest[1], digest[2], digest[3], digest[4]]
    }

    pub(crate) fn access_point(&self) -> AccessPoint {
        AccessPoint {
            ssid: self.ssid.as_bytes().to_vec(),
            channel: self.channel,
            rssi: self.rssi,
            bssid: self.bssid().to_vec(),
            auth: self.auth.into(),
        }
    }
}

/// Whether the BLE link drops when the station joins Wi-Fi, as it does on many ESP32 boards
/// when the shared radio switches to the access point's channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LinkDropOnJoin {
    /// The link stays up.
    #[default]
    Never,
    /// The link drops the moment the station gets its address: the app's next status poll
    /// fails with a disconnect.
    OnJoin,
    /// The link drops right after the device has answered the first status poll that says
    /// Connected.
    AfterReport,
}

/// What happens after a failed join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FailureRecovery {
    /// The firmware resets the provisioning state machine itself
    /// (`wifi_prov_mgr_reset_sm_state_on_failure` from its failure event, as ESP-IDF's
    /// provisioning example does): status keeps reporting the failure, and new credentials may
    /// be applied at once.
    #[default]
    AutoReset,
    /// `CmdApplyConfig` is refused (`InternalError`, "credentials already received") until the
    /// app sends `prov-ctrl` `CmdCtrlReset`.
    CtrlReset,
}

/// What the device does when an endpoint's handler fails (a wrong PoP, an undecryptable or
/// undecodable request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HandlerFailure {
    /// NimBLE: the write is answered with ATT error 0x04 and the link stays.
    #[default]
    AttError,
    /// Bluedroid: the device drops the link.
    Disconnect,
}

/// The device's Wi-Fi timing and quirks.
#[derive(Debug, Clone, PartialEq)]
pub struct WifiBehaviour {
    /// From `CmdApplyConfig` to Connected or ConnectionFailed.
    pub join_time: Duration,
    /// How long a Wi-Fi scan takes (a blocking `CmdScanStart` answers after it).
    pub scan_time: Duration,
    /// Whether the BLE link drops when the station joins.
    pub link_drop: LinkDropOnJoin,
    /// What happens after a failed join.
    pub recovery: FailureRecovery,
}

impl Default for WifiBehaviour {
    /// 300 ms to join, 50 ms to scan, the link stays, automatic reset after a failure.
    fn default() -> Self {
        Self {
            join_time: Duration::from_millis(300),
            scan_time: Duration::from_millis(50),
            link_drop: LinkDropOnJoin::Never,
            recovery: FailureRecovery::AutoReset,
        }
    }
}

/// A provisionable device to put on the simulated radio.
#[derive(Debug, Clone)]
pub struct DeviceSpec {
    /// The serial number on its label (a fleet provisioning parameter).
    pub serial: String,
    /// Its model: which simulated firmware runs once it is online.
    pub kind: DeviceKind,
    /// Security 0, 1 or 2 and its secret.
    pub security: SecuritySpec,
    /// Whether the firmware has our `aws-iot` credential endpoint; without it the device is a
    /// plain ESP-IDF one that gets Wi-Fi only.
    pub credential_endpoint: bool,
    /// The networks it can see.
    pub networks: Vec<Network>,
    /// Its advertising signal at the phone, dBm (each scan wanders a few dB around it).
    pub rssi: i16,
    /// Wi-Fi timing and quirks.
    pub wifi: WifiBehaviour,
    /// What a failing handler does to the link.
    pub handler_failure: HandlerFailure,
    /// Its firmware's behaviour once online.
    pub firmware: FirmwareOptions,
    /// A firmware bug: its certificate signing requests carry a signature that does not
    /// verify (the app must refuse them).
    pub broken_csr_signature: bool,
    /// Seeds its appliance model (initial state, noise).
    pub seed: u64,
}

impl DeviceSpec {
    /// A device with the credential endpoint, no networks in range, −60 dBm and default
    /// behaviour; its model's seed comes from the serial.
    pub fn new(serial: impl Into<String>, kind: DeviceKind, security: SecuritySpec) -> Self {
        let serial = serial.into();
        let digest = Sha256::digest(serial.as_bytes());
        let mut seed = [0; 8];
        seed.copy_from_slice(&digest[..8]);
        Self {
            serial,
            kind,
            security,
            credential_endpoint: true,
            networks: Vec::new(),
            rssi: -60,
            wifi: WifiBehaviour::default(),
            handler_failure: HandlerFailure::default(),
            firmware: FirmwareOptions::default(),
            broken_csr_signature: false,
            seed: u64::from_le_bytes(seed),
        }
    }

    /// Adds a network in range.
    pub fn with_network(mut self, network: Network) -> Self {
        self.networks.push(network);
        self
    }

    /// A plain ESP-IDF device: no `aws-iot` endpoint, Wi-Fi only.
    pub fn wifi_only(mut self) -> Self {
        self.credential_endpoint = false;
        self
    }

    /// Other Wi-Fi timing and quirks.
    pub fn with_wifi(mut self, wifi: WifiBehaviour) -> Self {
        self.wifi = wifi;
        self
    }

    /// Another advertising signal strength.
    pub fn with_rssi(mut self, rssi: i16) -> Self {
        self.rssi = rssi;
        self
    }

    /// A firmware whose certificate signing requests do not verify.
    pub fn with_broken_csr_signature(mut self) -> Self {
        self.broken_csr_signature = true;
        self
    }

    /// Another handler-failure behaviour.
    pub fn with_handler_failure(mut self, failure: HandlerFailure) -> Self {
        self.handler_failure = failure;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.serial.is_empty() || self.serial.len() > 64 {
            return Err("the serial must have 1 to 64 characters".into());
        }
        if let SecuritySpec::Sec2 {
            username, password, ..
        } = &self.security
            && (username.is_empty() || password.is_empty())
        {
            return Err("Security 2 needs a username and a password".into());
        }
        for network in &self.networks {
            WifiCredentials::new(network.ssid.as_bytes(), network.passphrase.clone())
                .map_err(|e| format!("the network {:?} is invalid: {e}", network.ssid))?;
        }
        Ok(())
    }
}

/// What is printed on the device's box: what a technician reads or scans.
#[derive(Debug, Clone)]
pub struct DeviceLabel {
    /// The radio id to connect with (its Bluetooth address).
    pub id: String,
    /// The advertised name, `PROV_XXXXXX`.
    pub name: String,
    /// The serial number.
    pub serial: String,
    /// The model.
    pub kind: DeviceKind,
    /// The security scheme.
    pub security: SecurityScheme,
    /// The Security 2 username, if any.
    pub username: Option<String>,
    /// The PoP (Security 1) or password (Security 2); empty for Security 0.
    pub secret: Secret,
}

impl DeviceLabel {
    /// The QR code's payload, as ESP-IDF's examples print it:
    /// `{"ver":"v1","name":"PROV_…","pop":"…","transport":"ble"}` (plus `username` for
    /// Security 2). It holds the secret, so it is one.
    pub fn qr_payload(&self) -> Secret {
        let mut payload = json!({"ver": "v1", "name": self.name, "transport": "ble"});
        if !self.secret.is_empty() {
            payload["pop"] = String::from_utf8_lossy(self.secret.expose()).into();
        }
        if let Some(username) = &self.username {
            payload["username"] = username.clone().into();
        }
        Secret::new(payload.to_string())
    }
}

/// The station as the device reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WifiStatus {
    /// No credentials applied yet.
    Disconnected,
    /// Joining.
    Connecting {
        /// The network.
        ssid: String,
    },
    /// Joined, with an address.
    Connected {
        /// The network.
        ssid: String,
        /// The station's IPv4 address.
        ip: String,
    },
    /// The join failed.
    Failed {
        /// The network.
        ssid: String,
        /// Why.
        reason: FailReason,
    },
}

/// The installed AWS IoT identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityStatus {
    /// The thing name (also the MQTT client id).
    pub thing_name: String,
    /// The AWS IoT data endpoint host.
    pub endpoint: String,
    /// Its port.
    pub port: u16,
    /// The installed certificate's id (SHA-256 of its DER).
    pub certificate_id: String,
}

/// Whether the device is online in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloudState {
    /// No Wi-Fi yet.
    WaitingForWifi,
    /// Wi-Fi is up; no identity installed yet.
    WaitingForIdentity,
    /// Wi-Fi only: a device without the credential endpoint stays offline from the sandbox's
    /// point of view.
    WifiOnly,
    /// Its firmware runs and keeps an MQTT connection to the installed endpoint (reconnecting
    /// with backoff while the broker refuses it, e.g. before its certificate is activated).
    Running {
        /// The thing it runs as.
        thing_name: String,
    },
    /// The installed identity cannot be used.
    Failed {
        /// Why.
        reason: String,
    },
}

/// A snapshot of one device, as [`super::SimulatedRadio::status`] and `watch` report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceStatus {
    /// The radio id.
    pub id: String,
    /// The advertised name.
    pub name: String,
    /// The serial number.
    pub serial: String,
    /// The model.
    pub kind: DeviceKind,
    /// Whether it advertises (provisioning runs and nobody is connected).
    pub advertising: bool,
    /// Whether a client is connected.
    pub link_open: bool,
    /// Whether the connected client has a secure session.
    pub session_established: bool,
    /// The station.
    pub wifi: WifiStatus,
    /// The installed identity.
    pub identity: Option<IdentityStatus>,
    /// Online or why not.
    pub cloud: CloudState,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(security: SecurityScheme, username: Option<&str>, secret: &str) -> DeviceLabel {
        DeviceLabel {
            id: "24:0A:C4:1A:2B:3C".into(),
            name: "PROV_1A2B3C".into(),
            serial: "SN1".into(),
            kind: DeviceKind::Light,
            security,
            username: username.map(str::to_owned),
            secret: Secret::from(secret),
        }
    }

    #[test]
    fn the_qr_payload_is_esp_idf_s_and_debug_output_hides_the_secret() {
        let sec1 = label(SecurityScheme::Sec1, None, "abcd1234");
        let payload: serde_json::Value =
            serde_json::from_slice(sec1.qr_payload().expose()).expect("JSON");
        assert_eq!(
            payload,
            json!({"ver": "v1", "name": "PROV_1A2B3C", "pop": "abcd1234", "transport": "ble"})
        );
        let sec2 = label(SecurityScheme::Sec2, Some("wifiprov"), "abcd1234");
        let payload: serde_json::Value =
            serde_json::from_slice(sec2.qr_payload().expose()).expect("JSON");
        assert_eq!(payload["username"], "wifiprov");
        let sec0 = label(SecurityScheme::Sec0, None, "");
        let payload: serde_json::Value =
            serde_json::from_slice(sec0.qr_payload().expose()).expect("JSON");
        assert!(payload.get("pop").is_none(), "{payload}");

        let spec = DeviceSpec::new(
            "SN1",
            DeviceKind::Light,
            SecuritySpec::sec2("u", "abcd1234"),
        )
        .with_network(Network::wpa2("home", "correct horse"));
        for shown in [
            format!("{sec2:?}"),
            format!("{spec:?}"),
            format!("{:?}", sec2.qr_payload()),
        ] {
            assert!(
                !shown.contains("abcd1234") && !shown.contains("correct horse"),
                "{shown}"
            );
        }
    }

    #[test]
    fn specs_are_checked() {
        let ok = DeviceSpec::new("SN1", DeviceKind::Plug, SecuritySpec::sec1("abcd1234"));
        assert!(ok.validate().is_ok());
        assert!(
            DeviceSpec::new("", DeviceKind::Plug, SecuritySpec::Sec0)
                .validate()
                .is_err()
        );
        assert!(
            DeviceSpec::new("SN1", DeviceKind::Plug, SecuritySpec::sec2("", "pw"))
                .validate()
                .is_err()
        );
        assert!(
            ok.clone()
                .with_network(Network::wpa2("home", "short"))
                .validate()
                .is_err(),
            "a WPA2 passphrase has 8 to 63 characters"
        );
    }
}
