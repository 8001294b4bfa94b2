//! The connection flags shared by `pub`, `sub`, `doctor` and `shadow`, turned into a session
//! spec.
//!
//! What to connect to, first match wins: `--profile NAME` (a saved profile, its keys and
//! passwords loaded from the OS keyring); `--host` with the file-based flags; the active
//! profile (`companion profile use`); else the running local sandbox (its plain listener,
//! found through `<sandbox data dir>/sandbox.json`). A sandbox profile is resolved against the
//! running sandbox's listeners and CA from the same file.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use companion_core::profile::{
    ConnectSpec, Limits, Profile, Roots, SandboxEndpoints, Target, TlsSpec, amazon_roots,
};
use companion_core::vault::{Identity, Sensitive};

use crate::CliError;
use crate::cert::{KeyringChoice, open_vault};
use crate::profile::{active, database_path, profile_error, saved};
use crate::sandbox::{Address, RunningSandbox, running_sandbox};

/// Where to connect and how.
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// A saved profile (`companion profile add`); without it and without --host, the active
    /// profile, else the running local sandbox.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["host", "port", "tls", "ca", "cert", "key", "alpn", "aws"])]
    profile: Option<String>,
    /// The broker's host; without it, the saved profile in use or the running local sandbox.
    #[arg(long)]
    host: Option<String>,
    /// The broker's port (default 8883 with TLS, 1883 without).
    #[arg(long)]
    port: Option<u16>,
    /// Use TLS (implied by --ca, --cert and --aws).
    #[arg(long)]
    tls: bool,
    /// Trust this CA certificate (PEM) instead of the public roots.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// The client certificate (PEM), for mutual TLS.
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// The client's private key (PEM), for mutual TLS.
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// The ALPN protocol to offer (AWS IoT on port 443: x-amzn-mqtt-ca).
    #[arg(long)]
    alpn: Option<String>,
    /// An AWS IoT Core endpoint: Amazon's roots unless --ca is given, and AWS's limits.
    #[arg(long)]
    aws: bool,
    /// The MQTT client id (default: companion-cli-<random>).
    #[arg(long)]
    client_id: Option<String>,
    /// The data directory of the local sandbox (when --host is not given).
    #[arg(long, env = "COMPANION_SANDBOX_DIR")]
    data_dir: Option<PathBuf>,
    /// The CLI's data directory, where saved profiles live (what `profile --data-dir` names).
    #[arg(long, env = "COMPANION_DATA_DIR", value_name = "DIR")]
    profiles_dir: Option<PathBuf>,
    /// The secret store holding a profile's keys and passwords: auto, secret-service or kernel.
    #[arg(long, env = "COMPANION_KEYRING", value_enum, default_value_t)]
    keyring: KeyringChoice,
}

impl ConnectionArgs {
    /// The session spec these flags describe. A saved profile's secrets come from the keyring,
    /// whose calls block, on tokio's blocking pool.
    pub async fn spec(&self) -> Result<ConnectSpec, CliError> {
        let client_id = self
            .client_id
            .clone()
            .unwrap_or_else(|| format!("companion-cli-{:08x}", rand_suffix()));
        if let Some(host) = &self.host {
            return self.flags_spec(host, client_id);
        }
        if let Some(profile) = self.saved_profile().await? {
            return self.profile_spec(profile).await;
        }
        let sandbox = running_sandbox(self.data_dir.clone())?;
        Ok(ConnectSpec::plain(
            sandbox.plain.host,
            sandbox.plain.port,
            client_id,
        ))
    }

    /// The running local sandbox when these flags lead to it (no --host, and no saved profile
    /// in use or a sandbox profile); `None` for any other broker.
    pub async fn local_sandbox(&self) -> Result<Option<RunningSandbox>, CliError> {
        if self.host.is_some() {
            return Ok(None);
        }
        match self.saved_profile().await? {
            Some(profile) if !matches!(profile.target, Target::Sandbox(_)) => Ok(None),
            _ => running_sandbox(self.data_dir.clone()).map(Some),
        }
    }

    /// The local sandbox's data directory, if given (--data-dir or COMPANION_SANDBOX_DIR).
    pub fn sandbox_dir(&self) -> Option<PathBuf> {
        self.data_dir.clone()
    }

    /// The CLI's data directory (--profiles-dir), where the database lives.
    pub fn profiles_dir(&self) -> Option<&Path> {
        self.profiles_dir.as_deref()
    }

    /// The profile named with --profile, else the active one.
    async fn saved_profile(&self) -> Result<Option<Profile>, CliError> {
        let path = database_path(self.profiles_dir.as_deref());
        match (&self.profile, path) {
            (Some(name), path) => saved(&path?, name).await.map(Some),
            (None, Ok(path)) => active(&path).await,
            // Without a data directory there are no saved profiles: the local sandbox.
            (None, Err(_)) => Ok(None),
        }
    }

    /// A saved profile resolved through the keyring (and the running sandbox for its target).
    async fn profile_spec(&self, profile: Profile) -> Result<ConnectSpec, CliError> {
        let sandbox = match profile.target {
            Target::Sandbox(_) => Some(self.sandbox_endpoints()?),
            _ => None,
        };
        let vault = open_vault(self.keyring);
        let resolved = tokio::task::spawn_blocking(move || {
            profile.resolve(vault.blocking(), sandbox.as_ref())
        })
        .await
        .map_err(|e| CliError::Failed(format!("resolving the profile failed: {e}")))?;
        let mut spec = resolved.map_err(profile_error)?;
        if let Some(client_id) = &self.client_id {
            spec.client_id.clone_from(client_id);
        }
        Ok(spec)
    }

    /// The running sandbox's listeners and CA, from its `sandbox.json`.
    fn sandbox_endpoints(&self) -> Result<SandboxEndpoints, CliError> {
        let sandbox = running_sandbox(self.data_dir.clone())?;
        Ok(SandboxEndpoints {
            plain: socket_address(&sandbox.plain)?,
            mtls_port: sandbox.mtls.map(|address| address.port),
            ca_pem: read(&sandbox.ca, "sandbox CA certificate")?,
        })
    }

    fn flags_spec(&self, host: &str, client_id: String) -> Result<ConnectSpec, CliError> {
        let tls = self.tls || self.aws || self.ca.is_some() || self.cert.is_some();
        let port = self.port.unwrap_or(if tls { 8883 } else { 1883 });
        let mut spec = ConnectSpec::plain(host, port, client_id);
        spec.keepalive = Duration::from_secs(30);
        if tls {
            spec.tls = Some(self.tls_spec()?);
        }
        if self.aws {
            spec.limits = Limits::aws();
        }
        Ok(spec)
    }

    fn tls_spec(&self) -> Result<TlsSpec, CliError> {
        let roots = match (&self.ca, self.aws) {
            (Some(ca), _) => Roots::from_pem(&read(ca, "CA certificate")?)
                .map_err(|e| CliError::Failed(e.to_string()))?,
            (None, true) => amazon_roots(),
            (None, false) => Roots::Public,
        };
        let identity = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Some(Arc::new(Identity {
                name: cert.display().to_string(),
                cert_pem: read(cert, "certificate")?,
                key_pem: Sensitive::new(read(key, "private key")?),
            })),
            _ => None,
        };
        Ok(TlsSpec {
            roots,
            identity,
            alpn: self.alpn.clone(),
        })
    }
}

fn read(path: &Path, what: &str) -> Result<String, CliError> {
    std::fs::read_to_string(path)
        .map_err(|e| CliError::Failed(format!("cannot read the {what} at {}: {e}", path.display())))
}

fn socket_address(address: &Address) -> Result<SocketAddr, CliError> {
    (address.host.as_str(), address.port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .ok_or_else(|| {
            CliError::Failed(format!(
                "the sandbox's address {}:{} cannot be resolved",
                address.host, address.port
            ))
        })
}

fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    // A random seed per process is enough to keep concurrent CLI runs apart.
    u32::try_from(RandomState::new().hash_one(std::process::id()) & 0xffff_ffff).unwrap_or_default()
}
