//! What can be checked here of code that only runs on a phone: that the Rust, Kotlin and Swift
//! halves agree on names, that the generated projects declare what the plugin asks for, and that
//! btleplug's Java classes are those of the btleplug in `Cargo.lock`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::BlePermissionState;
use crate::models::PermissionReply;

const KOTLIN_PLUGIN: &str =
    "android/src/main/java/dev/iotcompanion/mobile/CompanionMobilePlugin.kt";
const SWIFT_PLUGIN: &str = "ios/Sources/CompanionMobilePlugin.swift";
const ANDROID_MANIFEST: &str = "src-tauri/gen/android/app/src/main/AndroidManifest.xml";
const IOS_INFO_PLIST: &str = "src-tauri/gen/apple/iot-companion_iOS/Info.plist";
const IOS_INFO_PLIST_MERGED: &str = "src-tauri/Info.ios.plist";

const STATES: [(BlePermissionState, &str); 4] = [
    (BlePermissionState::Granted, "granted"),
    (BlePermissionState::Prompt, "prompt"),
    (BlePermissionState::Denied, "denied"),
    (BlePermissionState::PermanentlyDenied, "permanently-denied"),
];

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn workspace_dir() -> &'static Path {
    crate_dir()
        .parent()
        .expect("mobile/ is inside the workspace")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn read_crate(path: &str) -> String {
    read(&crate_dir().join(path))
}

fn read_workspace(path: &str) -> String {
    read(&workspace_dir().join(path))
}

/// The quoted state names a platform file resolves with.
fn states_used_in(source: &str) -> Vec<&'static str> {
    STATES
        .iter()
        .map(|(_, name)| *name)
        .filter(|name| source.contains(&format!("\"{name}\"")))
        .collect()
}

#[test]
fn states_cross_the_bridge_under_the_platform_names() {
    for (state, name) in STATES {
        assert_eq!(serde_json::to_value(state).unwrap(), name);
        let reply: PermissionReply =
            serde_json::from_str(&format!(r#"{{"state":"{name}"}}"#)).unwrap();
        assert_eq!(reply.state, state);
    }
    assert!(serde_json::from_str::<PermissionReply>(r#"{"state":"maybe"}"#).is_err());
    assert!(BlePermissionState::Granted.is_granted());
    assert!(BlePermissionState::PermanentlyDenied.needs_settings());
    assert!(!BlePermissionState::Denied.needs_settings());
}

#[test]
fn kotlin_and_swift_answer_with_the_rust_names() {
    let kotlin = read_crate(KOTLIN_PLUGIN);
    assert_eq!(
        states_used_in(&kotlin),
        ["granted", "prompt", "denied", "permanently-denied"]
    );
    // iOS never asks twice: a refusal is final there, so it never answers plain "denied".
    let swift = read_crate(SWIFT_PLUGIN);
    assert_eq!(
        states_used_in(&swift),
        ["granted", "prompt", "permanently-denied"]
    );
    for source in [&kotlin, &swift] {
        assert!(
            source.contains(r#""state""#),
            "replies carry a `state` field"
        );
    }
}

#[test]
fn rust_calls_what_kotlin_and_swift_define() {
    let rust = read_crate("src/mobile.rs");
    let kotlin = read_crate(KOTLIN_PLUGIN);
    let swift = read_crate(SWIFT_PLUGIN);
    for command in [
        "checkBlePermissions",
        "requestBlePermissions",
        "openAppSettings",
    ] {
        assert!(
            rust.contains(&format!("\"{command}\"")),
            "Rust calls {command}"
        );
        assert!(
            kotlin.contains(&format!("@Command\n    fun {command}(invoke: Invoke)")),
            "Kotlin defines {command}"
        );
        assert!(
            swift.contains(&format!("@objc public func {command}(_ invoke: Invoke)")),
            "Swift defines {command}"
        );
    }
    // Where Rust registers the Kotlin class and finds the Swift initialiser.
    assert!(rust.contains(r#"ANDROID_PACKAGE: &str = "dev.iotcompanion.mobile""#));
    assert!(rust.contains(r#"ANDROID_CLASS: &str = "CompanionMobilePlugin""#));
    assert!(kotlin.starts_with("package dev.iotcompanion.mobile\n"));
    assert!(kotlin.contains("class CompanionMobilePlugin(private val activity: Activity)"));
    assert!(rust.contains("ios_plugin_binding!(init_plugin_companion_mobile)"));
    assert!(swift.contains(r#"@_cdecl("init_plugin_companion_mobile")"#));
    // tauri-plugin's build script links the Swift product named after the Cargo package.
    let package = read_crate("ios/Package.swift");
    let name = env!("CARGO_PKG_NAME");
    for declaration in [
        format!("let package = Package(\n    name: \"{name}\","),
        format!(".library(\n            name: \"{name}\","),
        format!("targets: [\"{name}\"]"),
        format!(".target(\n            name: \"{name}\","),
    ] {
        assert!(
            package.contains(&declaration),
            "Package.swift: {declaration}"
        );
    }
    // The JNI name of Kotlin's native method is the one Rust exports.
    let android = read_crate("src/android.rs");
    assert!(kotlin.contains("private external fun initBtleplug(): String?"));
    assert!(
        android.contains(r#"#[jni::jni_mangle("dev.iotcompanion.mobile.CompanionMobilePlugin")]"#)
    );
    assert!(android.contains("pub fn init_btleplug<'local>("));
}

/// Each `<uses-permission>` of the app's manifest, by name, with its element's text.
fn declared_permissions(manifest: &str) -> BTreeMap<String, String> {
    manifest
        .split("<uses-permission")
        .skip(1)
        .map(|rest| {
            let element = &rest[..rest.find("/>").expect("a self-closing element")];
            let name = element
                .split("android:name=\"")
                .nth(1)
                .and_then(|value| value.split('"').next())
                .expect("a permission name");
            (name.to_owned(), element.to_owned())
        })
        .collect()
}

#[test]
fn the_android_manifest_declares_what_the_plugin_requests() {
    let permissions = declared_permissions(&read_workspace(ANDROID_MANIFEST));
    let element = |name: &str| {
        permissions
            .get(&format!("android.permission.{name}"))
            .unwrap_or_else(|| panic!("{name} is not declared"))
    };
    assert!(
        element("BLUETOOTH_SCAN").contains(r#"android:usesPermissionFlags="neverForLocation""#)
    );
    assert!(!element("BLUETOOTH_CONNECT").contains("maxSdkVersion"));
    for legacy in [
        "BLUETOOTH",
        "BLUETOOTH_ADMIN",
        "ACCESS_FINE_LOCATION",
        "ACCESS_COARSE_LOCATION",
    ] {
        assert!(
            element(legacy).contains(r#"android:maxSdkVersion="30""#),
            "{legacy} is for Android 11 and older only"
        );
    }
    for plain in ["INTERNET", "ACCESS_WIFI_STATE", "CHANGE_WIFI_STATE"] {
        assert!(!element(plain).contains("maxSdkVersion"));
    }
    // Every permission the Kotlin plugin requests at run time is declared: Tauri rejects a
    // request for an undeclared one.
    let kotlin = read_crate(KOTLIN_PLUGIN);
    for requested in kotlin.split("Manifest.permission.").skip(1) {
        let name: String = requested
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || *c == '_')
            .collect();
        element(&name);
    }
}

#[test]
fn the_ios_info_plists_explain_bluetooth_and_the_local_network() {
    for path in [IOS_INFO_PLIST_MERGED, IOS_INFO_PLIST] {
        let plist = read_workspace(path);
        for key in [
            "NSBluetoothAlwaysUsageDescription",
            "NSLocalNetworkUsageDescription",
        ] {
            assert!(
                plist.contains(&format!("<key>{key}</key>")),
                "{path} lacks {key}"
            );
        }
        // No QR scanner yet: asking for the camera without using it gets an app rejected.
        assert!(
            !plist.contains("<key>NSCameraUsageDescription</key>"),
            "{path}"
        );
    }
}

#[test]
fn the_generated_projects_carry_the_app_identity() {
    let config: serde_json::Value =
        serde_json::from_str(&read_workspace("src-tauri/tauri.conf.json")).unwrap();
    let identifier = config["identifier"].as_str().unwrap();
    let product = config["productName"].as_str().unwrap();

    let gradle = read_workspace("src-tauri/gen/android/app/build.gradle.kts");
    assert!(gradle.contains(&format!(r#"applicationId = "{identifier}""#)));
    let strings = read_workspace("src-tauri/gen/android/app/src/main/res/values/strings.xml");
    assert!(strings.contains(&format!(r#"<string name="app_name">"{product}"</string>"#)));
    let activity = format!(
        "src-tauri/gen/android/app/src/main/java/{}/MainActivity.kt",
        identifier.replace('.', "/")
    );
    assert!(read_workspace(&activity).starts_with(&format!("package {identifier}\n")));

    let project = read_workspace("src-tauri/gen/apple/project.yml");
    assert!(project.contains(&format!("PRODUCT_BUNDLE_IDENTIFIER: {identifier}\n")));
    assert!(project.contains(&format!("PRODUCT_NAME: {product}\n")));

    // The launcher icons are the app's (icons/, made by `tauri icon` from icons/icon.svg).
    let icons = workspace_dir().join("icons");
    let res = workspace_dir().join("src-tauri/gen/android/app/src/main/res");
    for density in ["mdpi", "hdpi", "xhdpi", "xxhdpi", "xxxhdpi"] {
        for file in [
            "ic_launcher.png",
            "ic_launcher_round.png",
            "ic_launcher_foreground.png",
        ] {
            let path = format!("mipmap-{density}/{file}");
            assert_eq!(
                std::fs::read(icons.join("android").join(&path)).unwrap(),
                std::fs::read(res.join(&path)).unwrap(),
                "{path}"
            );
        }
    }
    let appicons = workspace_dir().join("src-tauri/gen/apple/Assets.xcassets/AppIcon.appiconset");
    for entry in std::fs::read_dir(icons.join("ios")).unwrap() {
        let entry = entry.unwrap();
        assert_eq!(
            std::fs::read(entry.path()).unwrap(),
            std::fs::read(appicons.join(entry.file_name())).unwrap(),
            "{:?}",
            entry.file_name()
        );
    }
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    files.sort();
    files
}

#[test]
fn droidplug_java_matches_the_locked_btleplug() {
    // Where cargo keeps the btleplug that Cargo.lock names (an Android-only dependency, so it
    // is found through the metadata of every platform).
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(workspace_dir())
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let btleplug = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|package| package["name"] == "btleplug")
        .expect("btleplug is in Cargo.lock");
    let manifest = Path::new(btleplug["manifest_path"].as_str().unwrap());
    let upstream = manifest
        .parent()
        .unwrap()
        .join("src/droidplug/java/src/main/java");
    let vendored = crate_dir().join("android/droidplug/java");

    let files = files_under(&upstream);
    assert_eq!(files, files_under(&vendored), "the same files");
    assert!(files.len() > 20, "{upstream:?} holds btleplug's classes");
    for file in files {
        assert!(
            std::fs::read(upstream.join(&file)).unwrap()
                == std::fs::read(vendored.join(&file)).unwrap(),
            "{} differs from btleplug {}: copy it again (android/droidplug/README.md)",
            file.display(),
            btleplug["version"]
        );
    }
}
