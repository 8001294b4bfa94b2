//! The settings calls: saved profiles (switching the engine between them) and the vault.

use std::path::PathBuf;
use std::time::SystemTime;

use companion_core::activity::ActivityLog;
use companion_core::profile::{
    AwsIot, AwsTransport, CaSource, Mqtt, MqttTls, Profile, Target, identity_names,
};
use companion_core::profiles::{Identities, Profiles, ProfilesError, password_name, summary};
use companion_core::provision::networks::Networks;
use companion_core::store::Store;
use companion_core::vault::{AsyncVault, ExpiryStatus, IdentityRef, KeyAlgorithm, Sensitive};
use companion_model::{
    BrokerMode, ErrorCode, Expiry, IdentitySummary, IpcError, ProfileForm, ProfileKind,
    ProfileSummary, ProfilesView, TransportChoice, VaultView,
};

use super::{Shell, sentence};

/// The settings' stores: the profiles in SQLite and the OS keyring, opened once at start.
#[derive(Debug, Clone)]
pub struct Settings {
    profiles: Profiles,
    activity: ActivityLog,
    store: Store,
    vault: Result<AsyncVault, String>,
}

impl Settings {
    /// Opens the profiles in `<data_dir>/companion.db` and the OS keyring. A missing keyring is
    /// kept as its reason: the sandbox works without it.
    pub async fn open(data_dir: &std::path::Path) -> Result<Self, String> {
        let store = Store::open(data_dir.join("companion.db"))
            .await
            .map_err(|error| error.to_string())?;
        let vault = AsyncVault::open(None)
            .await
            .map_err(|error| sentence(&error.to_string()));
        Ok(Self {
            profiles: Profiles::new(store.clone()),
            activity: ActivityLog::new(store.clone()),
            store,
            vault,
        })
    }

    /// The profile the engine should use: the active one, if any.
    pub async fn active(&self) -> Option<Profile> {
        match self.profiles.active().await {
            Ok(active) => active,
            Err(error) => {
                tracing::warn!(%error, "the active profile cannot be read; using the local sandbox");
                None
            }
        }
    }

    /// The activity log.
    pub fn activity(&self) -> &ActivityLog {
        &self.activity
    }

    /// The keyring, when one is usable.
    pub fn vault(&self) -> Option<AsyncVault> {
        self.vault.as_ref().ok().cloned()
    }

    /// The remembered Wi-Fi networks (their passwords in the keyring), when a keyring is usable.
    pub fn networks(&self) -> Result<Networks, IpcError> {
        match &self.vault {
            Ok(vault) => Ok(Networks::new(self.store.clone(), vault.clone())),
            Err(reason) => Err(IpcError::new(
                ErrorCode::Unavailable,
                format!("Networks cannot be remembered without the OS keyring: {reason}"),
            )),
        }
    }

    fn identities(&self) -> Result<Identities, IpcError> {
        match &self.vault {
            Ok(vault) => Ok(Identities::new(self.store.clone(), vault.clone())),
            Err(problem) => Err(IpcError::new(ErrorCode::Unavailable, problem.clone())),
        }
    }
}

impl Shell {
    pub(super) async fn settings(&self) -> Result<Settings, IpcError> {
        self.settings.lock().await.clone().ok_or_else(|| {
            IpcError::new(
                ErrorCode::Unavailable,
                "The app's settings are still opening; try again in a moment.",
            )
        })
    }

    /// Keeps the opened settings.
    pub async fn settings_opened(&self, settings: Settings) {
        *self.settings.lock().await = Some(settings);
    }

    /// The saved profiles and the active one.
    pub async fn profiles(&self) -> Result<ProfilesView, IpcError> {
        let settings = self.settings().await?;
        let saved = settings.profiles.list().await.map_err(profiles_error)?;
        Ok(ProfilesView {
            active: saved
                .iter()
                .find(|s| s.active)
                .map(|s| s.profile.name.clone()),
            profiles: saved.iter().map(|s| profile_summary(&s.profile)).collect(),
        })
    }

    /// Saves a new profile from the form.
    pub async fn save_profile(&self, form: ProfileForm) -> Result<ProfileSummary, IpcError> {
        let settings = self.settings().await?;
        let identities = settings.identities()?;
        let password = form
            .password
            .as_ref()
            .filter(|p| !p.0.is_empty())
            .map(|p| Sensitive::new(p.0.clone()));
        let profile = profile_from_form(&form, password.is_some())?;
        settings
            .profiles
            .add_with_password(&profile, password, &identities)
            .await
            .map_err(profiles_error)?;
        Ok(profile_summary(&profile))
    }

    /// Removes a profile; the active one cannot go while in use.
    pub async fn remove_profile(&self, name: &str) -> Result<(), IpcError> {
        let settings = self.settings().await?;
        let view = self.profiles().await?;
        if view.active.as_deref() == Some(name) {
            return Err(IpcError::new(
                ErrorCode::InvalidInput,
                format!(
                    "“{name}” is in use: switch to another profile or the local sandbox first."
                ),
            ));
        }
        let vault = settings.vault().ok_or_else(|| {
            IpcError::new(
                ErrorCode::Unavailable,
                "The OS keyring is not usable, so the profile's password cannot be removed with it.",
            )
        })?;
        let (_, leftover) = settings
            .profiles
            .remove_with_password(name, &vault)
            .await
            .map_err(profiles_error)?;
        if let Some(error) = leftover {
            tracing::warn!(%error, profile = name, "profile removed, its password stayed in the keyring");
        }
        Ok(())
    }

    /// Records which profile to use (`None`: the local sandbox); the caller restarts the
    /// engine.
    pub async fn choose_profile(&self, name: Option<&str>) -> Result<(), IpcError> {
        let settings = self.settings().await?;
        match name {
            Some(name) => settings.profiles.set_active(name).await,
            None => settings.profiles.clear_active().await,
        }
        .map_err(profiles_error)
    }

    /// The profile the engine should start with, the keyring, and the app's database the
    /// settings already opened (the engine shares it).
    pub async fn startup_profile(&self) -> (Option<Profile>, Option<AsyncVault>, Option<Store>) {
        match self.settings().await {
            Ok(settings) => (
                settings.active().await,
                settings.vault(),
                Some(settings.store.clone()),
            ),
            Err(_) => (None, None, None),
        }
    }

    /// The vault's identities, or why no keyring is usable.
    pub async fn vault_view(&self, now: SystemTime) -> Result<VaultView, IpcError> {
        let settings = self.settings().await?;
        let identities = match settings.identities() {
            Ok(identities) => identities,
            Err(problem) => {
                return Ok(VaultView {
                    backend: None,
                    problem: Some(problem.message),
                    identities: Vec::new(),
                });
            }
        };
        let saved = settings.profiles.list().await.map_err(profiles_error)?;
        let all = identities.list().await.map_err(profiles_error)?;
        let backend = settings
            .vault()
            .map(|v| v.blocking().backend().label().to_owned());
        Ok(VaultView {
            backend,
            problem: None,
            identities: all
                .iter()
                .map(|identity| {
                    let used_by = saved
                        .iter()
                        .filter(|s| identity_names(&s.profile).contains(&identity.name.as_str()))
                        .map(|s| s.profile.name.clone())
                        .collect();
                    identity_summary(identity, used_by, now)
                })
                .collect(),
        })
    }

    /// Imports an identity from files the backend reads itself.
    pub async fn import_identity(
        &self,
        name: &str,
        paths: &[PathBuf],
        passphrase: Option<Sensitive<String>>,
        now: SystemTime,
    ) -> Result<IdentitySummary, IpcError> {
        let settings = self.settings().await?;
        let identities = settings.identities()?;
        let mut bytes = Vec::new();
        for path in paths {
            let mut content = tokio::fs::read(path).await.map_err(|error| {
                IpcError::new(
                    ErrorCode::InvalidInput,
                    format!("{} cannot be read: {error}.", path.display()),
                )
            })?;
            // PEM files are concatenated; a PKCS#12 file must come alone.
            bytes.append(&mut content);
            bytes.push(b'\n');
        }
        let identity = identities
            .import(name, bytes, passphrase)
            .await
            .map_err(profiles_error)?;
        Ok(identity_summary(&identity, Vec::new(), now))
    }

    /// Removes an identity from the keyring (refused while a profile uses it).
    pub async fn remove_identity(&self, name: &str) -> Result<(), IpcError> {
        let settings = self.settings().await?;
        settings
            .identities()?
            .remove(name)
            .await
            .map_err(profiles_error)
    }
}

/// A profile from the form; the password (if any) is stored under [`password_name`].
fn profile_from_form(form: &ProfileForm, has_password: bool) -> Result<Profile, IpcError> {
    let identity = || {
        form.identity
            .clone()
            .filter(|i| !i.trim().is_empty())
            .ok_or_else(|| {
                IpcError::new(
                    ErrorCode::InvalidInput,
                    "Choose the client certificate (an identity from the vault) this profile connects with.",
                )
            })
    };
    let wrong_transport = || {
        IpcError::new(
            ErrorCode::InvalidInput,
            "That security choice does not fit this kind of profile.",
        )
    };
    let host = form.host.trim().to_owned();
    let target = match form.kind {
        ProfileKind::AwsIot => Target::AwsIot(AwsIot {
            endpoint: host,
            transport: match form.transport {
                TransportChoice::AwsMtls8883 => AwsTransport::Mtls8883 {
                    identity: identity()?,
                },
                TransportChoice::AwsMtls443 => AwsTransport::Mtls443Alpn {
                    identity: identity()?,
                },
                _ => return Err(wrong_transport()),
            },
        }),
        ProfileKind::Mqtt => {
            let tls = match form.transport {
                TransportChoice::Plain => MqttTls::None,
                TransportChoice::Tls => MqttTls::ServerOnly {
                    ca: CaSource::PublicRoots,
                    alpn: None,
                },
                TransportChoice::MutualTls => MqttTls::Mutual {
                    ca: CaSource::PublicRoots,
                    identity: identity()?,
                    alpn: None,
                },
                _ => return Err(wrong_transport()),
            };
            let default_port = if matches!(tls, MqttTls::None) {
                1883
            } else {
                8883
            };
            Target::Mqtt(Mqtt {
                host,
                port: form.port.unwrap_or(default_port),
                tls,
                username: form.username.clone().filter(|u| !u.is_empty()),
                password: has_password.then(|| password_name(&form.name)),
            })
        }
    };
    let mut profile = Profile::new(form.name.trim(), target);
    profile.client_id = form.client_id.clone().filter(|c| !c.trim().is_empty());
    Ok(profile)
}

fn profile_summary(profile: &Profile) -> ProfileSummary {
    let (kind, address) = match &profile.target {
        Target::AwsIot(aws) => (
            BrokerMode::AwsIot,
            format!("{}:{}", aws.endpoint, aws.port()),
        ),
        Target::Mqtt(mqtt) => (BrokerMode::Mqtt, format!("{}:{}", mqtt.host, mqtt.port)),
        Target::Sandbox(_) => (BrokerMode::Sandbox, "local".to_owned()),
    };
    ProfileSummary {
        name: profile.name.clone(),
        kind,
        address,
        auth: summary(profile),
    }
}

fn identity_summary(
    identity: &IdentityRef,
    used_by: Vec<String>,
    now: SystemTime,
) -> IdentitySummary {
    let certificate = identity.certificate.as_ref();
    IdentitySummary {
        name: identity.name.clone(),
        key_algorithm: match identity.key_algorithm {
            KeyAlgorithm::EcdsaP256 => "ECDSA P-256",
            KeyAlgorithm::EcdsaP384 => "ECDSA P-384",
            KeyAlgorithm::Ed25519 => "Ed25519",
            KeyAlgorithm::Rsa => "RSA",
        }
        .to_owned(),
        subject: certificate.map(|c| c.subject.clone()),
        issuer: certificate.map(|c| c.issuer.clone()),
        fingerprint: certificate.map(|c| c.fingerprint_sha256.clone()),
        not_after: certificate.map(|c| c.not_after),
        expiry: match identity.expiry_status(now) {
            None => Expiry::Pending,
            Some(ExpiryStatus::NotYetValid { starts_in_days }) => Expiry::NotYetValid {
                days: starts_in_days,
            },
            Some(ExpiryStatus::Valid { days_left }) => Expiry::Valid { days: days_left },
            Some(ExpiryStatus::ExpiresSoon { days_left }) => {
                Expiry::ExpiresSoon { days: days_left }
            }
            Some(ExpiryStatus::Expired { days_ago }) => Expiry::Expired { days: days_ago },
        },
        used_by,
    }
}

fn profiles_error(error: ProfilesError) -> IpcError {
    let code = match &error {
        ProfilesError::InvalidName
        | ProfilesError::Invalid(_)
        | ProfilesError::AlreadyImported(_) => ErrorCode::InvalidInput,
        ProfilesError::ProfileExists(_) | ProfilesError::IdentityInUse { .. } => {
            ErrorCode::Conflict
        }
        ProfilesError::ProfileNotFound(_) | ProfilesError::IdentityNotFound(_) => {
            ErrorCode::NotFound
        }
        ProfilesError::Vault(_) => ErrorCode::InvalidInput,
        ProfilesError::Damaged { .. } | ProfilesError::Store(_) => ErrorCode::Internal,
    };
    IpcError::new(code, sentence(&error.to_string()))
}
