//! The device's side of `prov-session`: our simulated devices.

use std::fmt;

use prost::Message;
use rand_core::CryptoRng;

use crate::error::{Error, Result};
use crate::proto::sec1::{Sec1MsgType, sec1_payload};
use crate::proto::sec2::{Sec2MsgType, sec2_payload};
use crate::proto::session::{SessionData, session_data::Proto};
use crate::secret::Pop;
use crate::security::sec2::Sec2Credentials;
use crate::security::{Cipher, Sec2Patch, SecurityScheme, sec0, sec1, sec2};
use crate::session::open;
use crate::version::{VersionInfo, capability};

/// A device's security configuration (`wifi_prov_mgr_start_provisioning`'s security and
/// `sec_params`).
#[derive(Debug, Clone)]
pub enum DeviceSecurity {
    /// Security 0.
    Sec0,
    /// Security 1 with this proof of possession (empty: no PoP, advertised as `no_pop`).
    Sec1 {
        /// The proof of possession.
        pop: Pop,
    },
    /// Security 2 with a salt and verifier, and the nonce rule it advertises as `sec_patch_ver`.
    Sec2 {
        /// The salt and verifier.
        credentials: Sec2Credentials,
        /// The nonce rule.
        patch: Sec2Patch,
    },
}

impl DeviceSecurity {
    /// The scheme.
    pub fn scheme(&self) -> SecurityScheme {
        match self {
            Self::Sec0 => SecurityScheme::Sec0,
            Self::Sec1 { .. } => SecurityScheme::Sec1,
            Self::Sec2 { .. } => SecurityScheme::Sec2,
        }
    }
}

/// The device's secure session with the one connected client, sans-IO.
///
/// Feed every `prov-session` write to [`handle_request`](Self::handle_request) and store what it
/// returns as the characteristic value (or HTTP answer). An `Err` means what ESP-IDF's handler
/// failure means: answer nothing (NimBLE: ATT error 0x04; Bluedroid and HTTP: drop the link).
/// Call [`close`](Self::close) when the transport session ends. A new `SessionCmd0` restarts the
/// handshake at any time, as on ESP-IDF.
pub struct DeviceSession {
    security: DeviceSecurity,
    state: State,
}

enum State {
    Idle,
    Sec1(Box<sec1::Pending>),
    Sec2(Box<sec2::Pending>),
    Established(Cipher),
}

impl DeviceSession {
    /// A device session awaiting its first handshake request.
    pub fn new(security: DeviceSecurity) -> Self {
        Self {
            security,
            state: State::Idle,
        }
    }

    /// The scheme.
    pub fn scheme(&self) -> SecurityScheme {
        self.security.scheme()
    }

    /// What this device answers on `proto-ver`: the manager's `prov` section, with `no_sec` or
    /// `no_pop` as applicable, plus `extra_caps`.
    pub fn version_info(&self, extra_caps: &[&str]) -> VersionInfo {
        let mut caps: Vec<&str> = match &self.security {
            DeviceSecurity::Sec0 => vec![capability::NO_SEC],
            DeviceSecurity::Sec1 { pop } if pop.is_empty() => vec![capability::NO_POP],
            _ => Vec::new(),
        };
        caps.extend_from_slice(extra_caps);
        let patch = match &self.security {
            DeviceSecurity::Sec2 { patch, .. } => *patch,
            _ => Sec2Patch::Fixed,
        };
        VersionInfo::for_device(self.scheme(), patch, &caps)
    }

    /// Handles one `prov-session` request and returns the answer. On error the handshake
    /// returns to its start (the client must send `SessionCmd0` again).
    pub fn handle_request<R: CryptoRng + ?Sized>(
        &mut self,
        request: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>> {
        let result = self.advance(request, rng);
        if result.is_err() {
            self.state = State::Idle;
        }
        result
    }

    fn advance<R: CryptoRng + ?Sized>(&mut self, request: &[u8], rng: &mut R) -> Result<Vec<u8>> {
        let scheme = self.scheme();
        if scheme == SecurityScheme::Sec0 {
            // security0.c answers any SessionData of version 0, whatever its payload.
            let data = SessionData::decode(request).map_err(|e| Error::decode("SessionData", e))?;
            if data.sec_ver != scheme.wire() {
                return Err(Error::SchemeMismatch {
                    expected: scheme,
                    got: data.sec_ver,
                });
            }
            self.state = State::Established(Cipher::Plain);
            return Ok(sec0::response());
        }
        match (open(request, scheme)?, &self.security) {
            (Proto::Sec1(payload), DeviceSecurity::Sec1 { pop }) => {
                self.sec1(payload, pop.clone(), rng)
            }
            (Proto::Sec2(payload), DeviceSecurity::Sec2 { credentials, patch }) => {
                let (credentials, patch) = (credentials.clone(), *patch);
                self.sec2(payload, &credentials, patch, rng)
            }
            (other, _) => Err(Error::unexpected(
                "a payload of the device's scheme",
                format!("{other:?}"),
            )),
        }
    }

    fn sec1<R: CryptoRng + ?Sized>(
        &mut self,
        payload: crate::proto::sec1::Sec1Payload,
        pop: Pop,
        rng: &mut R,
    ) -> Result<Vec<u8>> {
        let state = std::mem::replace(&mut self.state, State::Idle);
        match (payload.msg, payload.payload, state) {
            (msg, Some(sec1_payload::Payload::Sc0(cmd)), _)
                if msg == Sec1MsgType::SessionCommand0 as i32 =>
            {
                let (response, pending) = sec1::device_command0(&cmd, &pop, rng)?;
                self.state = State::Sec1(Box::new(pending));
                Ok(response)
            }
            (msg, Some(sec1_payload::Payload::Sc1(cmd)), State::Sec1(pending))
                if msg == Sec1MsgType::SessionCommand1 as i32 =>
            {
                let (response, cipher) = sec1::device_command1(&cmd, *pending)?;
                self.state = State::Established(cipher);
                Ok(response)
            }
            (msg, Some(sec1_payload::Payload::Sc1(_)), _)
                if msg == Sec1MsgType::SessionCommand1 as i32 =>
            {
                Err(Error::OutOfOrder("SessionCmd1 before SessionCmd0"))
            }
            (msg, payload, _) => Err(Error::unexpected(
                "SessionCmd0 or SessionCmd1",
                format!("msg {msg}, {payload:?}"),
            )),
        }
    }

    fn sec2<R: CryptoRng + ?Sized>(
        &mut self,
        payload: crate::proto::sec2::Sec2Payload,
        credentials: &Sec2Credentials,
        patch: Sec2Patch,
        rng: &mut R,
    ) -> Result<Vec<u8>> {
        let state = std::mem::replace(&mut self.state, State::Idle);
        match (payload.msg, payload.payload, state) {
            (msg, Some(sec2_payload::Payload::Sc0(cmd)), _)
                if msg == Sec2MsgType::S2SessionCommand0 as i32 =>
            {
                let (response, pending) = sec2::device_command0(cmd, credentials, rng)?;
                self.state = State::Sec2(Box::new(pending));
                Ok(response)
            }
            (msg, Some(sec2_payload::Payload::Sc1(cmd)), State::Sec2(pending))
                if msg == Sec2MsgType::S2SessionCommand1 as i32 =>
            {
                let (response, cipher) =
                    sec2::device_command1(&cmd, *pending, credentials, patch, rng)?;
                self.state = State::Established(cipher);
                Ok(response)
            }
            (msg, Some(sec2_payload::Payload::Sc1(_)), _)
                if msg == Sec2MsgType::S2SessionCommand1 as i32 =>
            {
                Err(Error::OutOfOrder("S2SessionCmd1 before S2SessionCmd0"))
            }
            (msg, _, _) => Err(Error::unexpected(
                "S2SessionCmd0 or S2SessionCmd1",
                format!("msg {msg}"),
            )),
        }
    }

    /// Whether the handshake is complete.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established(_))
    }

    /// Decrypts a request to an encrypted endpoint. A failure leaves the session as it was
    /// (as ESP-IDF does); the client will have given up on it.
    pub fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>> {
        match &mut self.state {
            State::Established(cipher) => cipher.decrypt(ciphertext),
            _ => Err(Error::NotEstablished),
        }
    }

    /// Encrypts an answer.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>> {
        match &mut self.state {
            State::Established(cipher) => cipher.encrypt(plaintext),
            _ => Err(Error::NotEstablished),
        }
    }

    /// Forgets the session (the transport disconnected).
    pub fn close(&mut self) {
        self.state = State::Idle;
    }
}

impl fmt::Debug for DeviceSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Idle => "idle",
            State::Sec1(_) | State::Sec2(_) => "handshake",
            State::Established(_) => "established",
        };
        f.debug_struct("DeviceSession")
            .field("scheme", &self.scheme())
            .field("state", &state)
            .finish()
    }
}
