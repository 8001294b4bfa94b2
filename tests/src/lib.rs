//! Harnesses for the workspace's end-to-end and interop tests.
//!
//! [`mosquitto`] runs a Mosquitto broker for one test; [`python`] provides AWS's IoT Device SDK
//! for Python in a virtual environment.
//!
//! [`window`] starts a private X server, `tauri-driver` and the built app, and hands the test a
//! WebDriver client on the app's real window. Every process it starts is stopped when the
//! harness is dropped, also when the test fails.

pub mod mosquitto;
pub mod process;
pub mod python;
pub mod window;
