//! The three protocomm security schemes and the ciphers they end in.
//!
//! * [`SecurityScheme::Sec0`]: no handshake secret, plaintext afterwards.
//! * [`SecurityScheme::Sec1`]: X25519, the SHA-256 of the proof of possession XORed into the
//!   shared secret, then AES-256-CTR with the device's 16-byte random as the initial counter
//!   block. **One keystream** serves the whole session in both directions, in the order the
//!   bytes are processed: client verifier, device verifier, request 1, response 1, …
//! * [`SecurityScheme::Sec2`]: SRP6a (RFC 5054 3072-bit group, g = 5, SHA-512), then
//!   AES-256-GCM keyed with the first 32 bytes of the SRP key, nonce from the device. With
//!   [`Sec2Patch::Counter`] the nonce's last four bytes are a big-endian counter that every
//!   encryption and every successful decryption advance, on both sides, shared by both
//!   directions; with [`Sec2Patch::Fixed`] the nonce never changes.

pub(crate) mod sec0;
pub(crate) mod sec1;
pub mod sec2;
pub mod srp;

use std::fmt;

use aes::Aes256;
use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit};
use ctr::cipher::{KeyIvInit, StreamCipher};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// A protocomm security scheme (`SessionData.sec_ver`, `proto-ver`'s `sec_ver`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityScheme {
    /// Security 0: plaintext.
    Sec0,
    /// Security 1: X25519 + proof of possession + AES-256-CTR.
    Sec1,
    /// Security 2: SRP6a + AES-256-GCM.
    Sec2,
}

impl SecurityScheme {
    /// The scheme's number.
    pub fn version(self) -> u32 {
        match self {
            Self::Sec0 => 0,
            Self::Sec1 => 1,
            Self::Sec2 => 2,
        }
    }

    /// The scheme with this number.
    pub fn from_version(version: u32) -> Option<Self> {
        match version {
            0 => Some(Self::Sec0),
            1 => Some(Self::Sec1),
            2 => Some(Self::Sec2),
            _ => None,
        }
    }

    pub(crate) fn wire(self) -> i32 {
        self.version() as i32
    }
}

impl fmt::Display for SecurityScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Security {}", self.version())
    }
}

/// How Security 2 uses its AES-GCM nonce, from `proto-ver`'s `sec_patch_ver`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Sec2Patch {
    /// `sec_patch_ver` 0 or absent (IDF 5.0–5.x before the fix): the device's nonce is used
    /// unchanged for every message of the session.
    Fixed,
    /// `sec_patch_ver` 1 (current IDF): the nonce's big-endian counter advances after every
    /// encryption and every successful decryption, on both sides.
    #[default]
    Counter,
}

impl Sec2Patch {
    /// The `sec_patch_ver` value.
    pub fn version(self) -> u32 {
        match self {
            Self::Fixed => 0,
            Self::Counter => 1,
        }
    }

    /// The rule for a `sec_patch_ver` value; later patch levels are unknown and refused.
    pub fn from_version(version: u32) -> Result<Self> {
        match version {
            0 => Ok(Self::Fixed),
            1 => Ok(Self::Counter),
            other => Err(Error::Version(format!(
                "unknown Security 2 patch level {other}"
            ))),
        }
    }
}

/// Fills an array from the caller's random number generator.
pub(crate) fn random<const N: usize, R: CryptoRng + ?Sized>(rng: &mut R) -> Zeroizing<[u8; N]> {
    let mut bytes = Zeroizing::new([0u8; N]);
    rng.fill_bytes(bytes.as_mut());
    bytes
}

/// The established session cipher.
pub(crate) enum Cipher {
    Plain,
    Sec1(Box<Sec1Stream>),
    Sec2(Box<Sec2Aead>),
}

impl Cipher {
    pub(crate) fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>> {
        match self {
            Self::Plain => Ok(plaintext.to_vec()),
            Self::Sec1(stream) => Ok(stream.apply(plaintext)),
            Self::Sec2(aead) => aead.encrypt(plaintext),
        }
    }

    pub(crate) fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>> {
        match self {
            Self::Plain => Ok(ciphertext.to_vec()),
            Self::Sec1(stream) => Ok(stream.apply(ciphertext)),
            Self::Sec2(aead) => aead.decrypt(ciphertext),
        }
    }
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Plain => "Cipher::Plain",
            Self::Sec1(_) => "Cipher::Sec1(<redacted>)",
            Self::Sec2(_) => "Cipher::Sec2(<redacted>)",
        })
    }
}

/// Security 1's AES-256-CTR keystream: the 128-bit counter block starts at the device random
/// and increments as a whole (mbedtls `mbedtls_aes_crypt_ctr`, Python `modes.CTR`); encryption
/// and decryption are the same operation on the one stream.
pub(crate) struct Sec1Stream(ctr::Ctr128BE<Aes256>);

impl Sec1Stream {
    pub(crate) fn new(key: &[u8; 32], initial_counter: &[u8; 16]) -> Self {
        let cipher = ctr::Ctr128BE::<Aes256>::new_from_slices(key, initial_counter)
            .expect("AES-256 takes a 32-byte key and a 16-byte counter block");
        Self(cipher)
    }

    pub(crate) fn apply(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = data.to_vec();
        self.0.apply_keystream(&mut out);
        out
    }
}

/// Security 2's AES-256-GCM with the device's 12-byte nonce (8-byte session id, 4-byte
/// big-endian counter), 16-byte tag appended, no associated data.
pub(crate) struct Sec2Aead {
    aead: Aes256Gcm,
    nonce: [u8; 12],
    patch: Sec2Patch,
    exhausted: bool,
}

impl Sec2Aead {
    pub(crate) const TAG_LEN: usize = 16;

    pub(crate) fn new(key: &[u8], nonce: [u8; 12], patch: Sec2Patch) -> Self {
        let aead = Aes256Gcm::new_from_slice(key).expect("the AES-256-GCM key is 32 bytes");
        Self {
            aead,
            nonce,
            patch,
            exhausted: false,
        }
    }

    fn current_nonce(&self) -> Result<aes_gcm::aead::Nonce<Aes256Gcm>> {
        let counter =
            u32::from_be_bytes([self.nonce[8], self.nonce[9], self.nonce[10], self.nonce[11]]);
        // The device refuses counter 0 ("restart session"); after a wrap-around so do we.
        if self.exhausted || (self.patch == Sec2Patch::Counter && counter == 0) {
            return Err(Error::NonceExhausted);
        }
        Ok(self.nonce.into())
    }

    fn advance(&mut self) {
        if self.patch == Sec2Patch::Fixed {
            return;
        }
        let counter =
            u32::from_be_bytes([self.nonce[8], self.nonce[9], self.nonce[10], self.nonce[11]]);
        match counter.checked_add(1) {
            Some(next) => self.nonce[8..].copy_from_slice(&next.to_be_bytes()),
            None => self.exhausted = true,
        }
    }

    fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>> {
        let nonce = self.current_nonce()?;
        let sealed = self
            .aead
            .encrypt(&nonce, plaintext)
            .map_err(|_| Error::NonceExhausted)?;
        self.advance();
        Ok(sealed)
    }

    fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>> {
        let nonce = self.current_nonce()?;
        if ciphertext.len() < Self::TAG_LEN {
            return Err(Error::DecryptFailed);
        }
        let opened = self
            .aead
            .decrypt(&nonce, ciphertext)
            .map_err(|_| Error::DecryptFailed)?;
        self.advance();
        Ok(opened)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aead_pair(patch: Sec2Patch, counter: u32) -> (Sec2Aead, Sec2Aead) {
        let mut nonce = [7u8; 12];
        nonce[8..].copy_from_slice(&counter.to_be_bytes());
        (
            Sec2Aead::new(&[1; 32], nonce, patch),
            Sec2Aead::new(&[1; 32], nonce, patch),
        )
    }

    #[test]
    fn counter_mode_shares_one_counter_across_directions() {
        let (mut client, mut device) = aead_pair(Sec2Patch::Counter, 1);
        for round in 0..3u8 {
            let request = client.encrypt(&[round; 5]).expect("encrypt");
            assert_eq!(device.decrypt(&request).expect("request"), [round; 5]);
            let response = device.encrypt(&[round, 9]).expect("encrypt");
            assert_eq!(client.decrypt(&response).expect("response"), [round, 9]);
        }
        assert_eq!(
            client.nonce[8..],
            7u32.to_be_bytes(),
            "6 operations advanced 1 to 7"
        );
    }

    #[test]
    fn counter_mode_never_reuses_a_nonce_and_fixed_mode_always_does() {
        let (mut counter, _) = aead_pair(Sec2Patch::Counter, 1);
        assert_ne!(
            counter.encrypt(b"same").expect("1"),
            counter.encrypt(b"same").expect("2")
        );
        let (mut fixed, _) = aead_pair(Sec2Patch::Fixed, 1);
        assert_eq!(
            fixed.encrypt(b"same").expect("1"),
            fixed.encrypt(b"same").expect("2")
        );
    }

    #[test]
    fn a_failed_decryption_does_not_advance_the_counter() {
        let (mut client, mut device) = aead_pair(Sec2Patch::Counter, 1);
        let request = client.encrypt(b"hello").expect("encrypt");
        let mut tampered = request.clone();
        tampered[0] ^= 1;
        assert_eq!(device.decrypt(&tampered), Err(Error::DecryptFailed));
        assert_eq!(device.decrypt(&request[..3]), Err(Error::DecryptFailed));
        assert_eq!(device.decrypt(&request).expect("untampered"), b"hello");
    }

    #[test]
    fn the_counter_refuses_zero_and_stops_at_wrap_around() {
        let (mut zero, _) = aead_pair(Sec2Patch::Counter, 0);
        assert_eq!(zero.encrypt(b"x"), Err(Error::NonceExhausted));
        let (mut last, _) = aead_pair(Sec2Patch::Counter, u32::MAX);
        assert!(
            last.encrypt(b"x").is_ok(),
            "the last counter value is usable"
        );
        assert_eq!(last.encrypt(b"x"), Err(Error::NonceExhausted));
    }

    #[test]
    fn sec1_encryption_and_decryption_are_one_stream() {
        let mut one = Sec1Stream::new(&[3; 32], &[0xff; 16]);
        let mut other = Sec1Stream::new(&[3; 32], &[0xff; 16]);
        let first = one.apply(b"0123456789abcdefXYZ");
        assert_eq!(other.apply(&first), b"0123456789abcdefXYZ");
        // Both continue at byte 19, whatever the direction.
        let second = other.apply(b"reply");
        assert_eq!(one.apply(&second), b"reply");
    }

    #[test]
    fn scheme_and_patch_numbers_round_trip() {
        for scheme in [
            SecurityScheme::Sec0,
            SecurityScheme::Sec1,
            SecurityScheme::Sec2,
        ] {
            assert_eq!(SecurityScheme::from_version(scheme.version()), Some(scheme));
        }
        assert_eq!(SecurityScheme::from_version(3), None);
        for patch in [Sec2Patch::Fixed, Sec2Patch::Counter] {
            assert_eq!(Sec2Patch::from_version(patch.version()), Ok(patch));
        }
        assert!(Sec2Patch::from_version(2).is_err());
    }
}
