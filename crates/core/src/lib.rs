//! The engine of IoT Companion.
//!
//! `companion-core` holds everything the app does that is not drawing pixels: today the vault
//! (secrets in the OS keyring); the cloud session, shadows, telemetry and fleet registry follow.
//! It knows nothing of Tauri or wasm: the Tauri shell and the CLI call into it, and its types are
//! converted to `companion-model` DTOs at that edge.

#![warn(missing_docs)]

pub mod vault;
