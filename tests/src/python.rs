//! AWS's IoT Device SDK v2 for Python, in a virtual environment the tests create once under
//! `<target>/awsiotsdk-venv` (PyPI `awsiotsdk`, pinned).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The pinned SDK release the interop tests run against.
pub const AWSIOTSDK: &str = "awsiotsdk==1.31.0";

/// The virtual environment's Python, creating the environment on first use.
pub fn awsiot_python() -> Result<PathBuf, String> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON.get_or_init(create_venv).clone()
}

fn create_venv() -> Result<PathBuf, String> {
    let venv = target_dir()?.join("awsiotsdk-venv");
    let python = venv.join("bin").join("python");
    if has_sdk(&python) {
        return Ok(python);
    }
    let system_python = crate::process::require_program("python3", "Debian package python3")?;
    run(
        Command::new(system_python)
            .args(["-m", "venv", "--clear"])
            .arg(&venv),
        "create the venv",
    )?;
    run(
        Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            AWSIOTSDK,
        ]),
        "pip install awsiotsdk",
    )?;
    if has_sdk(&python) {
        Ok(python)
    } else {
        Err(format!(
            "{AWSIOTSDK} installed into {} but cannot be imported",
            venv.display()
        ))
    }
}

fn has_sdk(python: &Path) -> bool {
    python.is_file()
        && Command::new(python)
            .args(["-c", "import awsiot, awscrt"])
            .status()
            .is_ok_and(|status| status.success())
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|error| format!("{what}: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Runs one suite of `tests/python/awsiot_device.py`; fails with its output unless every check
/// passed.
pub fn run_device_suite(suite: &str, args: &[String]) -> Result<String, String> {
    let python = awsiot_python()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join("awsiot_device.py");
    let output = Command::new(python)
        .arg(script)
        .arg(suite)
        .args(args)
        .output()
        .map_err(|error| format!("cannot run the {suite} suite: {error}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() && stdout.contains("all checks passed") {
        Ok(stdout)
    } else {
        Err(format!(
            "the {suite} suite failed ({}):\n{stdout}{stderr}",
            output.status
        ))
    }
}

/// `<target>`, from this test binary's location (`<target>/debug/deps/<binary>`).
pub fn target_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|error| format!("current_exe: {error}"))?;
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .ok_or_else(|| "unexpected test binary path".to_owned())
}
