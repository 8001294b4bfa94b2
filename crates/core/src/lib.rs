//! The engine of IoT Companion.
//!
//! `companion-core` holds everything the app does that is not drawing pixels: the [`vault`]
//! (secrets in the OS keyring), connection profiles ([`profile`], saved in [`profiles`]), the
//! MQTT [`session`] and the connection [`doctor`], Device [`shadows`] with an offline outbox,
//! [`telemetry`] and the fleet [`registry`] on the SQLite [`store`], and the `engine` the app
//! runs (the local sandbox and a session to it).
//! It knows nothing of Tauri or wasm: the Tauri shell and the CLI call into it, and its types are
//! converted to `companion-model` DTOs at that edge.

#![warn(missing_docs)]

pub mod activity;
pub mod doctor;
#[cfg(feature = "local-sandbox")]
pub mod engine;
pub mod profile;
pub mod profiles;
pub mod provision;
pub mod registry;
pub mod session;
pub mod shadows;
pub mod store;
pub mod telemetry;
pub mod vault;
