//! Child processes that are always stopped: each runs in its own process group, is asked to stop
//! with SIGTERM (so it can stop its own children) and is then killed with its whole group.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// A child process that is stopped, with its process group, when dropped.
#[derive(Debug)]
pub struct Guarded {
    name: String,
    child: Child,
}

impl Guarded {
    /// Starts `command` in a new process group.
    pub fn spawn(name: &str, command: &mut Command) -> Result<Self, String> {
        use std::os::unix::process::CommandExt;
        let child = command.process_group(0).spawn().map_err(|error| {
            format!("cannot start {name} ({:?}): {error}", command.get_program())
        })?;
        Ok(Self {
            name: name.to_owned(),
            child,
        })
    }

    /// The child's standard output, when it was piped.
    pub fn stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.stdout.take()
    }

    /// Fails with the exit status if the process has already ended.
    pub fn ensure_running(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("{} exited early with {status}", self.name)),
            Err(error) => Err(format!("cannot check on {}: {error}", self.name)),
        }
    }

    fn pid(&self) -> Option<Pid> {
        i32::try_from(self.child.id()).ok().map(Pid::from_raw)
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        let Some(pid) = self.pid() else { return };
        if matches!(self.child.try_wait(), Ok(None)) {
            // SIGTERM first: tauri-driver stops its WebKitWebDriver only on SIGTERM/SIGINT.
            let _ = kill(pid, Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // Whatever is left in the group (the app, a stuck driver) goes too.
        let _ = killpg(pid, Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates a fresh directory under the system's temporary directory.
    pub fn new(prefix: &str) -> Result<Self, String> {
        let unique = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_nanos())
                .unwrap_or_default()
        );
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path)
            .map_err(|error| format!("cannot create {}: {error}", path.display()))?;
        Ok(Self(path))
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

/// The full path of `program` on PATH, or an error naming what installs it.
pub fn require_program(program: &str, installed_by: &str) -> Result<PathBuf, String> {
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(program))
                .find(|candidate| candidate.is_file())
        })
        .ok_or_else(|| {
            format!("`{program}` is not on PATH: {installed_by} (`cargo xtask setup` installs it)")
        })
}
