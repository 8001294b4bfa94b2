//! Harnesses for the workspace's end-to-end tests.
//!
//! [`window`] starts a private X server, `tauri-driver` and the built app, and hands the test a
//! WebDriver client on the app's real window. Every process it starts is stopped when the
//! harness is dropped, also when the test fails.

pub mod process;
pub mod window;
