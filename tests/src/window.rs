//! The app's real window under WebDriver: Xvfb → tauri-driver → WebKitWebDriver → the app.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::process::{Guarded, TempDir, require_program};

/// The app's bundle identifier; its data lives in `$XDG_DATA_HOME/<identifier>`.
pub const IDENTIFIER: &str = "dev.iotcompanion.companion";

/// How long anything in the window may take to appear.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A running app window and everything started to drive it.
#[derive(Debug)]
pub struct AppWindow {
    /// The WebDriver session on the app's webview.
    pub client: Client,
    artifacts: PathBuf,
    data_home: PathBuf,
    // Dropped in this order: the driver (and with it the app) before the X server.
    _driver: Guarded,
    _xvfb: Guarded,
    _home: TempDir,
}

impl AppWindow {
    /// Starts a private X server, tauri-driver and the built app, with the app's data in a
    /// fresh directory, and waits for the WebDriver session.
    pub async fn launch() -> Result<Self, String> {
        Self::launch_with(&[]).await
    }

    /// Starts the app as [`AppWindow::launch`] does, with extra environment variables (for
    /// example `COMPANION_SANDBOX_DEVICES`).
    pub async fn launch_with(env: &[(&str, &str)]) -> Result<Self, String> {
        let app = app_binary()?;
        let xvfb_path = require_program("Xvfb", "Debian package xvfb")?;
        let driver_path = require_program("tauri-driver", "cargo install tauri-driver@2.1.0")?;
        require_program("WebKitWebDriver", "Debian package webkit2gtk-driver")?;
        let artifacts = artifacts_dir()?;
        let home = TempDir::new("companion-e2e")?;

        let (xvfb, display) = start_xvfb(&xvfb_path, &artifacts)?;
        let (port, native_port) = (free_port()?, free_port()?);
        let mut driver = start_driver(
            &driver_path,
            &display,
            port,
            native_port,
            home.path(),
            &artifacts,
            env,
        )?;
        wait_for_port(port, &mut driver).await?;

        let capabilities = json!({
            "browserName": "wry",
            "tauri:options": { "application": app.display().to_string() }
        });
        let capabilities = match capabilities {
            serde_json::Value::Object(map) => map,
            _ => unreachable!("a JSON object literal"),
        };
        let client = ClientBuilder::native()
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .map_err(|error| {
                format!(
                    "cannot open a WebDriver session on {}: {error} (see {})",
                    app.display(),
                    artifacts.join("tauri-driver.log").display()
                )
            })?;
        Ok(Self {
            client,
            artifacts,
            data_home: home.path().join("data"),
            _driver: driver,
            _xvfb: xvfb,
            _home: home,
        })
    }

    /// Resident memory of the app and the WebKit processes it started (everything that runs
    /// with this window's private data directory, except tauri-driver and WebKitWebDriver), in
    /// KiB, with the number of processes counted.
    pub fn process_tree_rss_kib(&self) -> (u64, usize) {
        let marker = format!("XDG_DATA_HOME={}", self.data_home.display());
        let mut total = 0;
        let mut count = 0;
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return (0, 0);
        };
        for entry in entries.filter_map(Result::ok) {
            let dir = entry.path();
            let Ok(environ) = std::fs::read(dir.join("environ")) else {
                continue;
            };
            let ours = environ
                .split(|b| *b == 0)
                .any(|var| var == marker.as_bytes());
            let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            if !ours || comm.starts_with("tauri-driver") || comm.starts_with("WebKitWebDriver") {
                continue;
            }
            let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
            let rss = status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
            if let Some(rss) = rss {
                total += rss;
                count += 1;
            }
        }
        (total, count)
    }

    /// Where the app keeps its data in this run.
    pub fn expected_data_dir(&self) -> PathBuf {
        self.data_home.join(IDENTIFIER)
    }

    /// Saves a PNG of the window as `<target>/e2e/<name>.png` and returns its path.
    ///
    /// Waits for running CSS transitions to finish and for a painted frame first, so the
    /// picture shows the settled state.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf, String> {
        self.wait_for_value("document.getAnimations().length", json!(0))
            .await?;
        // Two animation frames: the last DOM change is painted before the picture is taken.
        let painted = "const done = arguments[arguments.length - 1]; \
                       requestAnimationFrame(() => requestAnimationFrame(() => done(true)));";
        self.client
            .execute_async(painted, vec![])
            .await
            .map_err(|error| format!("waiting for a painted frame: {error}"))?;
        let png = self
            .client
            .screenshot()
            .await
            .map_err(|error| format!("screenshot {name}: {error}"))?;
        let path = self.artifacts.join(format!("{name}.png"));
        std::fs::write(&path, png).map_err(|error| format!("write {}: {error}", path.display()))?;
        Ok(path)
    }

    /// Waits until `selector` matches an element, and returns it.
    pub async fn find(&self, selector: &str) -> Result<fantoccini::elements::Element, String> {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(selector))
            .await
            .map_err(|error| format!("`{selector}` never appeared: {error}"))
    }

    /// Waits until the JavaScript expression `script` returns `expected`; returns the last
    /// value seen in the error when it never does.
    pub async fn wait_for_value(
        &self,
        script: &str,
        expected: serde_json::Value,
    ) -> Result<(), String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let value = self
                .client
                .execute(&format!("return ({script});"), vec![])
                .await
                .map_err(|error| format!("evaluating `{script}`: {error}"))?;
            if value == expected {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("`{script}` is {value}, expected {expected}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Evaluates a JavaScript expression in the page.
    pub async fn eval(&self, script: &str) -> Result<serde_json::Value, String> {
        self.client
            .execute(&format!("return ({script});"), vec![])
            .await
            .map_err(|error| format!("evaluating `{script}`: {error}"))
    }

    /// Saves a screenshot and the page's HTML as `failure.png` and `failure.html`, for a
    /// failed test to be diagnosed afterwards. Best effort: the window may be gone.
    pub async fn save_failure_evidence(&self) {
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(self.artifacts.join("failure.png"), png);
        }
        if let Ok(html) = self.client.source().await {
            let _ = std::fs::write(self.artifacts.join("failure.html"), html);
        }
    }

    /// Ends the WebDriver session, which closes the app.
    pub async fn close(self) {
        // The session may already be gone if the app crashed; dropping the guards cleans up.
        let _ = self.client.clone().close().await;
    }
}

/// The app binary under test: `COMPANION_APP_BIN`, or `iot-companion` next to this test's
/// own build directory (so a shared `CARGO_TARGET_DIR` works).
fn app_binary() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("COMPANION_APP_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().map_err(|error| format!("current_exe: {error}"))?;
    // <target>/debug/deps/<test binary>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("unexpected test binary path")?;
    let app = profile_dir.join("iot-companion");
    if app.is_file() {
        Ok(app)
    } else {
        Err(format!(
            "the app is not built at {}: run `cargo build -p iot-companion` first (`cargo xtask test` does)",
            app.display()
        ))
    }
}

/// `<target>/e2e`, where screenshots and logs go.
fn artifacts_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|error| format!("current_exe: {error}"))?;
    let target = exe
        .ancestors()
        .nth(3)
        .ok_or("unexpected test binary path")?;
    let dir = target.join("e2e");
    std::fs::create_dir_all(&dir).map_err(|error| format!("create {}: {error}", dir.display()))?;
    Ok(dir)
}

fn log_file(artifacts: &Path, name: &str) -> Result<Stdio, String> {
    let path = artifacts.join(name);
    std::fs::File::create(&path)
        .map(Stdio::from)
        .map_err(|error| format!("create {}: {error}", path.display()))
}

/// Starts Xvfb on the first free display, which it reports on its standard output.
fn start_xvfb(program: &Path, artifacts: &Path) -> Result<(Guarded, String), String> {
    let mut xvfb = Guarded::spawn(
        "Xvfb",
        Command::new(program)
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x900x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(log_file(artifacts, "xvfb.log")?),
    )?;
    let stdout = xvfb.stdout().ok_or("Xvfb's output is not piped")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|error| format!("reading Xvfb's display number: {error}"))?;
    let number: u32 = line.trim().parse().map_err(|_| {
        format!(
            "Xvfb did not report a display (said {line:?}); see {}",
            artifacts.join("xvfb.log").display()
        )
    })?;
    Ok((xvfb, format!(":{number}")))
}

fn start_driver(
    program: &Path,
    display: &str,
    port: u16,
    native_port: u16,
    home: &Path,
    artifacts: &Path,
    env: &[(&str, &str)],
) -> Result<Guarded, String> {
    Guarded::spawn(
        "tauri-driver",
        Command::new(program)
            .envs(env.iter().copied())
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            .env("DISPLAY", display)
            .env_remove("WAYLAND_DISPLAY")
            .env("GDK_BACKEND", "x11")
            .env("NO_AT_BRIDGE", "1")
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            .stdout(log_file(artifacts, "tauri-driver.out.log")?)
            .stderr(log_file(artifacts, "tauri-driver.log")?),
    )
}

/// A port the OS says is free right now.
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|error| format!("no free port on 127.0.0.1: {error}"))
}

async fn wait_for_port(port: u16, driver: &mut Guarded) -> Result<(), String> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        driver.ensure_running()?;
        if Instant::now() > deadline {
            return Err(format!(
                "tauri-driver did not listen on port {port} within {PATIENCE:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
