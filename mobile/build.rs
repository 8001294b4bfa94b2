//! Declares the plugin to Tauri: its Android library and Swift package, which the app's
//! Gradle and Xcode builds compile in. The plugin has no webview commands: the app calls it
//! from Rust.

fn main() {
    tauri_plugin::Builder::new(&[])
        .android_path("android")
        .ios_path("ios")
        .build();
}
