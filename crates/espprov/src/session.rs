//! The client's side of `prov-session`: the app.

use std::fmt;

use prost::Message;
use rand_core::CryptoRng;

use crate::error::{Error, Result};
use crate::proto::session::{SessionData, session_data::Proto};
use crate::secret::{Password, Pop};
use crate::security::srp::VerifierOrigin;
use crate::security::{Cipher, Sec2Patch, SecurityScheme, sec0, sec1, sec2};

/// What to do after a handshake response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Write these bytes to `prov-session` and feed the answer to
    /// [`Session::handle_response`].
    Send(Vec<u8>),
    /// The secure session is established: use [`Session::encrypt`] and [`Session::decrypt`].
    Established,
}

/// The app's secure session with one device, sans-IO.
///
/// ```text
/// let first = session.start()?;                  // write to prov-session, read the answer
/// while let Step::Send(next) = session.handle_response(&answer)? { … }
/// let request = session.encrypt(&plaintext)?;    // any other endpoint
/// let reply = session.decrypt(&answer)?;
/// ```
///
/// The session is strictly sequential: every request is followed by its response before the
/// next request is encrypted (the ciphers are order-sensitive). Any error in the handshake or
/// in [`decrypt`](Self::decrypt) leaves the session failed: reconnect and start a new one.
pub struct Session {
    scheme: SecurityScheme,
    state: State,
}

enum State {
    Sec0 { sent: bool },
    Sec1 { client: Box<sec1::Client>, sent: u8 },
    Sec2 { client: Box<sec2::Client>, sent: u8 },
    Established(Cipher),
    Failed,
}

impl Session {
    /// A Security 0 session (plaintext).
    pub fn sec0() -> Self {
        Self {
            scheme: SecurityScheme::Sec0,
            state: State::Sec0 { sent: false },
        }
    }

    /// A Security 1 session. `pop` may be empty for devices that advertise `no_pop`; the X25519
    /// key comes from `rng`.
    pub fn sec1<R: CryptoRng + ?Sized>(pop: Pop, rng: &mut R) -> Self {
        let client = Box::new(sec1::Client::new(pop, rng));
        Self {
            scheme: SecurityScheme::Sec1,
            state: State::Sec1 { client, sent: 0 },
        }
    }

    /// A Security 2 session for `username` (1 to 65535 bytes) and `password`, with the nonce
    /// rule from the device's `sec_patch_ver`; the SRP secret comes from `rng`.
    pub fn sec2<R: CryptoRng + ?Sized>(
        username: impl Into<Vec<u8>>,
        password: Password,
        patch: Sec2Patch,
        rng: &mut R,
    ) -> Result<Self> {
        Self::sec2_for(VerifierOrigin::EspSrp, username, password, patch, rng)
    }

    /// [`Session::sec2`] for a device whose verifier the tool `origin` made: esp_prov's
    /// `--sec2_gen_cred` derives it differently for about one password in 256
    /// ([`VerifierOrigin::differ_for`] tells which).
    pub fn sec2_for<R: CryptoRng + ?Sized>(
        origin: VerifierOrigin,
        username: impl Into<Vec<u8>>,
        password: Password,
        patch: Sec2Patch,
        rng: &mut R,
    ) -> Result<Self> {
        let client = Box::new(sec2::Client::new(
            username.into(),
            password,
            patch,
            origin,
            rng,
        )?);
        Ok(Self {
            scheme: SecurityScheme::Sec2,
            state: State::Sec2 { client, sent: 0 },
        })
    }

    /// The session's security scheme.
    pub fn scheme(&self) -> SecurityScheme {
        self.scheme
    }

    /// The first handshake request.
    pub fn start(&mut self) -> Result<Vec<u8>> {
        match &mut self.state {
            State::Sec0 { sent: sent @ false } => {
                *sent = true;
                Ok(sec0::request())
            }
            State::Sec1 {
                client,
                sent: sent @ 0,
            } => {
                *sent = 1;
                Ok(client.command0())
            }
            State::Sec2 {
                client,
                sent: sent @ 0,
            } => {
                *sent = 1;
                Ok(client.command0())
            }
            State::Failed => Err(Error::Poisoned),
            _ => Err(Error::OutOfOrder("start was already called")),
        }
    }

    /// Consumes the device's answer to the last handshake request.
    pub fn handle_response(&mut self, response: &[u8]) -> Result<Step> {
        let result = self.advance(response);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    fn advance(&mut self, response: &[u8]) -> Result<Step> {
        if matches!(self.state, State::Failed) {
            return Err(Error::Poisoned);
        }
        let proto = open(response, self.scheme)?;
        match (&mut self.state, proto) {
            (State::Sec0 { sent: true }, Proto::Sec0(payload)) => {
                sec0::read_response(payload)?;
                self.state = State::Established(Cipher::Plain);
                Ok(Step::Established)
            }
            (
                State::Sec1 {
                    client,
                    sent: sent @ 1,
                },
                Proto::Sec1(payload),
            ) => {
                *sent = 2;
                Ok(Step::Send(client.read_response0(payload)?))
            }
            (State::Sec1 { client, sent: 2 }, Proto::Sec1(payload)) => {
                self.state = State::Established(client.read_response1(payload)?);
                Ok(Step::Established)
            }
            (
                State::Sec2 {
                    client,
                    sent: sent @ 1,
                },
                Proto::Sec2(payload),
            ) => {
                *sent = 2;
                Ok(Step::Send(client.read_response0(payload)?))
            }
            (State::Sec2 { client, sent: 2 }, Proto::Sec2(payload)) => {
                self.state = State::Established(client.read_response1(payload)?);
                Ok(Step::Established)
            }
            (State::Established(_), _) => {
                Err(Error::OutOfOrder("the handshake is already complete"))
            }
            _ => Err(Error::OutOfOrder("a handshake response before its request")),
        }
    }

    /// Whether the handshake is complete.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established(_))
    }

    /// Encrypts a request for an encrypted endpoint.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>> {
        let result = match &mut self.state {
            State::Established(cipher) => cipher.encrypt(plaintext),
            State::Failed => return Err(Error::Poisoned),
            _ => return Err(Error::NotEstablished),
        };
        self.fail_on_error(result)
    }

    /// Decrypts the device's answer.
    pub fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>> {
        let result = match &mut self.state {
            State::Established(cipher) => cipher.decrypt(ciphertext),
            State::Failed => return Err(Error::Poisoned),
            _ => return Err(Error::NotEstablished),
        };
        self.fail_on_error(result)
    }

    fn fail_on_error(&mut self, result: Result<Vec<u8>>) -> Result<Vec<u8>> {
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }
}

/// Decodes a `SessionData` envelope and checks its scheme.
pub(crate) fn open(bytes: &[u8], scheme: SecurityScheme) -> Result<Proto> {
    let data = SessionData::decode(bytes).map_err(|e| Error::decode("SessionData", e))?;
    if data.sec_ver != scheme.wire() {
        return Err(Error::SchemeMismatch {
            expected: scheme,
            got: data.sec_ver,
        });
    }
    let proto = data
        .proto
        .ok_or_else(|| Error::unexpected("a security payload", "none"))?;
    let matches = matches!(
        (&proto, scheme),
        (Proto::Sec0(_), SecurityScheme::Sec0)
            | (Proto::Sec1(_), SecurityScheme::Sec1)
            | (Proto::Sec2(_), SecurityScheme::Sec2)
    );
    if !matches {
        return Err(Error::unexpected(
            "a payload of the session's scheme",
            format!("{proto:?}"),
        ));
    }
    Ok(proto)
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Sec0 { .. } | State::Sec1 { .. } | State::Sec2 { .. } => "handshake",
            State::Established(_) => "established",
            State::Failed => "failed",
        };
        f.debug_struct("Session")
            .field("scheme", &self.scheme)
            .field("state", &state)
            .finish()
    }
}
