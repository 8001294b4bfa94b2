//! A private `dbus-daemon`: a throwaway configuration in a temporary directory, no service
//! activation, everything allowed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A `dbus-daemon` of its own, stopped (and its directory removed) when dropped.
#[derive(Debug)]
pub struct PrivateBus {
    child: Child,
    address: String,
    dir: PathBuf,
}

impl PrivateBus {
    /// Starts a bus whose files live in a new directory under the system's temporary one,
    /// named after `name` and this process.
    pub fn start(name: &str) -> Result<Self, String> {
        if find_program("dbus-daemon").is_none() {
            return Err(
                "`dbus-daemon` is not installed: run `apt-get install -y dbus` (or `cargo xtask setup`) and try again"
                    .into(),
            );
        }
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let config = dir.join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>companion-test</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                dir.join("bus").display()
            ),
        )
        .map_err(|e| format!("{}: {e}", config.display()))?;
        // dbus-daemon's complaints (e.g. that it may not raise its fd limit) go to a file.
        let log = std::fs::File::create(dir.join("dbus-daemon.log"))
            .map_or_else(|_| Stdio::null(), Stdio::from);
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--nopidfile", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("could not start dbus-daemon: {e}"))?;
        let mut address = String::new();
        let read = child
            .stdout
            .take()
            .map(|stdout| BufReader::new(stdout).read_line(&mut address));
        if !matches!(read, Some(Ok(n)) if n > 0) || address.trim().is_empty() {
            let _ = child.kill();
            let _ = child.wait();
            return Err("dbus-daemon printed no address".into());
        }
        Ok(Self {
            child,
            address: address.trim().to_owned(),
            dir,
        })
    }

    /// The bus address, for `DBUS_SYSTEM_BUS_ADDRESS`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The bus's directory (a scratch place for whoever uses the bus).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What dbus-daemon complained about, for a failing test's report.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dbus-daemon.log")).unwrap_or_default()
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
