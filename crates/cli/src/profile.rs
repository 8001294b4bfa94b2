//! `companion profile`: saved connections, and the one `pub`, `sub`, `doctor` and `shadow` use
//! when no other is named.
//!
//! Profiles live in the CLI's database (`<data dir>/iot-companion/companion.db`, or
//! `--data-dir`/`COMPANION_DATA_DIR`). They hold no secret: a key is named by its identity
//! (`companion cert`), and a broker password read with `--password-stdin` goes to the keyring
//! as `profile.<name>`.

use std::path::{Path, PathBuf};

use clap::{ArgGroup, Args, Subcommand};
use companion_core::profile::{
    AwsIot, AwsTransport, CaSource, Mqtt, MqttTls, Profile, ProfileError, Roots, SandboxTarget,
    Target,
};
use companion_core::profiles::{
    Identities, Profiles, ProfilesError, SavedProfile, check_profile_name, password_name,
    profile_json, summary,
};
use companion_core::store::Store;
use companion_core::vault::{AsyncVault, VaultError};
use serde_json::{Value, json};

use crate::cert::{KeyringChoice, open_vault, read_file, read_secret_line};
use crate::{CliError, output};

/// The database file in the CLI's data directory.
const DATABASE_FILE: &str = "companion.db";

/// Where the CLI keeps its database, and which keyring holds the secrets.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// The CLI's data directory (default: the platform's data directory + `iot-companion`).
    #[arg(long, env = "COMPANION_DATA_DIR", global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The secret store: auto (the Secret Service, else the kernel keyring), secret-service
    /// or kernel.
    #[arg(
        long,
        env = "COMPANION_KEYRING",
        value_enum,
        default_value_t,
        global = true
    )]
    keyring: KeyringChoice,
}

impl DataArgs {
    /// Opens (and creates) the CLI's database.
    pub async fn open_store(&self) -> Result<Store, CliError> {
        open_store(&database_path(self.data_dir.as_deref())?).await
    }

    /// The vault over the chosen keyring, opened on first use.
    pub fn vault(&self) -> AsyncVault {
        open_vault(self.keyring)
    }
}

/// Arguments of `companion profile`.
#[derive(Debug, Args)]
pub struct ProfileArgs {
    #[command(subcommand)]
    action: Action,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Save a connection profile: an AWS IoT endpoint, any MQTT broker, or the local sandbox.
    Add(AddArgs),
    /// List the saved profiles; `*` marks the active one.
    List {
        /// Print one JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Make a profile the one used when no --profile or --host is given.
    Use {
        /// The profile.
        #[arg(required_unless_present = "none")]
        name: Option<String>,
        /// Use no saved profile: back to the local sandbox.
        #[arg(long, conflicts_with = "name")]
        none: bool,
    },
    /// Remove a saved profile (and the password it keeps in the keyring).
    Remove {
        /// The profile.
        name: String,
    },
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("kind").required(true).args(["aws", "mqtt", "sandbox"])))]
struct AddArgs {
    /// The profile's name (letters, digits, '-', '_', '.'; up to 48).
    name: String,
    /// An AWS IoT Core data endpoint with a client certificate (needs --endpoint, --identity).
    #[arg(long)]
    aws: bool,
    /// Any MQTT broker (needs --host).
    #[arg(long)]
    mqtt: bool,
    /// The local sandbox started by `companion sandbox` (its ports are found when connecting).
    #[arg(long)]
    sandbox: bool,
    /// The `<prefix>-ats.iot.<region>.amazonaws.com` endpoint (`aws iot describe-endpoint
    /// --endpoint-type iot:Data-ATS`).
    #[arg(long, requires = "aws", required_if_eq("aws", "true"))]
    endpoint: Option<String>,
    /// The identity (`companion cert`) for mutual TLS; required with --aws.
    #[arg(long, required_if_eq("aws", "true"))]
    identity: Option<String>,
    /// The port: 8883 or 443 on AWS (443 offers ALPN x-amzn-mqtt-ca); for --mqtt 8883 with
    /// TLS, 1883 without.
    #[arg(long, conflicts_with = "sandbox")]
    port: Option<u16>,
    /// The thing this connection acts as (also the default client id).
    #[arg(long)]
    thing: Option<String>,
    /// The MQTT client id (default: the thing name, else a random one).
    #[arg(long)]
    client_id: Option<String>,
    /// The broker's host name or address.
    #[arg(long, requires = "mqtt", required_if_eq("mqtt", "true"))]
    host: Option<String>,
    /// Connect with TLS (implied by --ca and --identity).
    #[arg(long, requires = "mqtt")]
    tls: bool,
    /// Trust this CA certificate (PEM; kept in the profile) instead of the public roots.
    #[arg(long, requires = "mqtt", value_name = "FILE")]
    ca: Option<PathBuf>,
    /// The MQTT username.
    #[arg(long, requires = "mqtt")]
    username: Option<String>,
    /// Read the broker password from standard input; it goes to the keyring, not the profile.
    #[arg(long, requires = "username")]
    password_stdin: bool,
}

/// Runs `companion profile …`.
pub async fn run(args: ProfileArgs) -> Result<(), CliError> {
    let store = args.data.open_store().await?;
    let result = act(args.action, &store, &args.data.vault()).await;
    store.close().await;
    result
}

async fn act(action: Action, store: &Store, vault: &AsyncVault) -> Result<(), CliError> {
    let profiles = Profiles::new(store.clone());
    match action {
        Action::Add(add_args) => add(&add_args, store, vault).await,
        Action::List { json } => list(&profiles, json).await,
        Action::Use {
            name: Some(name), ..
        } => {
            profiles.set_active(&name).await.map_err(profiles_error)?;
            output::line(&format!("Using profile {name} when no other is named."));
            Ok(())
        }
        Action::Use { name: None, .. } => {
            profiles.clear_active().await.map_err(profiles_error)?;
            output::line("Using the local sandbox when no profile is named.");
            Ok(())
        }
        Action::Remove { name } => remove(&profiles, vault, &name).await,
    }
}

async fn add(args: &AddArgs, store: &Store, vault: &AsyncVault) -> Result<(), CliError> {
    let profiles = Profiles::new(store.clone());
    let profile = build_profile(args)?;
    check_profile_name(&profile.name).map_err(profiles_error)?;
    profile.validate().map_err(profile_error)?;
    if profiles.get(&profile.name).await.is_ok() {
        return Err(profiles_error(ProfilesError::ProfileExists(profile.name)));
    }
    let identities = Identities::new(store.clone(), vault.clone());
    if let Some(identity) = &args.identity {
        identities
            .get(identity)
            .await
            .map_err(|e| with_import_hint(profiles_error(e), identity))?;
    }
    let password = args.password_stdin.then(read_secret_line).transpose()?;
    profiles
        .add_with_password(&profile, password, &identities)
        .await
        .map_err(profiles_error)?;
    output::line(&format!(
        "Saved profile {}: {}. Make it the default with `companion profile use {}`.",
        profile.name,
        summary(&profile),
        profile.name
    ));
    Ok(())
}

async fn list(profiles: &Profiles, json: bool) -> Result<(), CliError> {
    let all = profiles.list().await.map_err(profiles_error)?;
    if json {
        output::json(&Value::Array(all.iter().map(saved_json).collect()));
        return Ok(());
    }
    if all.is_empty() {
        output::line(
            "No saved profiles: commands use the local sandbox. Add one with `companion profile add`.",
        );
    }
    for saved in &all {
        let marker = if saved.active { '*' } else { ' ' };
        output::line(&format!(
            "{marker} {:<20} {}",
            saved.profile.name,
            summary(&saved.profile)
        ));
    }
    Ok(())
}

async fn remove(profiles: &Profiles, vault: &AsyncVault, name: &str) -> Result<(), CliError> {
    let (_, leftover) = profiles
        .remove_with_password(name, vault)
        .await
        .map_err(profiles_error)?;
    if let Some(error) = leftover {
        output::error(&format!(
            "the profile is removed, but its password could not be removed from the keyring: {error}"
        ));
    }
    output::line(&format!("Removed profile {name}."));
    Ok(())
}

fn saved_json(saved: &SavedProfile) -> Value {
    json!({
        "name": saved.profile.name,
        "active": saved.active,
        "kind": kind(&saved.profile.target),
        "summary": summary(&saved.profile),
        "profile": profile_json(&saved.profile),
        "createdAt": saved.created_at,
        "updatedAt": saved.updated_at,
    })
}

fn build_profile(args: &AddArgs) -> Result<Profile, CliError> {
    let target = if args.aws {
        aws_target(args)?
    } else if args.mqtt {
        mqtt_target(args)?
    } else {
        sandbox_target(args)
    };
    let mut profile = Profile::new(args.name.clone(), target);
    profile.thing_name.clone_from(&args.thing);
    profile.client_id.clone_from(&args.client_id);
    Ok(profile)
}

fn aws_target(args: &AddArgs) -> Result<Target, CliError> {
    let identity = args.identity.clone().unwrap_or_default();
    let transport = match args.port {
        None | Some(8883) => AwsTransport::Mtls8883 { identity },
        Some(443) => AwsTransport::Mtls443Alpn { identity },
        Some(other) => {
            return Err(CliError::Failed(format!(
                "AWS IoT Core takes MQTT with client certificates on port 8883, or on 443 with ALPN: --port {other} cannot be used"
            )));
        }
    };
    Ok(Target::AwsIot(AwsIot {
        endpoint: args.endpoint.clone().unwrap_or_default(),
        transport,
    }))
}

fn mqtt_target(args: &AddArgs) -> Result<Target, CliError> {
    let tls = args.tls || args.ca.is_some() || args.identity.is_some();
    let ca = match &args.ca {
        Some(path) => CaSource::Pem(read_ca(path)?),
        None => CaSource::PublicRoots,
    };
    let tls = match (&args.identity, tls) {
        (Some(identity), _) => MqttTls::Mutual {
            ca,
            identity: identity.clone(),
            alpn: None,
        },
        (None, true) => MqttTls::ServerOnly { ca, alpn: None },
        (None, false) => MqttTls::None,
    };
    let port = args
        .port
        .unwrap_or(if tls == MqttTls::None { 1883 } else { 8883 });
    Ok(Target::Mqtt(Mqtt {
        host: args.host.clone().unwrap_or_default(),
        port,
        tls,
        username: args.username.clone(),
        password: args.password_stdin.then(|| password_name(&args.name)),
    }))
}

fn sandbox_target(args: &AddArgs) -> Target {
    Target::Sandbox(match &args.identity {
        Some(identity) => SandboxTarget::Mtls {
            identity: identity.clone(),
        },
        None => SandboxTarget::Plain,
    })
}

fn read_ca(path: &Path) -> Result<String, CliError> {
    let bytes = read_file(path, "CA certificate")?;
    let pem = String::from_utf8(bytes)
        .map_err(|_| CliError::Failed(format!("{} is not a PEM CA certificate", path.display())))?;
    Roots::from_pem(&pem).map_err(profile_error)?;
    Ok(pem)
}

/// The keyring name of the password a profile keeps (`profile.<name>`).
fn kind(target: &Target) -> &'static str {
    match target {
        Target::AwsIot(_) => "aws_iot",
        Target::Mqtt(_) => "mqtt",
        Target::Sandbox(_) => "sandbox",
    }
}

/// The database file: `<dir>/companion.db`, `dir` defaulting to the platform's data directory
/// plus `iot-companion`.
pub fn database_path(dir: Option<&Path>) -> Result<PathBuf, CliError> {
    let dir = match dir {
        Some(dir) => dir.to_path_buf(),
        None => dirs::data_dir()
            .map(|dir| dir.join("iot-companion"))
            .ok_or_else(|| {
                CliError::Failed(
                    "cannot find a data directory for the database; pass --data-dir".into(),
                )
            })?,
    };
    Ok(dir.join(DATABASE_FILE))
}

async fn open_store(path: &Path) -> Result<Store, CliError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| {
            CliError::Failed(format!(
                "cannot create the data directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    Store::open(path)
        .await
        .map_err(|e| CliError::Failed(e.to_string()))
}

/// The saved profile `name`, from the database at `path`.
pub async fn saved(path: &Path, name: &str) -> Result<Profile, CliError> {
    if !path.exists() {
        return Err(profiles_error(ProfilesError::ProfileNotFound(name.into())));
    }
    let store = open_store(path).await?;
    let found = Profiles::new(store.clone()).get(name).await;
    store.close().await;
    found.map(|saved| saved.profile).map_err(profiles_error)
}

/// The active profile in the database at `path`, if there is a database and an active profile.
pub async fn active(path: &Path) -> Result<Option<Profile>, CliError> {
    if !path.exists() {
        return Ok(None);
    }
    let store = open_store(path).await?;
    let found = Profiles::new(store.clone()).active().await;
    store.close().await;
    found.map_err(profiles_error)
}

/// The exit code of a profile or identity failure: 6 not found, 4 refused (exists, in use),
/// 1 anything else.
pub fn profiles_error(error: ProfilesError) -> CliError {
    let message = error.to_string();
    match error {
        ProfilesError::ProfileNotFound(_) | ProfilesError::IdentityNotFound(_) => {
            CliError::NotFound(message)
        }
        ProfilesError::ProfileExists(_)
        | ProfilesError::AlreadyImported(_)
        | ProfilesError::IdentityInUse { .. } => CliError::Refused(message),
        ProfilesError::Vault(error) => vault_error(error),
        ProfilesError::Invalid(error) => profile_error(error),
        _ => CliError::Failed(message),
    }
}

/// The exit code of a keyring failure: 6 not found, 4 a name taken, 1 anything else.
pub fn vault_error(error: VaultError) -> CliError {
    let message = error.to_string();
    match error {
        VaultError::IdentityNotFound(_) | VaultError::PasswordNotFound(_) => {
            CliError::NotFound(message)
        }
        VaultError::IdentityExists(_) => CliError::Refused(message),
        _ => CliError::Failed(message),
    }
}

/// The exit code of a profile that cannot be used: 3 the sandbox is not running, 6 a secret
/// missing from the keyring, 1 anything else.
pub fn profile_error(error: ProfileError) -> CliError {
    match error {
        ProfileError::SandboxUnavailable(_) => CliError::NotRunning(error.to_string()),
        ProfileError::Vault(error) => vault_error(error),
        other => CliError::Failed(other.to_string()),
    }
}

fn with_import_hint(error: CliError, identity: &str) -> CliError {
    match error {
        CliError::NotFound(message) => CliError::NotFound(format!(
            "{message} (`companion cert import {identity} <file>`)"
        )),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_name_the_endpoint_and_the_identity() {
        let aws = Profile::new(
            "prod",
            Target::AwsIot(AwsIot {
                endpoint: "abc-ats.iot.eu-west-1.amazonaws.com".into(),
                transport: AwsTransport::Mtls443Alpn {
                    identity: "s1".into(),
                },
            }),
        );
        assert_eq!(
            summary(&aws),
            "AWS IoT abc-ats.iot.eu-west-1.amazonaws.com:443 (mutual TLS with ALPN, identity s1)"
        );
    }
}
