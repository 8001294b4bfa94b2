//! Settings: connection profiles and the certificate vault.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{BrokerMode, Command};

/// Lists the saved connection profiles. Replies with [`ProfilesView`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileList {}

impl Command for ProfileList {
    const NAME: &'static str = "profile_list";
    type Reply = ProfilesView;
}

/// The saved profiles and which one the app uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfilesView {
    /// The profile in use; `None` is the built-in local sandbox.
    pub active: Option<String>,
    /// Every saved profile, by name.
    pub profiles: Vec<ProfileSummary>,
}

/// One saved profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileSummary {
    /// Its name.
    pub name: String,
    /// What it connects to.
    pub kind: BrokerMode,
    /// `host:port`.
    pub address: String,
    /// How it authenticates, in words (e.g. "client certificate `lab`, port 443 with ALPN").
    pub auth: String,
}

/// Saves a new profile; its password, if any, goes to the OS keyring. Replies with the saved
/// profile; `invalid_input` says which field to fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileSave {
    /// The profile as the form has it.
    pub form: ProfileForm,
}

impl Command for ProfileSave {
    const NAME: &'static str = "profile_save";
    type Reply = ProfileSummary;
}

/// What the profile form collects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileForm {
    /// A name for it.
    pub name: String,
    /// AWS IoT Core or another MQTT broker.
    pub kind: ProfileKind,
    /// The AWS endpoint or the broker's host.
    pub host: String,
    /// The broker's port (MQTT brokers only; AWS's follows from the transport).
    pub port: Option<u16>,
    /// AWS: 8883, or 443 with ALPN. MQTT: plain, TLS or mutual TLS.
    pub transport: TransportChoice,
    /// The vault identity for a client certificate.
    pub identity: Option<String>,
    /// MQTT username.
    pub username: Option<String>,
    /// MQTT password: stored in the OS keyring, never saved with the profile.
    pub password: Option<Secret>,
    /// The client id (default: the thing name or a generated one).
    pub client_id: Option<String>,
}

/// What a profile connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileKind {
    /// AWS IoT Core.
    AwsIot,
    /// Any MQTT broker.
    Mqtt,
}

/// How a profile's connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportChoice {
    /// AWS: client certificate on 8883.
    AwsMtls8883,
    /// AWS: client certificate on 443 with ALPN `x-amzn-mqtt-ca`.
    AwsMtls443,
    /// MQTT without TLS.
    Plain,
    /// MQTT over TLS (server verified against the system's roots).
    Tls,
    /// MQTT over TLS with a client certificate.
    MutualTls,
}

/// A secret typed into a form, on its way to the OS keyring: never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Deletes a saved profile and its keyring password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileRemove {
    /// The profile.
    pub name: String,
}

impl Command for ProfileRemove {
    const NAME: &'static str = "profile_remove";
    type Reply = ();
}

/// Switches the app to a profile (`None`: the local sandbox) and reconnects; connection
/// events follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileUse {
    /// The profile, or `None` for the local sandbox.
    pub name: Option<String>,
}

impl Command for ProfileUse {
    const NAME: &'static str = "profile_use";
    type Reply = ();
}

/// Starts or ends a simulated network outage of the local sandbox: every connection to it
/// drops and new ones are refused until it ends — to see offline edits queue and replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxOutage {
    /// Start (`true`) or end (`false`) the outage; `None` only asks. Replies whether it is on.
    pub on: Option<bool>,
}

impl Command for SandboxOutage {
    const NAME: &'static str = "sandbox_outage";
    type Reply = bool;
}

/// Lists the vault's identities. Replies with [`VaultView`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultList {}

impl Command for VaultList {
    const NAME: &'static str = "vault_list";
    type Reply = VaultView;
}

/// The certificate vault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultView {
    /// The OS keyring in use, e.g. "Secret Service"; `None` when none is usable.
    pub backend: Option<String>,
    /// Why no keyring is usable, and what to do.
    pub problem: Option<String>,
    /// The identities, by name.
    pub identities: Vec<IdentitySummary>,
}

/// One identity: a private key in the keyring and its certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentitySummary {
    /// Its name.
    pub name: String,
    /// The key's algorithm.
    pub key_algorithm: String,
    /// The certificate's subject.
    pub subject: Option<String>,
    /// The certificate's issuer.
    pub issuer: Option<String>,
    /// SHA-256 fingerprint (AWS's certificate id).
    pub fingerprint: Option<String>,
    /// End of validity, epoch seconds.
    pub not_after: Option<i64>,
    /// Where the certificate stands.
    pub expiry: Expiry,
    /// Profiles that use it.
    pub used_by: Vec<String>,
}

/// Where an identity's certificate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Expiry {
    /// A CSR waits for its certificate.
    Pending,
    /// Not valid yet (or the clock is wrong).
    NotYetValid {
        /// Days until valid.
        days: i64,
    },
    /// Valid.
    Valid {
        /// Days left.
        days: i64,
    },
    /// Valid, but expires within 30 days.
    ExpiresSoon {
        /// Days left.
        days: i64,
    },
    /// Expired.
    Expired {
        /// Days since.
        days: i64,
    },
}

/// Imports an identity from files: PEM (certificate, key, chain, in one file or several) or
/// PKCS#12. With `paths: None` the app asks for the files with the system's file dialog, so
/// the key is read by the backend and never crosses into the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultImport {
    /// The name to keep it under.
    pub name: String,
    /// The files, or `None` to pick them in a dialog.
    pub paths: Option<Vec<String>>,
    /// The PKCS#12 passphrase, when the file has one.
    pub passphrase: Option<Secret>,
}

impl Command for VaultImport {
    const NAME: &'static str = "vault_import";
    type Reply = Option<IdentitySummary>;
}

/// Deletes an identity (its key and certificate) from the keyring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultRemove {
    /// The identity.
    pub name: String,
}

impl Command for VaultRemove {
    const NAME: &'static str = "vault_remove";
    type Reply = ();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints() {
        let form = ProfileForm {
            name: "lab".into(),
            kind: ProfileKind::Mqtt,
            host: "broker.lan".into(),
            port: Some(1883),
            transport: TransportChoice::Plain,
            identity: None,
            username: Some("ada".into()),
            password: Some(Secret("hunter2".into())),
            client_id: None,
        };
        let shown = format!("{form:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }
}
