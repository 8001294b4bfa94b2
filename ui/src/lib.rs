//! The IoT Companion user interface.
//!
//! `app` holds the root component and the frame (navigation, status bar); `pages/` one module per
//! page; `components/` one component per file; `hooks/` one hook per file; `state` the pure
//! reducer the frame runs on; `ipc` the only module that talks to the backend.

pub mod app;
pub mod components;
pub mod hooks;
pub mod ipc;
pub mod pages;
pub mod provisioning;
pub mod state;
pub mod theme;
pub mod workbench;

/// Mounts the app on the document body. Called once by the wasm entry point.
pub fn start() {
    yew::Renderer::<app::App>::new().render();
}
