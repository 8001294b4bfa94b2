//! Security 1: X25519, the proof of possession XORed into the shared key as SHA-256(PoP), and
//! one AES-256-CTR stream for the session (`security1.c`, esp_prov `security1.py`).

use prost::Message;
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::{Cipher, Sec1Stream, random};
use crate::error::{Error, Result, check_status};
use crate::proto::Status;
use crate::proto::sec1::{
    Sec1MsgType, Sec1Payload, SessionCmd0, SessionCmd1, SessionResp0, SessionResp1,
    sec1_payload::Payload,
};
use crate::proto::session::{SecSchemeVersion, SessionData, session_data::Proto};
use crate::secret::Pop;

/// X25519 public keys are 32 bytes (RFC 7748 little-endian encoding on the wire).
pub(crate) const PUBLIC_KEY_LEN: usize = 32;
/// The device random, which is the initial AES-CTR counter block.
pub(crate) const RANDOM_LEN: usize = 16;

fn wrap(msg: Sec1MsgType, payload: Payload) -> Vec<u8> {
    let sec1 = Sec1Payload {
        msg: msg as i32,
        payload: Some(payload),
    };
    SessionData {
        sec_ver: SecSchemeVersion::SecScheme1 as i32,
        proto: Some(Proto::Sec1(sec1)),
    }
    .encode_to_vec()
}

fn fixed<const N: usize>(bytes: &[u8], what: &'static str) -> Result<[u8; N]> {
    bytes
        .try_into()
        .map_err(|_| Error::invalid(what, format!("{} bytes, expected {N}", bytes.len())))
}

/// The shared X25519 secret with SHA-256(PoP) XORed in when the PoP is not empty.
fn session_key(
    secret: &StaticSecret,
    peer: [u8; PUBLIC_KEY_LEN],
    pop: &Pop,
) -> Result<Zeroizing<[u8; 32]>> {
    let shared = secret.diffie_hellman(&PublicKey::from(peer));
    if !shared.was_contributory() {
        return Err(Error::invalid("public key", "a low-order X25519 point"));
    }
    let mut key = Zeroizing::new(*shared.as_bytes());
    if !pop.is_empty() {
        let digest = Sha256::digest(pop.expose());
        key.iter_mut().zip(digest.iter()).for_each(|(k, d)| *k ^= d);
    }
    Ok(key)
}

fn new_secret<R: CryptoRng + ?Sized>(rng: &mut R) -> StaticSecret {
    StaticSecret::from(*random::<32, R>(rng))
}

/// The client's half of the handshake.
pub(crate) struct Client {
    secret: StaticSecret,
    public: [u8; PUBLIC_KEY_LEN],
    pop: Pop,
    stream: Option<Sec1Stream>,
}

impl Client {
    pub(crate) fn new<R: CryptoRng + ?Sized>(pop: Pop, rng: &mut R) -> Self {
        let secret = new_secret(rng);
        let public = PublicKey::from(&secret).to_bytes();
        Self {
            secret,
            public,
            pop,
            stream: None,
        }
    }

    /// `SessionCmd0 { client_pubkey }`.
    pub(crate) fn command0(&self) -> Vec<u8> {
        wrap(
            Sec1MsgType::SessionCommand0,
            Payload::Sc0(SessionCmd0 {
                client_pubkey: self.public.to_vec(),
            }),
        )
    }

    /// Reads `SessionResp0`, derives the key and answers `SessionCmd1 { CTR(device_pubkey) }`.
    pub(crate) fn read_response0(&mut self, payload: Sec1Payload) -> Result<Vec<u8>> {
        let resp = match payload.payload {
            Some(Payload::Sr0(resp)) if payload.msg == Sec1MsgType::SessionResponse0 as i32 => resp,
            other => return Err(Error::unexpected("SessionResp0", format!("{other:?}"))),
        };
        check_status(resp.status)?;
        let device_public = fixed::<PUBLIC_KEY_LEN>(&resp.device_pubkey, "device_pubkey")?;
        let random = fixed::<RANDOM_LEN>(&resp.device_random, "device_random")?;
        let key = session_key(&self.secret, device_public, &self.pop)?;
        let mut stream = Sec1Stream::new(&key, &random);
        let client_verify_data = stream.apply(&device_public);
        self.stream = Some(stream);
        Ok(wrap(
            Sec1MsgType::SessionCommand1,
            Payload::Sc1(SessionCmd1 { client_verify_data }),
        ))
    }

    /// Reads `SessionResp1` and checks that the device decrypted to our public key.
    pub(crate) fn read_response1(&mut self, payload: Sec1Payload) -> Result<Cipher> {
        let resp = match payload.payload {
            Some(Payload::Sr1(resp)) if payload.msg == Sec1MsgType::SessionResponse1 as i32 => resp,
            other => return Err(Error::unexpected("SessionResp1", format!("{other:?}"))),
        };
        check_status(resp.status)?;
        let verify = fixed::<PUBLIC_KEY_LEN>(&resp.device_verify_data, "device_verify_data")?;
        let mut stream = self
            .stream
            .take()
            .ok_or(Error::OutOfOrder("SessionResp1 before SessionResp0"))?;
        if !bool::from(stream.apply(&verify).ct_eq(&self.public)) {
            return Err(Error::AuthenticationFailed);
        }
        Ok(Cipher::Sec1(Box::new(stream)))
    }
}

/// What the device remembers between `SessionCmd0` and `SessionCmd1`.
pub(crate) struct Pending {
    device_public: [u8; PUBLIC_KEY_LEN],
    client_public: [u8; PUBLIC_KEY_LEN],
    stream: Sec1Stream,
}

/// The device's answer to `SessionCmd0`: a fresh key pair and random, `SessionResp0`.
pub(crate) fn device_command0<R: CryptoRng + ?Sized>(
    cmd: &SessionCmd0,
    pop: &Pop,
    rng: &mut R,
) -> Result<(Vec<u8>, Pending)> {
    let client_public = fixed::<PUBLIC_KEY_LEN>(&cmd.client_pubkey, "client_pubkey")?;
    let secret = new_secret(rng);
    let device_public = PublicKey::from(&secret).to_bytes();
    let random = random::<RANDOM_LEN, R>(rng);
    let key = session_key(&secret, client_public, pop)?;
    let resp = SessionResp0 {
        status: Status::Success as i32,
        device_pubkey: device_public.to_vec(),
        device_random: random.to_vec(),
    };
    let pending = Pending {
        device_public,
        client_public,
        stream: Sec1Stream::new(&key, &random),
    };
    Ok((
        wrap(Sec1MsgType::SessionResponse0, Payload::Sr0(resp)),
        pending,
    ))
}

/// The device checks `SessionCmd1` (a wrong PoP fails here) and answers `SessionResp1`.
pub(crate) fn device_command1(
    cmd: &SessionCmd1,
    mut pending: Pending,
) -> Result<(Vec<u8>, Cipher)> {
    let verify = fixed::<PUBLIC_KEY_LEN>(&cmd.client_verify_data, "client_verify_data")?;
    if !bool::from(pending.stream.apply(&verify).ct_eq(&pending.device_public)) {
        return Err(Error::AuthenticationFailed);
    }
    let device_verify_data = pending.stream.apply(&pending.client_public);
    let resp = SessionResp1 {
        status: Status::Success as i32,
        device_verify_data,
    };
    Ok((
        wrap(Sec1MsgType::SessionResponse1, Payload::Sr1(resp)),
        Cipher::Sec1(Box::new(pending.stream)),
    ))
}
