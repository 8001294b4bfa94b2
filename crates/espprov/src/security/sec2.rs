//! Security 2: SRP6a ([`super::srp`]) then AES-256-GCM (`security2.c`, esp_prov
//! `security2.py`).

use prost::Message;
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::srp::{self, ClientInput, DIGEST_LEN, GROUP_LEN, VerifierOrigin};
use super::{Cipher, Sec2Aead, Sec2Patch, random};
use crate::error::{Error, Result, check_status};
use crate::proto::Status;
use crate::proto::sec2::{
    S2SessionCmd0, S2SessionCmd1, S2SessionResp0, S2SessionResp1, Sec2MsgType, Sec2Payload,
    sec2_payload::Payload,
};
use crate::proto::session::{SecSchemeVersion, SessionData, session_data::Proto};
use crate::secret::{Password, Secret};

/// The AES-GCM nonce: 8-byte random session id, 4-byte big-endian counter.
pub(crate) const NONCE_LEN: usize = 12;
/// `security2.c` takes usernames of 1 to 65535 bytes.
pub(crate) const MAX_USERNAME_LEN: usize = u16::MAX as usize;
/// The length of the secret exponents `a` and `b` (256 bits, as both implementations draw).
const EPHEMERAL_LEN: usize = 32;
/// Bound on redrawing `a` until `A` is a full 384 bytes (each draw fails with p ≈ 1/256).
const MAX_DRAWS: usize = 64;

fn wrap(msg: Sec2MsgType, payload: Payload) -> Vec<u8> {
    let sec2 = Sec2Payload {
        msg: msg as i32,
        payload: Some(payload),
    };
    SessionData {
        sec_ver: SecSchemeVersion::SecScheme2 as i32,
        proto: Some(Proto::Sec2(sec2)),
    }
    .encode_to_vec()
}

fn check_username(username: &[u8]) -> Result<()> {
    match username.len() {
        0 => Err(Error::invalid("username", "it is empty")),
        len if len > MAX_USERNAME_LEN => Err(Error::invalid("username", "longer than 65535 bytes")),
        _ => Ok(()),
    }
}

/// The client's half of the handshake.
pub(crate) struct Client {
    username: Vec<u8>,
    password: Password,
    patch: Sec2Patch,
    origin: VerifierOrigin,
    a: Zeroizing<[u8; EPHEMERAL_LEN]>,
    a_pub: Vec<u8>,
    expected: Option<(Zeroizing<[u8; DIGEST_LEN]>, [u8; DIGEST_LEN])>,
}

impl Client {
    /// Draws `a` (256 bits, top bit set, as esp_prov does) until `A = g^a` is a full 384 bytes:
    /// the device refuses any other length, and padding `A` would break `M1`.
    pub(crate) fn new<R: CryptoRng + ?Sized>(
        username: Vec<u8>,
        password: Password,
        patch: Sec2Patch,
        origin: VerifierOrigin,
        rng: &mut R,
    ) -> Result<Self> {
        check_username(&username)?;
        for _ in 0..MAX_DRAWS {
            let mut a = random::<EPHEMERAL_LEN, R>(rng);
            a[0] |= 0x80;
            let a_pub = srp::client_public(a.as_ref());
            if a_pub.len() == GROUP_LEN {
                return Ok(Self {
                    username,
                    password,
                    patch,
                    origin,
                    a,
                    a_pub,
                    expected: None,
                });
            }
        }
        Err(Error::invalid(
            "random source",
            "could not draw a full-length SRP public value",
        ))
    }

    /// `S2SessionCmd0 { client_username, client_pubkey = A }`.
    pub(crate) fn command0(&self) -> Vec<u8> {
        let cmd = S2SessionCmd0 {
            client_username: self.username.clone(),
            client_pubkey: self.a_pub.clone(),
        };
        wrap(Sec2MsgType::S2SessionCommand0, Payload::Sc0(cmd))
    }

    /// Reads `S2SessionResp0 { B, salt }` and answers `S2SessionCmd1 { M1 }`.
    pub(crate) fn read_response0(&mut self, payload: Sec2Payload) -> Result<Vec<u8>> {
        let resp = match payload.payload {
            Some(Payload::Sr0(resp)) if payload.msg == Sec2MsgType::S2SessionResponse0 as i32 => {
                resp
            }
            other => return Err(Error::unexpected("S2SessionResp0", format!("{other:?}"))),
        };
        check_status(resp.status)?;
        if resp.device_salt.is_empty() {
            return Err(Error::invalid("device_salt", "it is empty"));
        }
        let input = ClientInput {
            username: &self.username,
            password: self.password.expose(),
            salt: &resp.device_salt,
            a: self.a.as_ref(),
            a_pub: &self.a_pub,
            b_pub: &resp.device_pubkey,
            origin: self.origin,
        };
        let proofs = srp::client_proofs(&input)?;
        self.expected = Some((proofs.key, proofs.m2));
        let cmd = S2SessionCmd1 {
            client_proof: proofs.m1.to_vec(),
        };
        Ok(wrap(Sec2MsgType::S2SessionCommand1, Payload::Sc1(cmd)))
    }

    /// Reads `S2SessionResp1 { M2, nonce }`, checks `M2` and keys AES-GCM.
    pub(crate) fn read_response1(&mut self, payload: Sec2Payload) -> Result<Cipher> {
        let resp = match payload.payload {
            Some(Payload::Sr1(resp)) if payload.msg == Sec2MsgType::S2SessionResponse1 as i32 => {
                resp
            }
            other => return Err(Error::unexpected("S2SessionResp1", format!("{other:?}"))),
        };
        check_status(resp.status)?;
        let (key, m2) = self
            .expected
            .take()
            .ok_or(Error::OutOfOrder("S2SessionResp1 before S2SessionResp0"))?;
        if !bool::from(resp.device_proof.as_slice().ct_eq(&m2)) {
            return Err(Error::AuthenticationFailed);
        }
        let nonce: [u8; NONCE_LEN] = resp.device_nonce.as_slice().try_into().map_err(|_| {
            Error::invalid(
                "device_nonce",
                format!("{} bytes, expected 12", resp.device_nonce.len()),
            )
        })?;
        Ok(Cipher::Sec2(Box::new(Sec2Aead::new(
            &key[..32],
            nonce,
            self.patch,
        ))))
    }
}

/// A device's Security 2 secrets: the salt and the verifier (never the password).
#[derive(Clone, PartialEq, Eq)]
pub struct Sec2Credentials {
    salt: Vec<u8>,
    verifier: Secret,
}

impl Sec2Credentials {
    /// Derives the verifier for `username` and `password` with `salt`, as
    /// `esp_srp_gen_salt_verifier` does (16-byte salts are ESP-IDF's default).
    pub fn derive(username: &[u8], password: &Password, salt: &[u8]) -> Self {
        Self::derive_as(VerifierOrigin::EspSrp, username, password, salt)
    }

    /// Derives the verifier as the tool `origin` makes it (esp_prov's `--sec2_gen_cred`
    /// differs for about one password in 256).
    pub fn derive_as(
        origin: VerifierOrigin,
        username: &[u8],
        password: &Password,
        salt: &[u8],
    ) -> Self {
        let verifier = srp::compute_verifier_as(origin, username, password.expose(), salt);
        Self {
            salt: salt.to_vec(),
            verifier: Secret::new(verifier),
        }
    }

    /// Uses a stored salt and verifier (`protocomm_security2_params_t`).
    pub fn from_parts(salt: Vec<u8>, verifier: Secret) -> Result<Self> {
        if salt.is_empty() || verifier.is_empty() {
            return Err(Error::invalid(
                "Security 2 credentials",
                "the salt and the verifier must not be empty",
            ));
        }
        Ok(Self { salt, verifier })
    }

    /// The salt.
    pub fn salt(&self) -> &[u8] {
        &self.salt
    }

    /// The verifier (secret: it allows an offline dictionary attack on the password).
    pub fn verifier(&self) -> &Secret {
        &self.verifier
    }
}

impl std::fmt::Debug for Sec2Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sec2Credentials")
            .field("salt", &self.salt)
            .field("verifier", &self.verifier)
            .finish()
    }
}

/// What the device remembers between `S2SessionCmd0` and `S2SessionCmd1`.
pub(crate) struct Pending {
    username: Vec<u8>,
    a_pub: Vec<u8>,
    b_pub: Vec<u8>,
    key: Zeroizing<[u8; DIGEST_LEN]>,
}

/// The device's answer to `S2SessionCmd0`: `B` and the salt. Like `security2.c`, the session key
/// is computed here already.
pub(crate) fn device_command0<R: CryptoRng + ?Sized>(
    cmd: S2SessionCmd0,
    credentials: &Sec2Credentials,
    rng: &mut R,
) -> Result<(Vec<u8>, Pending)> {
    if cmd.client_pubkey.len() != GROUP_LEN {
        return Err(Error::invalid(
            "client_pubkey",
            format!("{} bytes, expected 384", cmd.client_pubkey.len()),
        ));
    }
    check_username(&cmd.client_username)?;
    let verifier = credentials.verifier.expose();
    let (b, b_pub) = (0..MAX_DRAWS)
        .map(|_| random::<EPHEMERAL_LEN, R>(rng))
        .map(|b| {
            let b_pub = srp::device_public(verifier, b.as_ref());
            (b, b_pub)
        })
        .find(|(_, b_pub)| !b_pub.is_empty())
        .ok_or_else(|| {
            Error::invalid(
                "random source",
                "could not draw a non-zero SRP public value",
            )
        })?;
    let key = srp::device_key(verifier, b.as_ref(), &cmd.client_pubkey, &b_pub)?;
    let resp = S2SessionResp0 {
        status: Status::Success as i32,
        device_pubkey: b_pub.clone(),
        device_salt: credentials.salt.clone(),
    };
    let pending = Pending {
        username: cmd.client_username,
        a_pub: cmd.client_pubkey,
        b_pub,
        key,
    };
    Ok((
        wrap(Sec2MsgType::S2SessionResponse0, Payload::Sr0(resp)),
        pending,
    ))
}

/// The device checks `M1` (a wrong password fails here) and answers `M2` and a fresh nonce.
pub(crate) fn device_command1<R: CryptoRng + ?Sized>(
    cmd: &S2SessionCmd1,
    pending: Pending,
    credentials: &Sec2Credentials,
    patch: Sec2Patch,
    rng: &mut R,
) -> Result<(Vec<u8>, Cipher)> {
    if cmd.client_proof.len() != DIGEST_LEN {
        return Err(Error::invalid(
            "client_proof",
            format!("{} bytes, expected 64", cmd.client_proof.len()),
        ));
    }
    let key = pending.key.as_ref();
    let m1 = srp::m1(
        &pending.username,
        &credentials.salt,
        &pending.a_pub,
        &pending.b_pub,
        key,
    );
    if !bool::from(cmd.client_proof.as_slice().ct_eq(&m1)) {
        return Err(Error::AuthenticationFailed);
    }
    let m2 = srp::m2(&pending.a_pub, &m1, key);
    let mut nonce = [0u8; NONCE_LEN];
    nonce[..8].copy_from_slice(random::<8, R>(rng).as_ref());
    nonce[8..].copy_from_slice(&1u32.to_be_bytes());
    let resp = S2SessionResp1 {
        status: Status::Success as i32,
        device_proof: m2.to_vec(),
        device_nonce: nonce.to_vec(),
    };
    let cipher = Cipher::Sec2(Box::new(Sec2Aead::new(&key[..32], nonce, patch)));
    Ok((
        wrap(Sec2MsgType::S2SessionResponse1, Payload::Sr1(resp)),
        cipher,
    ))
}
