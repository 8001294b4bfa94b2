//! Secret bytes: proofs of possession, passwords, Wi-Fi passphrases, key material.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Bytes that must never be printed or serialized.
///
/// `Debug` prints `<redacted>`, there is no `Display` and no `Serialize`, equality is
/// constant-time, and the bytes are wiped when dropped. Used for the Security 1 proof of
/// possession, the Security 2 password, the Wi-Fi passphrase and the SRP verifier.
#[derive(Clone, Default)]
pub struct Secret(Zeroizing<Vec<u8>>);

/// The Security 1 proof of possession (may be empty for devices that advertise `no_pop`).
pub type Pop = Secret;
/// The Security 2 password (the apps call it "PoP" too).
pub type Password = Secret;
/// A Wi-Fi passphrase.
pub type Passphrase = Secret;

impl Secret {
    /// Wraps `bytes`.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(Zeroizing::new(bytes.into()))
    }

    /// The secret bytes. Call this only where the bytes are consumed (hashing, encoding).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Whether there are no bytes (an absent PoP).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_slice().ct_eq(other.0.as_slice()).into()
    }
}

impl Eq for Secret {}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value.as_bytes())
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value.into_bytes())
    }
}

impl From<&[u8]> for Secret {
    fn from(value: &[u8]) -> Self {
        Self::new(value)
    }
}

impl From<Vec<u8>> for Secret {
    fn from(value: Vec<u8>) -> Self {
        Self::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_bytes() {
        let secret = Secret::from("abcd1234");
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(<redacted>)");
    }

    #[test]
    fn equality_compares_the_bytes() {
        assert_eq!(Secret::from("a"), Secret::from("a"));
        assert_ne!(Secret::from("a"), Secret::from("b"));
        assert_ne!(Secret::from("a"), Secret::from("ab"));
    }
}
