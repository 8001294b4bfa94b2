//! The mobile check: what this machine can prove about the Android and iOS builds without the
//! Android NDK or Xcode. The app, the engine, the mobile plugin and the provisioning protocol
//! type-check for Android (`aarch64-linux-android`); the pure crates type-check for iOS
//! (`aarch64-apple-ios`; the app's tree compiles Objective-C against Apple's SDK, which cc-rs
//! finds only through Xcode's `xcrun`).
//!
//! Build scripts compile C for the target (ring, SQLite in libsqlite3-sys, psm), so cargo needs a
//! C compiler for Android. Without the NDK, Debian's clang compiles for
//! `aarch64-linux-android` (clang is a cross compiler for every target it knows) against glibc's
//! aarch64 headers (`libc6-dev-arm64-cross`) in place of Bionic's, and llvm-ar archives the
//! objects. That is sound for a check, and only for a check: `cargo check` runs the build
//! scripts, which compile the C into archives, but links nothing for the target, so those
//! objects never meet Bionic or an Android linker; and what Rust sees of the C libraries comes
//! from the crates' own declarations (libsqlite3-sys's pregenerated bindings, ring's `extern`
//! blocks), not from these headers. A real APK is built with the NDK (mobile/README.md).

use crate::steps::{Step, TaskError};

const ANDROID: &str = "aarch64-linux-android";
const IOS: &str = "aarch64-apple-ios";

/// The rustup targets the check compiles for.
pub const TARGETS: [&str; 2] = [ANDROID, IOS];

/// Where `libc6-dev-arm64-cross` puts glibc's aarch64 headers.
const AARCH64_HEADERS: &str = "/usr/aarch64-linux-gnu/include";

/// Adds the check's rustup targets if they are missing.
pub fn install_targets() -> Result<(), TaskError> {
    let installed = Step::new("list rustup targets", "rustup")
        .args(["target", "list", "--installed"])
        .output()
        .unwrap_or_default();
    let missing: Vec<&str> = TARGETS
        .into_iter()
        .filter(|target| !installed.lines().any(|line| line.trim() == *target))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Step::new("add the mobile targets", "rustup")
        .args(["target", "add"])
        .args(&missing)
        .run()
}

/// Type-checks the mobile code paths.
pub fn check() -> Result<(), TaskError> {
    // Set through cargo's `[env]` for this command only: a real Android build (the NDK's clang,
    // through the Tauri CLI) must never pick these up.
    let target = ANDROID.replace('-', "_");
    let c_toolchain = [
        format!("env.CC_{target}=\"clang\""),
        format!("env.AR_{target}=\"llvm-ar\""),
        // Only the aarch64 headers: not the host's /usr/include.
        format!("env.CFLAGS_{target}=\"-nostdlibinc -isystem {AARCH64_HEADERS}\""),
    ];
    let mut android = Step::new(&format!("type-check for Android ({ANDROID})"), "cargo").args([
        "check",
        "--locked",
        "--target",
        ANDROID,
        "--package",
        "iot-companion",
        "--package",
        "companion-core",
        "--package",
        "companion-mobile",
        "--package",
        "companion-espprov",
    ]);
    for setting in &c_toolchain {
        android = android.args(["--config", setting.as_str()]);
    }
    android.run()?;
    Step::new(
        &format!("type-check the pure crates for iOS ({IOS})"),
        "cargo",
    )
    .args([
        "check",
        "--locked",
        "--target",
        IOS,
        "--package",
        "companion-model",
        "--package",
        "companion-awsiot",
        "--package",
        "companion-espprov",
    ])
    .run()
}
