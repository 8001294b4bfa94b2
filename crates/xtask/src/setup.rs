//! Installs what building, running and testing need, and does nothing when it is all there.
//!
//! Debian packages go through apt when running as root; otherwise the exact command to run is
//! printed. Rust tools are installed with `cargo install` at pinned versions: the wasm-bindgen
//! CLI must match the `wasm-bindgen` crate in `Cargo.lock` exactly.

use std::process::Command;

use crate::steps::{Step, TaskError, workspace_root};

/// What the machine is being prepared for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Building and running the app.
    Run,
    /// Everything `Run` needs, plus the end-to-end test's WebDriver stack.
    Test,
}

/// A Debian package and the program or library that shows it is there on other systems.
struct Package {
    name: &'static str,
    provides: &'static str,
    needed_for: Needs,
}

const PACKAGES: &[Package] = &[
    Package {
        name: "libwebkit2gtk-4.1-dev",
        provides: "pkg-config webkit2gtk-4.1",
        needed_for: Needs::Run,
    },
    // Bluetooth LE provisioning: btleplug talks to BlueZ through libdbus (libdbus-sys finds it
    // with pkg-config).
    Package {
        name: "pkg-config",
        provides: "pkg-config",
        needed_for: Needs::Run,
    },
    Package {
        name: "libdbus-1-dev",
        provides: "pkg-config dbus-1",
        needed_for: Needs::Run,
    },
    Package {
        name: "xvfb",
        provides: "Xvfb",
        needed_for: Needs::Run,
    },
    Package {
        name: "xauth",
        provides: "xauth",
        needed_for: Needs::Run,
    },
    Package {
        name: "webkit2gtk-driver",
        provides: "WebKitWebDriver",
        needed_for: Needs::Test,
    },
    // A second, independent broker: the sandbox's services must also work attached to it.
    Package {
        name: "mosquitto",
        provides: "mosquitto",
        needed_for: Needs::Test,
    },
    // The vault's keyring tests: the real Secret Service (gnome-keyring on a private D-Bus
    // session bus started with dbus-run-session) and the kernel keyring.
    Package {
        name: "gnome-keyring",
        provides: "gnome-keyring-daemon",
        needed_for: Needs::Test,
    },
    Package {
        name: "dbus",
        provides: "dbus-run-session",
        needed_for: Needs::Test,
    },
    Package {
        name: "keyutils",
        provides: "keyctl",
        needed_for: Needs::Test,
    },
    // The mobile check (src/mobile.rs): clang and glibc's aarch64 headers compile the build
    // scripts' C for Android without the NDK, llvm-ar archives it; nothing is linked.
    Package {
        name: "clang",
        provides: "clang",
        needed_for: Needs::Test,
    },
    Package {
        name: "llvm",
        provides: "llvm-ar",
        needed_for: Needs::Test,
    },
    Package {
        name: "libc6-dev-arm64-cross",
        provides: "file /usr/aarch64-linux-gnu/include/stdio.h",
        needed_for: Needs::Test,
    },
];

/// A Rust tool installed with `cargo install`.
struct Tool {
    binary: &'static str,
    krate: &'static str,
    version: String,
    locked: bool,
    needed_for: Needs,
}

fn tools() -> Result<Vec<Tool>, TaskError> {
    Ok(vec![
        // trunk 0.22 needs a newer rustc than this toolchain; 0.21.14 is the newest that builds.
        Tool {
            binary: "trunk",
            krate: "trunk",
            version: "0.21.14".into(),
            locked: true,
            needed_for: Needs::Run,
        },
        // `--locked` fails for this crate: its lock file pins a yanked webpki-roots.
        Tool {
            binary: "wasm-bindgen",
            krate: "wasm-bindgen-cli",
            version: locked_wasm_bindgen()?,
            locked: false,
            needed_for: Needs::Run,
        },
        Tool {
            binary: "tauri-driver",
            krate: "tauri-driver",
            version: "2.1.0".into(),
            locked: true,
            needed_for: Needs::Test,
        },
    ])
}

/// Installs whatever `needs` calls for and is missing.
pub fn run(needs: Needs) -> Result<(), TaskError> {
    let wanted = |for_what: Needs| for_what == Needs::Run || needs == Needs::Test;
    let packages: Vec<&Package> = PACKAGES.iter().filter(|p| wanted(p.needed_for)).collect();
    install_packages(&packages)?;
    install_wasm_target()?;
    if needs == Needs::Test {
        crate::mobile::install_targets()?;
    }
    let installed = Step::new("list installed tools", "cargo")
        .args(["install", "--list"])
        .output()
        .unwrap_or_default();
    for tool in tools()?.into_iter().filter(|t| wanted(t.needed_for)) {
        install_tool(&tool, &installed)?;
    }
    Ok(())
}

fn install_packages(packages: &[&Package]) -> Result<(), TaskError> {
    if !has_program("dpkg-query") {
        return check_without_apt(packages);
    }
    let missing: Vec<&str> = packages
        .iter()
        .filter(|package| !debian_package_installed(package.name))
        .map(|package| package.name)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let command = format!("apt-get update && apt-get install -y {}", missing.join(" "));
    if !is_root() {
        return Err(TaskError::Missing(format!(
            "These Debian packages are missing: {}.\nInstall them as root, then run this again:\n    sudo sh -c '{command}'",
            missing.join(", ")
        )));
    }
    Step::new("apt-get update", "apt-get")
        .args(["update", "-q"])
        .run()?;
    Step::new("install Debian packages", "apt-get")
        .args(["install", "-y", "-q"])
        .args(&missing)
        .run()
}

fn check_without_apt(packages: &[&Package]) -> Result<(), TaskError> {
    let missing: Vec<String> = packages
        .iter()
        .filter(|package| !provided(package.provides))
        .map(|package| format!("{} (Debian: {})", package.provides, package.name))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(TaskError::Missing(format!(
        "This is not a Debian-like system, so nothing can be installed automatically. Install the equivalents of:\n    {}",
        missing.join("\n    ")
    )))
}

fn provided(provides: &str) -> bool {
    match provides.split_once(' ') {
        Some(("pkg-config", library)) => Command::new("pkg-config")
            .args(["--exists", library])
            .status()
            .is_ok_and(|status| status.success()),
        Some(("file", path)) => std::path::Path::new(path).is_file(),
        _ => has_program(provides),
    }
}

fn install_wasm_target() -> Result<(), TaskError> {
    let installed = Step::new("list rustup targets", "rustup")
        .args(["target", "list", "--installed"])
        .output()
        .unwrap_or_default();
    if installed
        .lines()
        .any(|line| line.trim() == "wasm32-unknown-unknown")
    {
        return Ok(());
    }
    Step::new("add the wasm32 target", "rustup")
        .args(["target", "add", "wasm32-unknown-unknown"])
        .run()
}

fn install_tool(tool: &Tool, installed: &str) -> Result<(), TaskError> {
    // `cargo install --list` names each crate as `<crate> v<version>:`; the binary must also
    // be reachable on PATH.
    let listed = format!("{} v{}:", tool.krate, tool.version);
    if installed.lines().any(|line| line == listed) && has_program(tool.binary) {
        return Ok(());
    }
    let spec = format!("{}@{}", tool.krate, tool.version);
    let mut step =
        Step::new(&format!("install {spec}"), "cargo").args(["install", "--force", spec.as_str()]);
    if tool.locked {
        step = step.args(["--locked"]);
    }
    step.run()
}

/// The `wasm-bindgen` version in `Cargo.lock`, which the CLI must equal.
fn locked_wasm_bindgen() -> Result<String, TaskError> {
    let lock_path = workspace_root().join("Cargo.lock");
    let lock = std::fs::read_to_string(&lock_path).map_err(|error| {
        TaskError::Missing(format!("cannot read {}: {error}", lock_path.display()))
    })?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\"" {
            let version = lines
                .next()
                .and_then(|next| next.strip_prefix("version = \""));
            if let Some(version) = version.and_then(|v| v.strip_suffix('"')) {
                return Ok(version.to_owned());
            }
        }
    }
    Err(TaskError::Missing(format!(
        "no wasm-bindgen entry in {}",
        lock_path.display()
    )))
}

fn debian_package_installed(name: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", name])
        .output()
        .is_ok_and(|output| {
            String::from_utf8_lossy(&output.stdout).contains("install ok installed")
        })
}

fn has_program(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}
