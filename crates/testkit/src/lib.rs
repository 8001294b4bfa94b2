//! Test support shared by the workspace's test suites, so that each suite does not grow its own
//! copy: [`TempDir`], [`free_port`] / [`free_address`], and [`Mosquitto`] on a loopback port.
//!
//! Test code: it panics with a sentence when the machine lacks something (for example the
//! `mosquitto` binary), which is the test's failure message.

#![allow(
    clippy::expect_used,
    reason = "test support fails loudly, with a sentence"
)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long Mosquitto may take to listen.
const LISTEN_DEADLINE: Duration = Duration::from_secs(20);

/// A fresh directory under the system's temporary directory, removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new directory whose name starts with `name`.
    pub fn new(name: &str) -> Self {
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or_default();
        let dir = std::env::temp_dir().join(format!("{name}-{}-{unique}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory can be created");
        Self(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback port the OS says is free right now.
pub fn free_port() -> u16 {
    free_address().port()
}

/// A loopback address with a port the OS says is free right now.
pub fn free_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    listener.local_addr().expect("a bound address")
}

/// Mosquitto with one plain anonymous listener on a loopback port, killed when dropped.
#[derive(Debug)]
pub struct Mosquitto {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Mosquitto {
    /// Starts Mosquitto on a free port and returns once it listens.
    pub async fn start() -> Self {
        Self::start_on(free_port()).await
    }

    /// Starts Mosquitto on `port` (again, after [`Mosquitto::stop`]) and returns once it says
    /// it listens.
    pub async fn start_on(port: u16) -> Self {
        let dir = TempDir::new("mosquitto");
        let conf = dir.path().join("mosquitto.conf");
        let settings = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
             log_dest stderr\nlog_type error\nlog_type warning\nlog_type information\n"
        );
        std::fs::write(&conf, settings).expect("the configuration is written");
        let mut child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("mosquitto runs (Debian package mosquitto; `cargo xtask setup` installs it)");
        let stderr = child.stderr.take().expect("piped stderr");
        let mut lines = BufReader::new(stderr).lines();
        let listening = async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("Opening ipv4 listen socket") {
                    return;
                }
            }
            panic!("mosquitto exited before listening (is port {port} taken?)");
        };
        tokio::time::timeout(LISTEN_DEADLINE, listening)
            .await
            .expect("mosquitto listens in time");
        // Keep draining its log so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            child,
            port,
            _dir: dir,
        }
    }

    /// The listener's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills Mosquitto (SIGKILL) and waits until it is gone: every client loses its
    /// connection. Returns the port, to start again on it.
    pub async fn stop(mut self) -> u16 {
        self.child.kill().await.expect("mosquitto is killed");
        self.port
    }
}
