//! `prov-scan`: start a scan, poll its status, read the results page by page.

use prost::Message;

use super::{AuthMode, status_of};
use crate::error::{Error, Result};
use crate::proto::Status;
use crate::proto::wifi_scan::{
    CmdScanResult, CmdScanStart, CmdScanStatus, RespScanResult, RespScanStart, RespScanStatus,
    WiFiScanMsgType, WiFiScanPayload, WiFiScanResult, wi_fi_scan_payload::Payload,
};

/// Results per `CmdScanResult` over BLE: esp_prov and the Android library read 4 at a time so
/// that an answer fits the old 256-byte characteristic limit.
pub const BLE_PAGE_SIZE: u32 = 4;

/// `CmdScanStart`'s options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ScanOptions {
    /// Answer only when the scan is over.
    pub blocking: bool,
    /// Passive scan.
    pub passive: bool,
    /// Channels per round; 0 scans all channels at once.
    pub group_channels: u32,
    /// Dwell time per channel, 0 for the default.
    pub period_ms: u32,
}

impl ScanOptions {
    /// What esp_prov asks over BLE: blocking, all channels at once.
    pub fn ble() -> Self {
        Self {
            blocking: true,
            group_channels: 0,
            ..Self::default()
        }
    }

    /// What esp_prov asks over SoftAP: blocking, 5 channels per round so the AP keeps beaconing.
    pub fn softap() -> Self {
        Self {
            blocking: true,
            group_channels: 5,
            ..Self::default()
        }
    }
}

/// A `prov-scan` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScanRequest {
    /// `CmdScanStart`.
    Start(ScanOptions),
    /// `CmdScanStatus`.
    Status,
    /// `CmdScanResult`: `count` results from `start_index`.
    Results {
        /// The first result.
        start_index: u32,
        /// How many.
        count: u32,
    },
}

/// Which request a response answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScanKind {
    /// [`ScanRequest::Start`].
    Start,
    /// [`ScanRequest::Status`].
    Status,
    /// [`ScanRequest::Results`].
    Results,
}

/// One access point the device saw.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccessPoint {
    /// The SSID.
    pub ssid: Vec<u8>,
    /// The channel.
    pub channel: u32,
    /// Signal strength, dBm.
    pub rssi: i32,
    /// The BSSID.
    pub bssid: Vec<u8>,
    /// The authentication mode.
    pub auth: AuthMode,
}

/// A `prov-scan` response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanResponse {
    /// `RespScanStart`.
    Started,
    /// `RespScanStatus`.
    Status {
        /// Whether the scan is over.
        finished: bool,
        /// How many results the device holds.
        result_count: u32,
    },
    /// `RespScanResult`.
    Results(Vec<AccessPoint>),
    /// Any response whose status is not `Success`.
    Refused {
        /// The request refused.
        to: ScanKind,
        /// Why.
        status: Status,
    },
}

/// The `CmdScanResult` requests that read `result_count` results, `page_size` at a time.
pub fn result_pages(result_count: u32, page_size: u32) -> impl Iterator<Item = ScanRequest> {
    let page_size = page_size.max(1);
    (0..result_count)
        .step_by(page_size as usize)
        .map(move |start_index| ScanRequest::Results {
            start_index,
            count: page_size.min(result_count - start_index),
        })
}

impl ScanRequest {
    /// The request's kind.
    pub fn kind(&self) -> ScanKind {
        match self {
            Self::Start(_) => ScanKind::Start,
            Self::Status => ScanKind::Status,
            Self::Results { .. } => ScanKind::Results,
        }
    }

    /// The plaintext `WiFiScanPayload` (client).
    pub fn encode(&self) -> Vec<u8> {
        let (msg, payload) = match *self {
            Self::Start(o) => (
                WiFiScanMsgType::TypeCmdScanStart,
                Payload::CmdScanStart(CmdScanStart {
                    blocking: o.blocking,
                    passive: o.passive,
                    group_channels: o.group_channels,
                    period_ms: o.period_ms,
                }),
            ),
            Self::Status => (
                WiFiScanMsgType::TypeCmdScanStatus,
                Payload::CmdScanStatus(CmdScanStatus {}),
            ),
            Self::Results { start_index, count } => (
                WiFiScanMsgType::TypeCmdScanResult,
                Payload::CmdScanResult(CmdScanResult { start_index, count }),
            ),
        };
        WiFiScanPayload {
            msg: msg as i32,
            status: Status::Success as i32,
            payload: Some(payload),
        }
        .encode_to_vec()
    }

    /// Reads a request (device), dispatching on `msg`; a missing start or result payload means
    /// its defaults (all fields zero).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let message =
            WiFiScanPayload::decode(bytes).map_err(|e| Error::decode("WiFiScanPayload", e))?;
        match (WiFiScanMsgType::try_from(message.msg), message.payload) {
            (Ok(WiFiScanMsgType::TypeCmdScanStart), payload) => {
                let cmd = match payload {
                    Some(Payload::CmdScanStart(cmd)) => cmd,
                    _ => CmdScanStart::default(),
                };
                Ok(Self::Start(ScanOptions {
                    blocking: cmd.blocking,
                    passive: cmd.passive,
                    group_channels: cmd.group_channels,
                    period_ms: cmd.period_ms,
                }))
            }
            (Ok(WiFiScanMsgType::TypeCmdScanStatus), _) => Ok(Self::Status),
            (Ok(WiFiScanMsgType::TypeCmdScanResult), payload) => {
                let cmd = match payload {
                    Some(Payload::CmdScanResult(cmd)) => cmd,
                    _ => CmdScanResult::default(),
                };
                Ok(Self::Results {
                    start_index: cmd.start_index,
                    count: cmd.count,
                })
            }
            (msg, _) => Err(Error::unexpected("a prov-scan command", format!("{msg:?}"))),
        }
    }

    /// Reads the device's answer to this request (client). A refusal becomes
    /// [`Error::DeviceStatus`]; a results page longer than asked is an error.
    pub fn read_response(&self, bytes: &[u8]) -> Result<ScanResponse> {
        let response = ScanResponse::decode(bytes)?;
        if response.kind() != self.kind() {
            return Err(Error::unexpected(
                "the answer to this prov-scan request",
                format!("{:?}", response.kind()),
            ));
        }
        match (response, self) {
            (ScanResponse::Refused { status, .. }, _) => Err(Error::DeviceStatus(status)),
            (ScanResponse::Results(entries), Self::Results { count, .. })
                if entries.len() > *count as usize =>
            {
                Err(Error::invalid(
                    "RespScanResult",
                    format!("{} entries, asked for {count}", entries.len()),
                ))
            }
            (answer, _) => Ok(answer),
        }
    }
}

impl ScanResponse {
    /// The kind of request this answers.
    pub fn kind(&self) -> ScanKind {
        match self {
            Self::Started => ScanKind::Start,
            Self::Status { .. } => ScanKind::Status,
            Self::Results(_) => ScanKind::Results,
            Self::Refused { to, .. } => *to,
        }
    }

    /// The plaintext `WiFiScanPayload` (device).
    pub fn encode(&self) -> Vec<u8> {
        let (status, payload) = match self {
            Self::Started => (Status::Success, Payload::RespScanStart(RespScanStart {})),
            Self::Status {
                finished,
                result_count,
            } => (
                Status::Success,
                Payload::RespScanStatus(RespScanStatus {
                    scan_finished: *finished,
                    result_count: *result_count,
                }),
            ),
            Self::Results(entries) => (
                Status::Success,
                Payload::RespScanResult(RespScanResult {
                    entries: entries.iter().map(entry_to_wire).collect(),
                }),
            ),
            Self::Refused { to, status } => (*status, empty_response(*to)),
        };
        let msg = match self.kind() {
            ScanKind::Start => WiFiScanMsgType::TypeRespScanStart,
            ScanKind::Status => WiFiScanMsgType::TypeRespScanStatus,
            ScanKind::Results => WiFiScanMsgType::TypeRespScanResult,
        };
        WiFiScanPayload {
            msg: msg as i32,
            status: status as i32,
            payload: Some(payload),
        }
        .encode_to_vec()
    }

    /// Reads any `prov-scan` response. The status sits on the envelope.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let message =
            WiFiScanPayload::decode(bytes).map_err(|e| Error::decode("WiFiScanPayload", e))?;
        let to = match &message.payload {
            Some(Payload::RespScanStart(_)) => ScanKind::Start,
            Some(Payload::RespScanStatus(_)) => ScanKind::Status,
            Some(Payload::RespScanResult(_)) => ScanKind::Results,
            other => {
                return Err(Error::unexpected(
                    "a prov-scan response",
                    format!("{other:?}"),
                ));
            }
        };
        if message.status != Status::Success as i32 {
            return Ok(Self::Refused {
                to,
                status: status_of(message.status),
            });
        }
        Ok(match message.payload {
            Some(Payload::RespScanStatus(resp)) => Self::Status {
                finished: resp.scan_finished,
                result_count: resp.result_count,
            },
            Some(Payload::RespScanResult(resp)) => {
                Self::Results(resp.entries.into_iter().map(entry_from_wire).collect())
            }
            _ => Self::Started,
        })
    }
}

fn empty_response(to: ScanKind) -> Payload {
    match to {
        ScanKind::Start => Payload::RespScanStart(RespScanStart {}),
        ScanKind::Status => Payload::RespScanStatus(RespScanStatus::default()),
        ScanKind::Results => Payload::RespScanResult(RespScanResult::default()),
    }
}

fn entry_to_wire(ap: &AccessPoint) -> WiFiScanResult {
    WiFiScanResult {
        ssid: ap.ssid.clone(),
        channel: ap.channel,
        rssi: ap.rssi,
        bssid: ap.bssid.clone(),
        auth: ap.auth.0,
    }
}

fn entry_from_wire(entry: WiFiScanResult) -> AccessPoint {
    AccessPoint {
        ssid: entry.ssid,
        channel: entry.channel,
        rssi: entry.rssi,
        bssid: entry.bssid,
        auth: AuthMode(entry.auth),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::wifi_constants::WifiAuthMode;

    fn ap(n: u8) -> AccessPoint {
        AccessPoint {
            ssid: format!("net-{n}").into_bytes(),
            channel: u32::from(n % 13 + 1),
            rssi: -40 - i32::from(n),
            bssid: vec![0x24, 0x0a, 0xc4, 0, 0, n],
            auth: WifiAuthMode::Wpa2Wpa3Psk.into(),
        }
    }

    #[test]
    fn requests_and_answers_round_trip() {
        let cases = [
            (
                ScanRequest::Start(ScanOptions::ble()),
                ScanResponse::Started,
            ),
            (
                ScanRequest::Status,
                ScanResponse::Status {
                    finished: true,
                    result_count: 9,
                },
            ),
            (
                ScanRequest::Results {
                    start_index: 4,
                    count: 4,
                },
                ScanResponse::Results((4..8).map(ap).collect()),
            ),
        ];
        for (request, response) in cases {
            assert_eq!(ScanRequest::decode(&request.encode()), Ok(request));
            assert_eq!(
                request.read_response(&response.encode()),
                Ok(response),
                "{request:?}"
            );
        }
    }

    #[test]
    fn pages_cover_every_result_once() {
        let pages: Vec<_> = result_pages(9, BLE_PAGE_SIZE).collect();
        assert_eq!(
            pages,
            [
                ScanRequest::Results {
                    start_index: 0,
                    count: 4
                },
                ScanRequest::Results {
                    start_index: 4,
                    count: 4
                },
                ScanRequest::Results {
                    start_index: 8,
                    count: 1
                },
            ]
        );
        assert_eq!(result_pages(0, 4).count(), 0);
        assert_eq!(
            result_pages(3, 0).count(),
            3,
            "a zero page size reads one at a time"
        );
    }

    #[test]
    fn refusals_oversized_pages_and_mismatches_are_errors() {
        let refused = ScanResponse::Refused {
            to: ScanKind::Results,
            status: Status::InternalError,
        };
        let request = ScanRequest::Results {
            start_index: 0,
            count: 2,
        };
        assert_eq!(
            request.read_response(&refused.encode()),
            Err(Error::DeviceStatus(Status::InternalError))
        );
        let too_many = ScanResponse::Results((0..3).map(ap).collect());
        assert!(request.read_response(&too_many.encode()).is_err());
        assert!(
            ScanRequest::Status
                .read_response(&ScanResponse::Started.encode())
                .is_err()
        );
    }
}
