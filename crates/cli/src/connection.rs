//! The connection flags shared by `pub`, `sub` and `doctor`, turned into a session spec.
//!
//! Without `--host` the commands talk to the running local sandbox (its plain listener, found
//! through `<data dir>/sandbox.json`). Certificates and keys come from files here; saved
//! profiles with keys in the OS keyring come with `companion profile`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use companion_core::profile::{ConnectSpec, Limits, Roots, TlsSpec, amazon_roots};
use companion_core::vault::{Identity, Sensitive};

use crate::CliError;
use crate::sandbox::running_sandbox;

/// Where to connect and how.
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// The broker's host; without it, the running local sandbox.
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
}

impl ConnectionArgs {
    /// The session spec these flags describe.
    pub fn spec(&self) -> Result<ConnectSpec, CliError> {
        let client_id = self
            .client_id
            .clone()
            .unwrap_or_else(|| format!("companion-cli-{:08x}", rand_suffix()));
        let Some(host) = &self.host else {
            let sandbox = running_sandbox(self.data_dir.clone())?;
            return Ok(ConnectSpec::plain(sandbox.host, sandbox.port, client_id));
        };
        let tls = self.tls || self.aws || self.ca.is_some() || self.cert.is_some();
        let port = self.port.unwrap_or(if tls { 8883 } else { 1883 });
        let mut spec = ConnectSpec::plain(host.clone(), port, client_id);
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

fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    // A random seed per process is enough to keep concurrent CLI runs apart.
    u32::try_from(RandomState::new().hash_one(std::process::id()) & 0xffff_ffff).unwrap_or_default()
}
