//! Shared by the CLI's suites: start `companion sandbox --json` on free loopback ports with a
//! data directory of its own, and run the built `companion` against it.

#![allow(dead_code, reason = "each suite uses its own part of these helpers")]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const COMPANION: &str = env!("CARGO_BIN_EXE_companion");

/// A running `companion sandbox`; killed, and its data directory removed, when dropped.
pub struct Running {
    pub child: Child,
    pub endpoints: serde_json::Value,
    pub data_dir: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

pub fn free_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// A directory unique to this test process and `name`, absent.
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("companion-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Starts `companion sandbox --json` and waits for the line announcing its endpoints.
pub fn start(name: &str) -> Running {
    start_with(name, &[])
}

/// [`start`] with more `companion sandbox` arguments, e.g. `--devices 1`.
pub fn start_with(name: &str, extra: &[&str]) -> Running {
    start_in(fresh_dir(name), extra)
}

/// [`start_with`] in the data directory `data_dir` (removed when the sandbox is dropped).
pub fn start_in(data_dir: PathBuf, extra: &[&str]) -> Running {
    let mut child = Command::new(COMPANION)
        .args([
            "sandbox",
            "--json",
            "--plain",
            &free_address(),
            "--mtls",
            &free_address(),
        ])
        .args(extra)
        .arg("--data-dir")
        .arg(&data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("companion starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let endpoints =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
    Running {
        child,
        endpoints,
        data_dir,
    }
}

/// Runs `companion args…` against the sandbox whose data directory is `data_dir`, with a CLI
/// data directory of its own (no saved profile of the machine's user gets in the way).
pub fn companion(args: &[&str], data_dir: &Path) -> Output {
    Command::new(COMPANION)
        .args(args)
        .env("COMPANION_SANDBOX_DIR", data_dir)
        .env("COMPANION_DATA_DIR", data_dir.join("cli"))
        .output()
        .unwrap()
}

/// Runs `command` with `stdin` on its standard input (then closed) and collects its output.
pub fn output_with_stdin(mut command: Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("companion starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}
