//! Running commands as named steps, and building the UI.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Why a task stopped.
#[derive(Debug)]
pub enum TaskError {
    /// The command line was not understood.
    Usage(String),
    /// A step could not start or failed.
    Step { step: String, reason: String },
    /// The machine lacks something that cannot be installed from here.
    Missing(String),
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(text) | Self::Missing(text) => f.write_str(text),
            Self::Step { step, reason } => write!(f, "step `{step}` failed: {reason}"),
        }
    }
}

/// A command run as a named step from the workspace root, with its duration reported.
#[derive(Debug)]
pub struct Step {
    name: String,
    command: Command,
}

impl Step {
    /// A step called `name` that runs `program`.
    pub fn new(name: &str, program: &str) -> Self {
        let mut command = Command::new(program);
        command.current_dir(workspace_root());
        Self {
            name: name.to_owned(),
            command,
        }
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command.args(args);
        self
    }

    /// Runs in `dir` (relative to the workspace root) instead of the root.
    pub fn in_dir(mut self, dir: &str) -> Self {
        self.command.current_dir(workspace_root().join(dir));
        self
    }

    /// Runs the step, failing unless it exits with success.
    pub fn run(mut self) -> Result<(), TaskError> {
        println!("\n==> {}", self.name);
        let started = Instant::now();
        let status = self.command.status().map_err(|error| TaskError::Step {
            step: self.name.clone(),
            reason: format!("cannot start {:?}: {error}", self.command.get_program()),
        })?;
        let elapsed = started.elapsed().as_secs_f32();
        if status.success() {
            println!("==> {} done in {elapsed:.1} s", self.name);
            Ok(())
        } else {
            Err(TaskError::Step {
                step: self.name,
                reason: format!("{status} after {elapsed:.1} s"),
            })
        }
    }

    /// Runs the step and returns its standard output, or `None` when it cannot run or fails.
    pub fn output(mut self) -> Option<String> {
        let output = self.command.output().ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// The workspace root (the parent of `crates/xtask`).
///
/// Read from `CARGO_MANIFEST_DIR` at run time (cargo sets it for `cargo run`), not baked in at
/// build time: a shared target directory reuses one xtask binary across clones, and a baked-in
/// path would point at whichever clone built it.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or(manifest_dir)
}

/// Cargo's target directory, honouring `CARGO_TARGET_DIR`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        })
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Where a UI build went and how big its wasm is.
#[derive(Debug)]
pub struct UiBuild {
    dist: PathBuf,
    wasm_bytes: u64,
}

impl UiBuild {
    /// One line for the report.
    pub fn describe(&self) -> String {
        format!(
            "{} ({:.0} KiB of wasm)",
            self.dist.display(),
            self.wasm_bytes as f64 / 1024.0
        )
    }
}

/// Builds the UI with Trunk: debug into `ui/dist` (what the app embeds), release into the
/// target directory so checking it never changes what the app embeds.
pub fn build_ui(release: bool) -> Result<UiBuild, TaskError> {
    let dist = if release {
        target_dir().join("ui-release")
    } else {
        workspace_root().join("ui/dist")
    };
    let dist_arg = dist.display().to_string();
    let mut step = Step::new(
        if release {
            "build the UI (release)"
        } else {
            "build the UI"
        },
        "trunk",
    )
    .in_dir("ui")
    .args(["build", "--dist", dist_arg.as_str()]);
    if release {
        step = step.args(["--release"]);
    }
    step.run()?;
    let wasm_bytes = wasm_size(&dist).ok_or_else(|| TaskError::Step {
        step: "build the UI".into(),
        reason: format!("no .wasm file in {}", dist.display()),
    })?;
    let build = UiBuild { dist, wasm_bytes };
    println!("    UI: {}", build.describe());
    Ok(build)
}

fn wasm_size(dist: &Path) -> Option<u64> {
    std::fs::read_dir(dist)
        .ok()?
        .filter_map(Result::ok)
        .filter(|entry| entry.path().extension() == Some(OsStr::new("wasm")))
        .filter_map(|entry| entry.metadata().ok())
        .map(|metadata| metadata.len())
        .max()
}
