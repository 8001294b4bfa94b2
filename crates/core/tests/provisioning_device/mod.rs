//! Both ends of ESP unified provisioning for the transport tests, built from companion-espprov:
//! [`EspDevice`] plays the firmware (the device role behind a fake BlueZ or an HTTP server),
//! [`provision`] plays the app over any [`ProvLink`].

#![allow(dead_code)]

use companion_core::provision::{ProvLink, TransportError};
use companion_espprov::endpoint::{PROTO_VER, PROV_CONFIG, PROV_SCAN, PROV_SESSION};
use companion_espprov::proto::wifi_constants::WifiAuthMode;
use companion_espprov::wifi::config::{
    ConfigRequest, ConfigResponse, ConnectedInfo, StationStatus, WifiCredentials,
};
use companion_espprov::wifi::scan::{self, AccessPoint, ScanOptions, ScanRequest, ScanResponse};
use companion_espprov::{
    DeviceSecurity, DeviceSession, Passphrase, Pop, SecurityScheme, Session, Step, VersionInfo,
};

/// A custom endpoint that answers with its (decrypted) request reversed.
pub const ECHO: &str = "custom-echo";
/// The device's proof of possession.
pub const POP: &str = "abcd1234";
/// The network the tests provision.
pub const SSID: &[u8] = b"workshop-2g";
/// Its passphrase (never printed by the code under test).
pub const PASSPHRASE: &str = "correct horse battery";

/// The firmware side: protocomm's endpoints over one transport session.
#[derive(Debug)]
pub struct EspDevice {
    session: DeviceSession,
    networks: Vec<AccessPoint>,
    credentials: Option<WifiCredentials>,
    applied: bool,
}

impl EspDevice {
    /// A Security 1 device with [`POP`] that sees `networks` access points.
    pub fn sec1(networks: usize) -> Self {
        Self {
            session: DeviceSession::new(DeviceSecurity::Sec1 {
                pop: Pop::from(POP),
            }),
            networks: access_points(networks),
            credentials: None,
            applied: false,
        }
    }

    /// The transport session ended (BLE disconnect, a new HTTP session).
    pub fn close_session(&mut self) {
        self.session.close();
    }

    /// The SSID the app configured, once it did.
    pub fn configured_ssid(&self) -> Option<Vec<u8>> {
        self.credentials.as_ref().map(|c| c.ssid.clone())
    }

    /// Handles one request to `endpoint`. An error is what ESP-IDF's handler failure is: no
    /// answer (an ATT error on BLE, a closed socket on HTTP).
    pub fn handle(&mut self, endpoint: &str, request: &[u8]) -> Result<Vec<u8>, String> {
        match endpoint {
            PROTO_VER => Ok(self.session.version_info(&["wifi_scan"]).to_json()),
            PROV_SESSION => {
                let mut rng = rand::rng();
                self.session
                    .handle_request(request, &mut rng)
                    .map_err(|e| e.to_string())
            }
            PROV_SCAN => {
                let plain = self.session.decrypt(request).map_err(|e| e.to_string())?;
                let answer = match ScanRequest::decode(&plain).map_err(|e| e.to_string())? {
                    ScanRequest::Start(_) => ScanResponse::Started,
                    ScanRequest::Status => ScanResponse::Status {
                        finished: true,
                        result_count: self.networks.len() as u32,
                    },
                    ScanRequest::Results { start_index, count } => {
                        let from = (start_index as usize).min(self.networks.len());
                        let to = (from + count as usize).min(self.networks.len());
                        ScanResponse::Results(self.networks[from..to].to_vec())
                    }
                };
                self.session
                    .encrypt(&answer.encode())
                    .map_err(|e| e.to_string())
            }
            PROV_CONFIG => {
                let plain = self.session.decrypt(request).map_err(|e| e.to_string())?;
                let answer = match ConfigRequest::decode(&plain).map_err(|e| e.to_string())? {
                    ConfigRequest::SetConfig(credentials) => {
                        self.credentials = Some(credentials);
                        ConfigResponse::ConfigSet
                    }
                    ConfigRequest::ApplyConfig => {
                        self.applied = true;
                        ConfigResponse::ConfigApplied
                    }
                    ConfigRequest::GetStatus => ConfigResponse::Status(self.station()),
                };
                self.session
                    .encrypt(&answer.encode())
                    .map_err(|e| e.to_string())
            }
            ECHO => {
                let plain = self.session.decrypt(request).map_err(|e| e.to_string())?;
                let reversed: Vec<u8> = plain.iter().rev().copied().collect();
                self.session.encrypt(&reversed).map_err(|e| e.to_string())
            }
            other => Err(format!("no endpoint {other}")),
        }
    }

    fn station(&self) -> StationStatus {
        match (&self.credentials, self.applied) {
            (Some(credentials), true) => {
                match self.networks.iter().find(|ap| ap.ssid == credentials.ssid) {
                    Some(ap) => StationStatus::Connected(ConnectedInfo {
                        ip4_addr: "10.20.30.40".into(),
                        auth_mode: ap.auth,
                        ssid: ap.ssid.clone(),
                        bssid: ap.bssid.clone(),
                        channel: ap.channel as i32,
                    }),
                    None => StationStatus::Failed(
                        companion_espprov::wifi::config::FailReason::NetworkNotFound,
                    ),
                }
            }
            _ => StationStatus::Disconnected,
        }
    }
}

/// `count` access points; the first is [`SSID`], the rest have 32-byte SSIDs so that a page of
/// four is a long value.
pub fn access_points(count: usize) -> Vec<AccessPoint> {
    (0..count)
        .map(|i| AccessPoint {
            ssid: if i == 0 {
                SSID.to_vec()
            } else {
                format!("neighbour-network-number-{i:07}").into_bytes()
            },
            channel: 1 + (i as u32 % 11),
            rssi: -40 - i as i32,
            bssid: vec![0x24, 0x0a, 0xc4, 0, 0, i as u8],
            auth: WifiAuthMode::Wpa2Psk.into(),
        })
        .collect()
}

/// What the app learned while provisioning.
#[derive(Debug)]
pub struct Provisioned {
    pub version: VersionInfo,
    pub networks: Vec<AccessPoint>,
    pub status: StationStatus,
    /// The app's session, for further exchanges on the same link.
    pub session: Session,
}

/// A transport or protocol failure, with the step it happened in.
#[derive(Debug)]
pub enum Failure {
    Transport(&'static str, TransportError),
    Protocol(&'static str, String),
}

fn transport(step: &'static str) -> impl FnOnce(TransportError) -> Failure {
    move |e| Failure::Transport(step, e)
}

fn protocol<E: std::fmt::Display>(step: &'static str) -> impl FnOnce(E) -> Failure {
    move |e| Failure::Protocol(step, e.to_string())
}

/// The Security 1 handshake on `link`.
pub async fn handshake(link: &dyn ProvLink, pop: &str) -> Result<Session, Failure> {
    let mut session = {
        let mut rng = rand::rng();
        Session::sec1(Pop::from(pop), &mut rng)
    };
    let mut request = session.start().map_err(protocol("session"))?;
    loop {
        let answer = link
            .exchange(PROV_SESSION, request)
            .await
            .map_err(transport("session"))?;
        match session
            .handle_response(&answer)
            .map_err(protocol("session"))?
        {
            Step::Send(next) => request = next,
            Step::Established => return Ok(session),
        }
    }
}

/// One encrypted request and its decrypted answer.
pub async fn secure(
    link: &dyn ProvLink,
    session: &mut Session,
    endpoint: &str,
    plain: &[u8],
    step: &'static str,
) -> Result<Vec<u8>, Failure> {
    let sealed = session.encrypt(plain).map_err(protocol(step))?;
    let answer = link
        .exchange(endpoint, sealed)
        .await
        .map_err(transport(step))?;
    session.decrypt(&answer).map_err(protocol(step))
}

/// What esp_prov does: version, Security 1 session, the device's Wi-Fi scan (pages of four),
/// the credentials, apply, and the station's status.
pub async fn provision(link: &dyn ProvLink, pop: &str) -> Result<Provisioned, Failure> {
    let raw = link
        .exchange(PROTO_VER, b"ESP".to_vec())
        .await
        .map_err(transport("version"))?;
    let version = VersionInfo::parse(&raw).map_err(protocol("version"))?;
    let scheme = version.security_scheme().map_err(protocol("version"))?;
    if scheme != SecurityScheme::Sec1 {
        return Err(Failure::Protocol("version", format!("{scheme:?}")));
    }
    let mut session = handshake(link, pop).await?;

    let start = ScanRequest::Start(ScanOptions::ble());
    let answer = secure(link, &mut session, PROV_SCAN, &start.encode(), "scan").await?;
    start.read_response(&answer).map_err(protocol("scan"))?;
    let status = ScanRequest::Status;
    let answer = secure(link, &mut session, PROV_SCAN, &status.encode(), "scan").await?;
    let ScanResponse::Status { result_count, .. } =
        status.read_response(&answer).map_err(protocol("scan"))?
    else {
        return Err(Failure::Protocol("scan", "no status".into()));
    };
    let mut networks = Vec::new();
    for page in scan::result_pages(result_count, scan::BLE_PAGE_SIZE) {
        let answer = secure(link, &mut session, PROV_SCAN, &page.encode(), "scan").await?;
        match page.read_response(&answer).map_err(protocol("scan"))? {
            ScanResponse::Results(entries) => networks.extend(entries),
            other => return Err(Failure::Protocol("scan", format!("{other:?}"))),
        }
    }

    let credentials = WifiCredentials::new(SSID, Passphrase::from(PASSPHRASE))
        .map_err(protocol("credentials"))?;
    for request in [
        ConfigRequest::SetConfig(credentials),
        ConfigRequest::ApplyConfig,
    ] {
        let answer = secure(link, &mut session, PROV_CONFIG, &request.encode(), "config").await?;
        request.read_response(&answer).map_err(protocol("config"))?;
    }
    let request = ConfigRequest::GetStatus;
    let answer = secure(link, &mut session, PROV_CONFIG, &request.encode(), "status").await?;
    let ConfigResponse::Status(status) =
        request.read_response(&answer).map_err(protocol("status"))?
    else {
        return Err(Failure::Protocol("status", "no status".into()));
    };
    Ok(Provisioned {
        version,
        networks,
        status,
        session,
    })
}
