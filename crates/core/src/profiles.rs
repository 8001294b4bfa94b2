//! The saved profiles and the identity index, in the app's SQLite database.
//!
//! - [`Profiles`]: connection [`Profile`]s by name (validated before they are saved), and the
//!   one that is active — what the app and the CLI connect to when no profile is named.
//! - [`Identities`]: the public metadata of the vault's identities ([`IdentityRef`]: key
//!   algorithm, subject, issuer, fingerprint, validity), kept in step with the keyring by
//!   making every change through it. Listing identities and warning about expiry read this
//!   table, never the keyring.
//!
//! Neither table holds a secret (design §3): a profile names its keys and passwords by vault
//! name, and an identity row is what its certificate says about itself. The schema is
//! `migrations/0020_profiles.sql`.
//!
//! ```no_run
//! # async fn example(store: companion_core::store::Store) -> Result<(), companion_core::profiles::ProfilesError> {
//! use companion_core::profile::{Profile, SandboxTarget, Target};
//! use companion_core::profiles::Profiles;
//!
//! let profiles = Profiles::new(store);
//! profiles.add(&Profile::new("local", Target::Sandbox(SandboxTarget::Plain))).await?;
//! profiles.set_active("local").await?;
//! assert_eq!(profiles.active().await?.map(|p| p.name), Some("local".to_owned()));
//! # Ok(()) }
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{AssertSqlSafe, SqlitePool};

use crate::profile::{
    AwsTransport, Mqtt, MqttTls, Profile, ProfileError, SandboxTarget, Target, identity_names,
};
use crate::store::{Store, StoreError};
use crate::vault::{
    AsyncVault, CertificateInfo, CsrRequest, IdentityRef, KeyAlgorithm, Sensitive, VaultError,
};

/// The longest profile name: short enough that `profile.<name>` is a valid vault name.
pub const MAX_PROFILE_NAME_LEN: usize = 48;

/// Why a profile or identity operation failed. Each message is a sentence a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum ProfilesError {
    /// The profile name cannot be used.
    #[error("the profile name must be 1 to 48 letters, digits, '-', '_' or '.'")]
    InvalidName,
    /// The profile does not pass [`Profile::validate`].
    #[error(transparent)]
    Invalid(#[from] ProfileError),
    /// A profile of that name is already saved.
    #[error("a profile named \"{0}\" already exists: remove it first or choose another name")]
    ProfileExists(String),
    /// No profile of that name is saved.
    #[error("no profile named \"{0}\" is saved")]
    ProfileNotFound(String),
    /// A saved profile no longer reads as a profile of this version.
    #[error("the saved profile \"{name}\" cannot be read ({detail}): remove it and add it again")]
    Damaged {
        /// The profile (or identity) name.
        name: String,
        /// What did not parse.
        detail: String,
    },
    /// No identity of that name is known to the index or the keyring.
    #[error("no identity named \"{0}\" is stored: import its certificate and key first")]
    IdentityNotFound(String),
    /// The same certificate is already stored under another name.
    #[error("this certificate is already imported as \"{0}\": use that identity")]
    AlreadyImported(String),
    /// Profiles still use the identity.
    #[error(
        "the identity \"{name}\" is used by the profile(s) {profiles}: remove those profiles first"
    )]
    IdentityInUse {
        /// The identity.
        name: String,
        /// The profiles that name it, comma-separated.
        profiles: String,
    },
    /// The keyring refused or failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ProfilesError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(StoreError::Query(error))
    }
}

impl ProfilesError {
    /// A stable machine-readable code for the IPC edge.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidName => "profiles.invalid_name",
            Self::Invalid(_) => "profiles.invalid_profile",
            Self::ProfileExists(_) => "profiles.profile_exists",
            Self::ProfileNotFound(_) => "profiles.profile_not_found",
            Self::Damaged { .. } => "profiles.damaged",
            Self::IdentityNotFound(_) => "profiles.identity_not_found",
            Self::AlreadyImported(_) => "profiles.already_imported",
            Self::IdentityInUse { .. } => "profiles.identity_in_use",
            Self::Vault(error) => error.code(),
            Self::Store(_) => "profiles.store_failed",
        }
    }
}

/// The keyring name of the password a profile saved with [`Profiles::add_with_password`]
/// owns: `profile.<name>`.
pub fn password_name(profile: &str) -> String {
    format!("profile.{profile}")
}

/// The password a profile owns (saved with it), if it has one.
pub fn owned_password(profile: &Profile) -> Option<String> {
    let own = password_name(&profile.name);
    match &profile.target {
        Target::Mqtt(Mqtt {
            password: Some(password),
            ..
        }) if *password == own => Some(own),
        _ => None,
    }
}

/// One line about where a profile connects and with what.
pub fn summary(profile: &Profile) -> String {
    match &profile.target {
        Target::AwsIot(aws) => {
            let how = match &aws.transport {
                AwsTransport::Mtls8883 { identity } => format!("mutual TLS, identity {identity}"),
                AwsTransport::Mtls443Alpn { identity } => {
                    format!("mutual TLS with ALPN, identity {identity}")
                }
                AwsTransport::CustomAuthorizer443(auth) => {
                    format!("custom authorizer {}", auth.authorizer)
                }
            };
            format!("AWS IoT {}:{} ({how})", aws.endpoint, aws.port())
        }
        Target::Mqtt(mqtt) => {
            let (scheme, identity) = match &mqtt.tls {
                MqttTls::None => ("mqtt", None),
                MqttTls::ServerOnly { .. } => ("mqtts", None),
                MqttTls::Mutual { identity, .. } => ("mqtts", Some(identity)),
            };
            let mut text = format!("{scheme}://{}:{}", mqtt.host, mqtt.port);
            if let Some(identity) = identity {
                text.push_str(&format!(" (identity {identity})"));
            }
            if let Some(username) = &mqtt.username {
                text.push_str(&format!(" as {username}"));
            }
            text
        }
        Target::Sandbox(SandboxTarget::Plain) => "the local sandbox (plain MQTT)".to_owned(),
        Target::Sandbox(SandboxTarget::Mtls { identity }) => {
            format!("the local sandbox (mutual TLS, identity {identity})")
        }
    }
}

/// A saved profile with its bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedProfile {
    /// The profile.
    pub profile: Profile,
    /// Whether it is the active profile.
    pub active: bool,
    /// When it was saved, in Unix seconds.
    pub created_at: i64,
    /// When it last changed, in Unix seconds.
    pub updated_at: i64,
}

/// The saved profiles and the active one. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Profiles {
    store: Store,
}

type ProfileRow = (String, String, i64, i64, bool);

const SELECT_PROFILES: &str = "SELECT p.name, p.profile, p.created_at, p.updated_at, \
     a.name IS NOT NULL FROM profiles p LEFT JOIN active_profile a ON a.name = p.name";

impl Profiles {
    /// The profiles in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Saves a new profile after checking its name and [`Profile::validate`]; refuses a name
    /// that is taken.
    pub async fn add(&self, profile: &Profile) -> Result<(), ProfilesError> {
        check_profile_name(&profile.name)?;
        profile.validate()?;
        let json = serde_json::to_string(profile).map_err(|e| damaged(&profile.name, &e))?;
        let now = now_secs();
        let inserted = sqlx::query(
            "INSERT INTO profiles (name, profile, created_at, updated_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(&profile.name)
        .bind(json)
        .bind(now)
        .bind(now)
        .execute(self.store.write())
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(ProfilesError::ProfileExists(profile.name.clone()));
        }
        Ok(())
    }

    /// Saves a new profile together with its password: the password goes to the keyring
    /// under [`password_name`] first, and is taken out again if the profile cannot be saved.
    /// A profile whose target names an identity must find it in `identities`.
    pub async fn add_with_password(
        &self,
        profile: &Profile,
        password: Option<Sensitive<String>>,
        identities: &Identities,
    ) -> Result<(), ProfilesError> {
        check_profile_name(&profile.name)?;
        profile.validate()?;
        if self.get(&profile.name).await.is_ok() {
            return Err(ProfilesError::ProfileExists(profile.name.clone()));
        }
        for identity in identity_names(profile) {
            identities.get(identity).await?;
        }
        let stored = match password {
            Some(secret) => {
                let name = password_name(&profile.name);
                identities
                    .vault
                    .store_password(name.clone(), secret)
                    .await?;
                Some(name)
            }
            None => None,
        };
        if let Err(error) = self.add(profile).await {
            if let Some(name) = stored {
                let _ = identities.vault.remove_password(name).await;
            }
            return Err(error);
        }
        Ok(())
    }

    /// Removes a profile and the keyring password only it used. The profile is gone even
    /// when the password could not be removed; that failure is returned beside it.
    pub async fn remove_with_password(
        &self,
        name: &str,
        vault: &AsyncVault,
    ) -> Result<(Profile, Option<VaultError>), ProfilesError> {
        let removed = self.remove(name).await?;
        let leftover = match owned_password(&removed) {
            Some(password) => match vault.remove_password(password).await {
                Ok(()) | Err(VaultError::PasswordNotFound(_)) => None,
                Err(error) => Some(error),
            },
            None => None,
        };
        Ok((removed, leftover))
    }

    /// Every saved profile, by name.
    pub async fn list(&self) -> Result<Vec<SavedProfile>, ProfilesError> {
        let rows: Vec<ProfileRow> =
            sqlx::query_as(AssertSqlSafe(format!("{SELECT_PROFILES} ORDER BY p.name")))
                .fetch_all(self.store.read())
                .await?;
        rows.into_iter().map(saved_profile).collect()
    }

    /// The profile named `name`.
    pub async fn get(&self, name: &str) -> Result<SavedProfile, ProfilesError> {
        let row: Option<ProfileRow> =
            sqlx::query_as(AssertSqlSafe(format!("{SELECT_PROFILES} WHERE p.name = ?")))
                .bind(name)
                .fetch_optional(self.store.read())
                .await?;
        let row = row.ok_or_else(|| ProfilesError::ProfileNotFound(name.to_owned()))?;
        saved_profile(row)
    }

    /// Removes the profile named `name` (and makes no profile active if it was) and returns
    /// it, so that the caller can remove secrets only it used.
    pub async fn remove(&self, name: &str) -> Result<Profile, ProfilesError> {
        let saved = self.get(name).await?;
        sqlx::query("DELETE FROM profiles WHERE name = ?")
            .bind(name)
            .execute(self.store.write())
            .await?;
        Ok(saved.profile)
    }

    /// Makes `name` the active profile.
    pub async fn set_active(&self, name: &str) -> Result<(), ProfilesError> {
        self.get(name).await?;
        sqlx::query(
            "INSERT INTO active_profile (id, name) VALUES (1, ?) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name",
        )
        .bind(name)
        .execute(self.store.write())
        .await?;
        Ok(())
    }

    /// Makes no profile active (the local sandbox is used again).
    pub async fn clear_active(&self) -> Result<(), ProfilesError> {
        sqlx::query("DELETE FROM active_profile")
            .execute(self.store.write())
            .await?;
        Ok(())
    }

    /// The active profile, if one is set.
    pub async fn active(&self) -> Result<Option<Profile>, ProfilesError> {
        let row: Option<ProfileRow> =
            sqlx::query_as(AssertSqlSafe(format!("{SELECT_PROFILES} WHERE a.id = 1")))
                .fetch_optional(self.store.read())
                .await?;
        row.map(|row| saved_profile(row).map(|saved| saved.profile))
            .transpose()
    }

    /// The names of the profiles that use the identity `identity`.
    pub async fn using_identity(&self, identity: &str) -> Result<Vec<String>, ProfilesError> {
        Ok(self
            .list()
            .await?
            .into_iter()
            .filter(|saved| identity_names(&saved.profile).contains(&identity))
            .map(|saved| saved.profile.name)
            .collect())
    }
}

fn saved_profile(row: ProfileRow) -> Result<SavedProfile, ProfilesError> {
    let (name, json, created_at, updated_at, active) = row;
    let profile: Profile = serde_json::from_str(&json).map_err(|e| damaged(&name, &e))?;
    Ok(SavedProfile {
        profile,
        active,
        created_at,
        updated_at,
    })
}

/// A profile as JSON, in the form the `profiles` table keeps (for `--json` output and exports).
pub fn profile_json(profile: &Profile) -> serde_json::Value {
    serde_json::to_value(profile).unwrap_or(serde_json::Value::Null)
}

/// Checks a profile name: 1 to [`MAX_PROFILE_NAME_LEN`] letters, digits, `-`, `_` or `.`.
pub fn check_profile_name(name: &str) -> Result<(), ProfilesError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || name.len() > MAX_PROFILE_NAME_LEN || !name.chars().all(allowed) {
        return Err(ProfilesError::InvalidName);
    }
    Ok(())
}

/// The vault's identities: every change goes to the keyring and to the index together, so
/// that [`Identities::list`] answers from SQLite alone. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Identities {
    store: Store,
    vault: AsyncVault,
}

type IdentityRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

const SELECT_IDENTITIES: &str = "SELECT name, key_algorithm, subject, issuer, \
     fingerprint_sha256, serial, not_before, not_after FROM identities";

impl Identities {
    /// The identities of `vault`, indexed in `store`.
    pub fn new(store: Store, vault: AsyncVault) -> Self {
        Self { store, vault }
    }

    /// Imports PEM or PKCS#12 into the keyring (see
    /// [`Vault::import_identity`](crate::vault::Vault::import_identity)) and indexes it. If
    /// the index refuses it (the same certificate under another name), the keyring entry is
    /// removed again.
    pub async fn import(
        &self,
        name: &str,
        bytes: Vec<u8>,
        passphrase: Option<Sensitive<String>>,
    ) -> Result<IdentityRef, ProfilesError> {
        let identity = self
            .vault
            .import_identity(name.to_owned(), bytes, passphrase)
            .await?;
        self.record_or_undo(identity).await
    }

    /// Generates a key in the keyring and a CSR for it (see
    /// [`Vault::generate_csr`](crate::vault::Vault::generate_csr)); the pending identity is
    /// indexed. Returns the CSR PEM.
    pub async fn generate_csr(
        &self,
        name: &str,
        request: CsrRequest,
    ) -> Result<(IdentityRef, String), ProfilesError> {
        let (identity, csr) = self.vault.generate_csr(name.to_owned(), request).await?;
        Ok((self.record_or_undo(identity).await?, csr))
    }

    /// Installs the certificate issued for an identity's key and updates its index row.
    pub async fn install_certificate(
        &self,
        name: &str,
        certificate_pem: Vec<u8>,
    ) -> Result<IdentityRef, ProfilesError> {
        let identity = self
            .vault
            .install_certificate(name.to_owned(), certificate_pem)
            .await?;
        self.record(&identity).await?;
        Ok(identity)
    }

    /// Removes an identity from the keyring and the index; refuses while a profile uses it.
    /// A row without keyring entries (or the reverse) is cleaned up too.
    pub async fn remove(&self, name: &str) -> Result<(), ProfilesError> {
        let users = Profiles::new(self.store.clone())
            .using_identity(name)
            .await?;
        if !users.is_empty() {
            return Err(ProfilesError::IdentityInUse {
                name: name.to_owned(),
                profiles: users.join(", "),
            });
        }
        let in_vault = match self.vault.remove_identity(name.to_owned()).await {
            Ok(()) => true,
            Err(VaultError::IdentityNotFound(_)) => false,
            Err(error) => return Err(error.into()),
        };
        if !self.forget(name).await? && !in_vault {
            return Err(ProfilesError::IdentityNotFound(name.to_owned()));
        }
        Ok(())
    }

    /// Every indexed identity, by name. Reads SQLite only.
    pub async fn list(&self) -> Result<Vec<IdentityRef>, ProfilesError> {
        let rows: Vec<IdentityRow> =
            sqlx::query_as(AssertSqlSafe(format!("{SELECT_IDENTITIES} ORDER BY name")))
                .fetch_all(self.store.read())
                .await?;
        rows.into_iter().map(identity_ref).collect()
    }

    /// The identity named `name`: from the index, or else read from the keyring and indexed
    /// (an identity stored by an earlier version or another tool).
    pub async fn get(&self, name: &str) -> Result<IdentityRef, ProfilesError> {
        if let Some(identity) = self.indexed(name).await? {
            return Ok(identity);
        }
        match self.vault.describe_identity(name.to_owned()).await {
            Ok(identity) => {
                self.record(&identity).await?;
                Ok(identity)
            }
            Err(VaultError::IdentityNotFound(_)) => {
                Err(ProfilesError::IdentityNotFound(name.to_owned()))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The identity named `name` in the index, without asking the keyring.
    pub async fn indexed(&self, name: &str) -> Result<Option<IdentityRef>, ProfilesError> {
        let row: Option<IdentityRow> =
            sqlx::query_as(AssertSqlSafe(format!("{SELECT_IDENTITIES} WHERE name = ?")))
                .bind(name)
                .fetch_optional(self.store.read())
                .await?;
        row.map(identity_ref).transpose()
    }

    async fn record_or_undo(&self, identity: IdentityRef) -> Result<IdentityRef, ProfilesError> {
        if let Err(error) = self.record(&identity).await {
            let _ = self.vault.remove_identity(identity.name.clone()).await;
            return Err(error);
        }
        Ok(identity)
    }

    async fn record(&self, identity: &IdentityRef) -> Result<(), ProfilesError> {
        match upsert_identity(self.store.write(), identity, &self.vault).await {
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                Err(self.already_imported(identity).await)
            }
            other => Ok(other?),
        }
    }

    async fn already_imported(&self, identity: &IdentityRef) -> ProfilesError {
        let fingerprint = identity
            .certificate
            .as_ref()
            .map(|c| c.fingerprint_sha256.clone());
        let existing: Result<String, _> =
            sqlx::query_scalar("SELECT name FROM identities WHERE fingerprint_sha256 = ?")
                .bind(fingerprint)
                .fetch_one(self.store.read())
                .await;
        match existing {
            Ok(name) => ProfilesError::AlreadyImported(name),
            Err(error) => error.into(),
        }
    }

    /// Removes the index row; whether there was one.
    async fn forget(&self, name: &str) -> Result<bool, ProfilesError> {
        let deleted = sqlx::query("DELETE FROM identities WHERE name = ?")
            .bind(name)
            .execute(self.store.write())
            .await?;
        Ok(deleted.rows_affected() > 0)
    }
}

async fn upsert_identity(
    pool: &SqlitePool,
    identity: &IdentityRef,
    vault: &AsyncVault,
) -> Result<(), sqlx::Error> {
    let certificate = identity.certificate.as_ref();
    let now = now_secs();
    sqlx::query(
        "INSERT INTO identities (name, keyring_service, backend, key_algorithm, subject, issuer, \
         fingerprint_sha256, serial, not_before, not_after, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (name) DO UPDATE SET keyring_service = excluded.keyring_service, \
         backend = excluded.backend, key_algorithm = excluded.key_algorithm, \
         subject = excluded.subject, issuer = excluded.issuer, \
         fingerprint_sha256 = excluded.fingerprint_sha256, serial = excluded.serial, \
         not_before = excluded.not_before, not_after = excluded.not_after, \
         updated_at = excluded.updated_at",
    )
    .bind(&identity.name)
    .bind(vault.blocking().service())
    .bind(format!("{:?}", vault.blocking().backend()))
    .bind(algorithm_text(identity.key_algorithm))
    .bind(certificate.map(|c| c.subject.clone()))
    .bind(certificate.map(|c| c.issuer.clone()))
    .bind(certificate.map(|c| c.fingerprint_sha256.clone()))
    .bind(certificate.map(|c| c.serial.clone()))
    .bind(certificate.map(|c| c.not_before))
    .bind(certificate.map(|c| c.not_after))
    .bind(now)
    .bind(now)
    .execute(pool)
    .await
    .map(drop)
}

fn identity_ref(row: IdentityRow) -> Result<IdentityRef, ProfilesError> {
    let (name, algorithm, subject, issuer, fingerprint, serial, not_before, not_after) = row;
    let key_algorithm = parse_algorithm(&algorithm).ok_or_else(|| ProfilesError::Damaged {
        name: name.clone(),
        detail: format!("unknown key algorithm {algorithm:?}"),
    })?;
    let certificate = match (subject, issuer, fingerprint, serial, not_before, not_after) {
        (
            Some(subject),
            Some(issuer),
            Some(fingerprint_sha256),
            Some(serial),
            Some(nb),
            Some(na),
        ) => Some(CertificateInfo {
            subject,
            issuer,
            fingerprint_sha256,
            serial,
            not_before: nb,
            not_after: na,
        }),
        _ => None,
    };
    Ok(IdentityRef {
        name,
        key_algorithm,
        certificate,
    })
}

fn algorithm_text(algorithm: KeyAlgorithm) -> String {
    match serde_json::to_value(algorithm) {
        Ok(serde_json::Value::String(text)) => text,
        _ => format!("{algorithm:?}"),
    }
}

fn parse_algorithm(text: &str) -> Option<KeyAlgorithm> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
}

fn damaged(name: &str, error: &serde_json::Error) -> ProfilesError {
    ProfilesError::Damaged {
        name: name.to_owned(),
        detail: error.to_string(),
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests;
