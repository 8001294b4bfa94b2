//! `cargo xtask`: the project's tasks, so that the README's two commands do everything on a
//! fresh machine, including installing what the build needs.
//!
//! - `setup`: install system packages, the wasm target and the build tools (idempotent).
//! - `ui [--release]`: build the Yew UI into `ui/dist` with Trunk.
//! - `run`: set up, build the UI, and run the app (under `xvfb-run` when there is no display).
//! - `test`: set up, then rustfmt, clippy, the Android and iOS type-check (`mobile`), every
//!   test including the real-window end-to-end test, and the release build of the UI.

// A task runner reports to its terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod mobile;
mod setup;
mod steps;

use std::process::ExitCode;

use setup::Needs;
use steps::{Step, TaskError};

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  setup          install what building, running and testing need (idempotent)
  ui [--release] build the UI into ui/dist
  run            set up, build the UI and run the app (under xvfb-run when headless)
  test           set up, then rustfmt, clippy, the Android/iOS type-check, all tests (with
                 the end-to-end window test) and the release UI build
  help           this text";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["setup"] => setup::run(Needs::Test),
        ["ui"] => steps::build_ui(false).map(drop),
        ["ui", "--release"] => steps::build_ui(true).map(drop),
        ["run"] => run_app(),
        ["test"] => test_all(),
        ["help" | "--help" | "-h"] | [] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(TaskError::Usage(format!(
            "unknown task {args:?}\n\n{USAGE}"
        ))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("\nxtask: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run_app() -> Result<(), TaskError> {
    setup::run(Needs::Run)?;
    steps::build_ui(false)?;
    let headless =
        std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none();
    let mut step = if headless {
        println!("No display found: running the app inside a virtual X server (xvfb-run -a).");
        Step::new("run the app", "xvfb-run").args(["-a", "cargo"])
    } else {
        Step::new("run the app", "cargo")
    };
    step = step.args(["run", "--package", "iot-companion"]);
    step.run()
}

fn test_all() -> Result<(), TaskError> {
    setup::run(Needs::Test)?;
    Step::new("check formatting", "cargo")
        .args(["fmt", "--all", "--", "--check"])
        .run()?;
    steps::build_ui(false)?;
    Step::new("clippy", "cargo")
        .args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ])
        .run()?;
    mobile::check()?;
    // The end-to-end test drives this binary, so it must be current before the tests run.
    Step::new("build the app", "cargo")
        .args(["build", "--package", "iot-companion", "--locked"])
        .run()?;
    Step::new("all tests", "cargo")
        .args(["test", "--workspace", "--locked"])
        .run()?;
    let wasm = steps::build_ui(true)?;
    println!("\nAll checks passed. Release UI: {}", wasm.describe());
    Ok(())
}
