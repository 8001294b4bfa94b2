//! A Mosquitto broker on loopback for one test: a plain listener and a mutual-TLS listener,
//! on ports the OS chose, stopped when dropped.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{Guarded, TempDir, require_program};

/// A running Mosquitto.
#[derive(Debug)]
pub struct Mosquitto {
    /// The plain listener's port (anonymous access).
    pub plain_port: u16,
    /// The mutual-TLS listener's port.
    pub mtls_port: u16,
    _process: Guarded,
    _dir: TempDir,
}

/// PEM files for the TLS listener.
#[derive(Debug)]
pub struct TlsFiles<'a> {
    /// The CA that client certificates must chain to.
    pub ca_pem: &'a str,
    /// The server's certificate (SAN localhost / 127.0.0.1).
    pub cert_pem: &'a str,
    /// The server's private key.
    pub key_pem: &'a str,
}

impl Mosquitto {
    /// Starts Mosquitto and waits until both listeners accept connections.
    pub async fn start(tls: &TlsFiles<'_>) -> Result<Self, String> {
        let program = require_program("mosquitto", "Debian package mosquitto")?;
        let dir = TempDir::new("companion-mosquitto")?;
        let (plain_port, mtls_port) = (free_port()?, free_port()?);
        let config = write_config(dir.path(), tls, plain_port, mtls_port)?;
        let log =
            std::fs::File::create(dir.path().join("mosquitto.log")).map_err(|e| e.to_string())?;
        let mut process = Guarded::spawn(
            "mosquitto",
            Command::new(program)
                .arg("-c")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(log),
        )?;
        for port in [plain_port, mtls_port] {
            wait_for_port(port, &mut process).await?;
        }
        Ok(Self {
            plain_port,
            mtls_port,
            _process: process,
            _dir: dir,
        })
    }
}

fn write_config(
    dir: &Path,
    tls: &TlsFiles<'_>,
    plain: u16,
    mtls: u16,
) -> Result<std::path::PathBuf, String> {
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("write {}: {e}", path.display()))?;
        // Started as root, mosquitto drops to its own user before reading these files.
        set_readable(&path)?;
        Ok::<_, String>(path)
    };
    let (ca, cert, key) = (
        write("ca.pem", tls.ca_pem)?,
        write("server.pem", tls.cert_pem)?,
        write("server.key", tls.key_pem)?,
    );
    set_readable(dir)?;
    let config = format!(
        "per_listener_settings true\n\
         listener {plain} 127.0.0.1\nallow_anonymous true\n\
         listener {mtls} 127.0.0.1\nallow_anonymous true\n\
         cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\nuse_identity_as_username true\n",
        ca.display(),
        cert.display(),
        key.display()
    );
    write("mosquitto.conf", &config)
}

fn set_readable(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = if path.is_dir() { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {}: {e}", path.display()))
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|error| format!("no free port on 127.0.0.1: {error}"))
}

async fn wait_for_port(port: u16, process: &mut Guarded) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        process.ensure_running()?;
        if Instant::now() > deadline {
            return Err(format!("mosquitto did not listen on port {port}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
