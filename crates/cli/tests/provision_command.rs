//! `companion ble scan` without a system bus, and `companion provision --transport softap`
//! against a local HTTP server playing the device: companion-espprov's device role behind
//! POST `/<endpoint>`, as ESP-IDF's `protocomm_httpd.c` serves it.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on the first surprise"
)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use common::{COMPANION, fresh_dir, output_with_stdin};
use companion_espprov::endpoint::{PROTO_VER, PROV_CONFIG, PROV_SCAN, PROV_SESSION};
use companion_espprov::proto::wifi_constants::WifiAuthMode;
use companion_espprov::wifi::config::{
    ConfigRequest, ConfigResponse, ConnectedInfo, FailReason, StationStatus, WifiCredentials,
};
use companion_espprov::wifi::scan::{AccessPoint, ScanRequest, ScanResponse};
use companion_espprov::{DeviceSecurity, DeviceSession, Pop};

const POP: &str = "abcd1234";
const SSID: &str = "workshop-2g";
const PASSPHRASE: &str = "correct horse battery";

/// The firmware: protocomm's endpoints over one session.
struct EspDevice {
    session: DeviceSession,
    networks: Vec<AccessPoint>,
    credentials: Option<WifiCredentials>,
    applied: bool,
}

impl EspDevice {
    fn sec1() -> Self {
        let networks = [SSID, "neighbour"]
            .iter()
            .enumerate()
            .map(|(i, ssid)| AccessPoint {
                ssid: ssid.as_bytes().to_vec(),
                channel: 1 + i as u32,
                rssi: -40 - 10 * i as i32,
                bssid: vec![0x24, 0x0a, 0xc4, 0, 0, i as u8],
                auth: WifiAuthMode::Wpa2Psk.into(),
            })
            .collect();
        Self {
            session: DeviceSession::new(DeviceSecurity::Sec1 {
                pop: Pop::from(POP),
            }),
            networks,
            credentials: None,
            applied: false,
        }
    }

    /// One request; an error is a failed handler (the socket closes without an answer).
    fn handle(&mut self, endpoint: &str, request: &[u8]) -> Result<Vec<u8>, String> {
        match endpoint {
            PROTO_VER => Ok(self.session.version_info(&["wifi_scan"]).to_json()),
            PROV_SESSION => self
                .session
                .handle_request(request, &mut rand::rng())
                .map_err(|e| e.to_string()),
            PROV_SCAN => {
                let plain = self.session.decrypt(request).map_err(|e| e.to_string())?;
                let answer = match ScanRequest::decode(&plain).map_err(|e| e.to_string())? {
                    ScanRequest::Start(_) => ScanResponse::Started,
                    ScanRequest::Status => ScanResponse::Status {
                        finished: true,
                        result_count: self.networks.len() as u32,
                    },
                    ScanRequest::Results { start_index, count } => {
                        let from = (start_index as usize).min(self.networks.len());
                        let to = (from + count as usize).min(self.networks.len());
                        ScanResponse::Results(self.networks[from..to].to_vec())
                    }
                };
                self.session
                    .encrypt(&answer.encode())
                    .map_err(|e| e.to_string())
            }
            PROV_CONFIG => {
                let plain = self.session.decrypt(request).map_err(|e| e.to_string())?;
                let answer = match ConfigRequest::decode(&plain).map_err(|e| e.to_string())? {
                    ConfigRequest::SetConfig(credentials) => {
                        self.credentials = Some(credentials);
                        ConfigResponse::ConfigSet
                    }
                    ConfigRequest::ApplyConfig => {
                        self.applied = true;
                        ConfigResponse::ConfigApplied
                    }
                    ConfigRequest::GetStatus => ConfigResponse::Status(self.station()),
                };
                self.session
                    .encrypt(&answer.encode())
                    .map_err(|e| e.to_string())
            }
            other => Err(format!("no endpoint {other}")),
        }
    }

    fn station(&self) -> StationStatus {
        let Some(credentials) = self.credentials.as_ref().filter(|_| self.applied) else {
            return StationStatus::Disconnected;
        };
        let right = credentials.ssid == SSID.as_bytes()
            && credentials.passphrase.expose() == PASSPHRASE.as_bytes();
        if right {
            StationStatus::Connected(ConnectedInfo {
                ip4_addr: "10.20.30.40".into(),
                auth_mode: WifiAuthMode::Wpa2Psk.into(),
                ssid: SSID.as_bytes().to_vec(),
                bssid: vec![0x24, 0x0a, 0xc4, 0, 0, 0],
                channel: 1,
            })
        } else {
            StationStatus::Failed(FailReason::AuthError)
        }
    }
}

/// An HTTP/1.1 server on 127.0.0.1 in front of one [`EspDevice`], on a thread of its own.
struct HttpDevice {
    address: String,
}

impl HttpDevice {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let device = Arc::new(Mutex::new(EspDevice::sec1()));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let device = device.clone();
                std::thread::spawn(move || serve(stream, &device));
            }
        });
        Self { address }
    }
}

/// Answers requests on one connection until it closes or a handler fails.
fn serve(stream: TcpStream, device: &Mutex<EspDevice>) {
    serve_with(stream, |endpoint, body| {
        device.lock().unwrap().handle(endpoint, body)
    });
}

/// Answers requests on one connection with `handle(endpoint, body)` until it closes or a
/// handler fails.
fn serve_with(stream: TcpStream, mut handle: impl FnMut(&str, &[u8]) -> Result<Vec<u8>, String>) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .trim_start_matches('/')
            .to_owned();
        let mut length = 0;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let answer = handle(&path, &body);
        let Ok(answer) = answer else {
            // protocomm_httpd: a failed handler closes the socket without answering.
            return;
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: session=1\r\nContent-Length: {}\r\n\r\n",
            answer.len()
        );
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(&answer).is_err() {
            return;
        }
    }
}

/// Runs `companion args…` with `stdin` on standard input and a data directory of its own.
fn companion(args: &[&str], stdin: &str, data_dir: &Path) -> Output {
    let mut command = Command::new(COMPANION);
    command.args(args).env("COMPANION_DATA_DIR", data_dir);
    output_with_stdin(command, stdin)
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn ble_scan_without_a_system_bus_exits_3_and_names_the_cause() {
    let output = Command::new(COMPANION)
        .args(["ble", "scan", "--window", "1"])
        .env("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(3), "{stdout}{stderr}");
    assert!(stderr.contains("Bluetooth"), "{stderr}");
    assert!(stderr.contains("D-Bus system bus"), "{stderr}");
}

#[test]
fn softap_provisioning_passes_every_step_and_keeps_the_password_to_itself() {
    let device = HttpDevice::start();
    let data_dir = fresh_dir("provision-softap");
    let url = format!("http://{}", device.address);
    let output = companion(
        &[
            "provision",
            "--transport",
            "softap",
            "--device",
            &url,
            "--pop",
            POP,
            "--ssid",
            SSID,
            "--wifi-password-stdin",
            "--wifi-only",
        ],
        &format!("{PASSPHRASE}\n"),
        &data_dir,
    );
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    for step in [
        "connect",
        "version",
        "session",
        "wifi_scan",
        "wifi_config",
        "wifi_apply",
        "wifi_status",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(&format!("✓ {step} "))),
            "{step} passed:\n{stdout}"
        );
    }
    assert!(stdout.contains("Protocol v1.1, security 1"), "{stdout}");
    assert!(stdout.contains("10.20.30.40"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("– credentials ")),
        "{stdout}"
    );
    assert!(
        stdout
            .trim_end()
            .ends_with("(no AWS IoT identity was delivered)."),
        "{stdout}"
    );
    assert!(!stdout.contains(PASSPHRASE) && !stderr.contains(PASSPHRASE));
    // The attempt is in the CLI's audit.
    assert!(data_dir.join("companion.db").exists());
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn softap_provisioning_with_json_ends_with_the_outcome() {
    let device = HttpDevice::start();
    let data_dir = fresh_dir("provision-json");
    let output = companion(
        &[
            "provision",
            "--transport",
            "softap",
            "--device",
            &device.address,
            "--qr",
            &format!(r#"{{"ver":"v1","name":"PROV_TEST","pop":"{POP}","transport":"softap"}}"#),
            "--ssid",
            SSID,
            "--wifi-password-stdin",
            "--wifi-only",
            "--json",
        ],
        &format!("{PASSPHRASE}\n"),
        &data_dir,
    );
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let last = lines.last().unwrap();
    assert_eq!(last["outcome"], "wifi_only", "{stdout}");
    assert!(
        lines
            .iter()
            .any(|l| l["step"] == "wifi_status" && l["state"] == "passed"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn a_wrong_pop_is_refused_with_exit_4() {
    let device = HttpDevice::start();
    let data_dir = fresh_dir("provision-wrong-pop");
    let output = companion(
        &[
            "provision",
            "--transport",
            "softap",
            "--device",
            &device.address,
            "--pop-stdin",
            "--ssid",
            SSID,
            "--wifi-password-stdin",
            "--wifi-only",
        ],
        &format!("wrong-pop\n{PASSPHRASE}\n"),
        &data_dir,
    );
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(4), "{stdout}{stderr}");
    assert!(stdout.contains("✕ session"), "{stdout}");
    assert!(!stdout.contains("✓ wifi_config"), "{stdout}");
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn a_wrong_wifi_password_fails_at_the_station_status() {
    let device = HttpDevice::start();
    let data_dir = fresh_dir("provision-wrong-wifi");
    let output = companion(
        &[
            "provision",
            "--transport",
            "softap",
            "--device",
            &device.address,
            "--pop",
            POP,
            "--ssid",
            SSID,
            "--wifi-password-stdin",
            "--wifi-only",
        ],
        "not the password\n",
        &data_dir,
    );
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("✕ wifi_status"), "{stdout}");
    assert!(!stdout.contains("not the password") && !stderr.contains("not the password"));
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// A simulated device of companion-sandbox (with the `aws-iot` credential endpoint, and
/// firmware that connects to the broker it is given) behind the same kind of HTTP server: each
/// request is an exchange on one radio link.
struct SimulatedHttpDevice {
    address: String,
    _runtime: tokio::runtime::Runtime,
}

impl SimulatedHttpDevice {
    fn start() -> Self {
        use companion_sandbox::devices::DeviceKind;
        use companion_sandbox::radio::{
            DeviceSpec, Network, RadioConfig, SecuritySpec, SimulatedRadio,
        };
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let radio = SimulatedRadio::new(RadioConfig::default());
        let label = radio
            .add_device(
                DeviceSpec::new("SN-CLI-0001", DeviceKind::Plug, SecuritySpec::sec1(POP))
                    .with_network(Network::wpa2(SSID, PASSPHRASE)),
            )
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let handle = runtime.handle().clone();
        let link = Arc::new(Mutex::new(None));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let (radio, id, handle, link) = (
                    radio.clone(),
                    label.id.clone(),
                    handle.clone(),
                    link.clone(),
                );
                std::thread::spawn(move || {
                    serve_with(stream, |endpoint, body| {
                        handle.block_on(async {
                            let open = link.lock().unwrap().clone();
                            let current = match open {
                                Some(current) => current,
                                None => {
                                    let opened = Arc::new(
                                        radio.connect(&id).await.map_err(|e| e.to_string())?,
                                    );
                                    *link.lock().unwrap() = Some(opened.clone());
                                    opened
                                }
                            };
                            current
                                .exchange(endpoint, body.to_vec())
                                .await
                                .map_err(|e| e.to_string())
                        })
                    });
                });
            }
        });
        Self {
            address,
            _runtime: runtime,
        }
    }
}

#[test]
fn softap_provisioning_on_the_local_sandbox_issues_an_identity_and_sees_the_device_online() {
    let sandbox = common::start("provision-fleet");
    let device = SimulatedHttpDevice::start();
    let output = on_sandbox(
        &[
            "provision",
            "--transport",
            "softap",
            "--device",
            &device.address,
            "--pop",
            POP,
            "--ssid",
            SSID,
            "--wifi-password-stdin",
        ],
        &format!("{PASSPHRASE}\n"),
        &sandbox.data_dir,
    );
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("takes an AWS IoT identity"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("✓ credentials  Identity installed: thing ")),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("✓ online ")),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with("is online."), "{stdout}");
    assert!(!stdout.contains(PASSPHRASE) && !stderr.contains(PASSPHRASE));
}

/// Runs `companion args…` against the running sandbox in `data_dir`, with `stdin`.
fn on_sandbox(args: &[&str], stdin: &str, data_dir: &Path) -> Output {
    let mut command = Command::new(COMPANION);
    command
        .args(args)
        .env("COMPANION_SANDBOX_DIR", data_dir)
        .env("COMPANION_DATA_DIR", data_dir.join("cli"));
    output_with_stdin(command, stdin)
}

/// The boxes the sandbox announced: (name, model, pop) by model.
fn boxed(sandbox: &common::Running, model: &str) -> (String, String) {
    let boxes = sandbox.endpoints["boxes"].as_array().unwrap();
    let label = boxes
        .iter()
        .find(|b| b["model"] == model)
        .unwrap_or_else(|| panic!("a {model} in its box: {boxes:?}"));
    (
        label["name"].as_str().unwrap().to_owned(),
        label["pop"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn sim_transport_scans_the_sandbox_radio_and_takes_a_plug_online() {
    let sandbox = common::start("provision-sim");
    let network = &sandbox.endpoints["network"];
    let (ssid, passphrase) = (
        network["ssid"].as_str().unwrap(),
        network["passphrase"].as_str().unwrap(),
    );
    let (plug, pop) = boxed(&sandbox, "plug");

    let scan = on_sandbox(
        &[
            "ble",
            "scan",
            "--transport",
            "sim",
            "--window",
            "1",
            "--json",
        ],
        "",
        &sandbox.data_dir,
    );
    let (stdout, stderr) = text(&scan);
    assert_eq!(scan.status.code(), Some(0), "{stdout}{stderr}");
    let seen: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let names: Vec<&str> = seen
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{stdout}");
    assert!(names.contains(&plug.as_str()), "{stdout}");

    let output = on_sandbox(
        &[
            "provision",
            "--transport",
            "sim",
            "--device",
            &plug,
            "--pop-stdin",
            "--ssid",
            ssid,
            "--wifi-password-stdin",
            "--json",
        ],
        &format!("{pop}\n{passphrase}\n"),
        &sandbox.data_dir,
    );
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let steps: Vec<&str> = lines.iter().filter_map(|l| l["step"].as_str()).collect();
    assert_eq!(
        steps,
        [
            "connect",
            "version",
            "session",
            "wifi_scan",
            "wifi_config",
            "credentials",
            "wifi_apply",
            "wifi_status",
            "online"
        ],
        "{stdout}"
    );
    let outcome = lines.last().unwrap();
    assert_eq!(outcome["outcome"], "online", "{stdout}");
    let thing = outcome["thing"].as_str().unwrap();
    assert!(thing.starts_with("plug-"), "{thing}");
    assert!(outcome["certificateId"].as_str().unwrap().len() == 64);
    for secret in [pop.as_str(), passphrase] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret));
    }

    // Provisioned devices stop advertising.
    let again = on_sandbox(
        &[
            "ble",
            "scan",
            "--transport",
            "sim",
            "--window",
            "1",
            "--json",
        ],
        "",
        &sandbox.data_dir,
    );
    let seen: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert!(
        seen.as_array().unwrap().iter().all(|d| d["name"] != plug),
        "{seen}"
    );
}

#[test]
fn sim_transport_refuses_a_wrong_password_and_a_wrong_scheme_with_their_causes() {
    let sandbox = common::start("provision-sim-wrong");
    let (light, _) = boxed(&sandbox, "light");
    let base = [
        "provision",
        "--transport",
        "sim",
        "--device",
        light.as_str(),
        "--password-stdin",
        "--ssid",
        "Workshop",
        "--wifi-password-stdin",
    ];

    let wrong = on_sandbox(&base, "not-the-password\nprovision-me\n", &sandbox.data_dir);
    let (stdout, stderr) = text(&wrong);
    assert_eq!(wrong.status.code(), Some(4), "{stdout}{stderr}");
    assert!(stdout.contains("✕ session"), "{stdout}");
    assert!(!stdout.contains("not-the-password") && !stderr.contains("not-the-password"));

    let mut named = base.to_vec();
    named.extend(["--sec", "1"]);
    let scheme = on_sandbox(&named, "light-secret\nprovision-me\n", &sandbox.data_dir);
    let (stdout, stderr) = text(&scheme);
    assert_eq!(scheme.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("uses security 2, not security 1"),
        "{stderr}"
    );

    let missing = on_sandbox(
        &[
            "provision",
            "--transport",
            "sim",
            "--device",
            "PROV_000000",
            "--ssid",
            "Workshop",
            "--scan-window",
            "1",
        ],
        "",
        &sandbox.data_dir,
    );
    let (stdout, stderr) = text(&missing);
    assert_eq!(missing.status.code(), Some(6), "{stdout}{stderr}");
    assert!(stderr.contains("PROV_000000"), "{stderr}");
}

#[test]
fn a_batch_provisions_what_it_can_and_reports_every_device_without_secrets() {
    let sandbox = common::start_with("provision-batch", &["--provisionable", "4"]);
    let boxes = sandbox.endpoints["boxes"].as_array().unwrap().clone();
    assert_eq!(boxes.len(), 4);
    let mut input = String::from("# the site's new devices\ndevice,pop,username,password\n");
    for (index, label) in boxes.iter().enumerate() {
        let (name, secret) = (
            label["name"].as_str().unwrap(),
            label["pop"].as_str().unwrap(),
        );
        let secret = if index == 1 { "wrong-password" } else { secret };
        match label["username"].as_str() {
            Some(user) => input.push_str(&format!("{name},,{user},{secret}\n")),
            None => input.push_str(&format!("{name},{secret},,\n")),
        }
    }
    input.push_str("PROV_000000,abcd1234,,\n");
    let dir = sandbox.data_dir.join("batch");
    std::fs::create_dir_all(&dir).unwrap();
    let (file, report) = (dir.join("site.csv"), dir.join("site-report.csv"));
    std::fs::write(&file, &input).unwrap();

    let output = on_sandbox(
        &[
            "provision",
            "--transport",
            "sim",
            "--batch",
            file.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
            "--ssid",
            "Workshop",
            "--wifi-password-stdin",
            "--scan-window",
            "1",
            "--json",
        ],
        "provision-me\n",
        &sandbox.data_dir,
    );
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("2 of 5 devices were not provisioned"),
        "{stderr}"
    );
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = &lines.last().unwrap()["summary"];
    assert_eq!(summary["devices"], 5, "{stdout}");
    assert_eq!(summary["online"], 2, "the plugs: {stdout}");
    assert_eq!(summary["wifiOnly"], 1, "the thermostat: {stdout}");
    assert_eq!(
        summary["failed"], 1,
        "the light with a wrong password: {stdout}"
    );
    assert_eq!(summary["notFound"], 1, "{stdout}");

    let mut reader = csv::Reader::from_path(&report).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let column = |name: &str| reader_column(&report, name);
    assert_eq!(rows.len(), 5, "one line per device, in the input's order");
    let outcomes: Vec<&str> = rows.iter().map(|r| &r[column("outcome")]).collect();
    assert_eq!(
        outcomes,
        ["online", "failed", "wifi_only", "online", "not_found"]
    );
    assert_eq!(&rows[1][column("step")], "session");
    assert_eq!(&rows[1][column("remedy")], "start_over");
    assert!(rows[0][column("thing")].starts_with("plug-"));
    assert_eq!(rows[0][column("certificate_id")].len(), 64);
    let written = std::fs::read_to_string(&report).unwrap();
    for label in &boxes {
        let secret = label["pop"].as_str().unwrap();
        assert!(!written.contains(secret), "no secret in the report");
        assert!(!stdout.contains(secret) && !stderr.contains(secret));
    }
    assert!(!written.contains("wrong-password") && !written.contains("provision-me"));
}

fn reader_column(report: &Path, name: &str) -> usize {
    let mut reader = csv::Reader::from_path(report).unwrap();
    reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("a {name} column"))
}

#[test]
fn a_bad_batch_file_is_refused_before_any_device_is_touched() {
    let sandbox = common::start("provision-batch-bad");
    let file = sandbox.data_dir.join("bad.csv");
    std::fs::write(&file, "device,pin\nPROV_000001,1234\n").unwrap();
    let output = on_sandbox(
        &[
            "provision",
            "--transport",
            "sim",
            "--batch",
            file.to_str().unwrap(),
            "--ssid",
            "Workshop",
        ],
        "",
        &sandbox.data_dir,
    );
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("unknown column \"pin\""), "{stderr}");
    let scan = on_sandbox(
        &[
            "ble",
            "scan",
            "--transport",
            "sim",
            "--window",
            "0",
            "--json",
        ],
        "",
        &sandbox.data_dir,
    );
    let seen: serde_json::Value = serde_json::from_slice(&scan.stdout).unwrap();
    assert_eq!(
        seen.as_array().unwrap().len(),
        3,
        "every box still advertises"
    );
}

#[test]
fn ctrl_c_cancels_the_attempt_frees_the_device_and_exits_130() {
    let sandbox = common::start_with("provision-interrupt", &["--gatt-latency", "300"]);
    let (plug, pop) = boxed(&sandbox, "plug");
    let mut child = Command::new(COMPANION)
        .args([
            "provision",
            "--transport",
            "sim",
            "--device",
            &plug,
            "--pop-stdin",
            "--ssid",
            "Workshop",
            "--wifi-password-stdin",
            "--json",
        ])
        .env("COMPANION_SANDBOX_DIR", &sandbox.data_dir)
        .env("COMPANION_DATA_DIR", sandbox.data_dir.join("cli"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{pop}\nprovision-me\n").as_bytes())
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.contains("\"step\":\"connect\""), "{first}");
    // Mid-attempt (each GATT operation takes 300 ms): interrupt.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(130), "{first}{rest}{stderr}");
    let last: serde_json::Value = serde_json::from_str(rest.lines().last().unwrap()).unwrap();
    assert_eq!(last["outcome"], "cancelled", "{rest}");
    assert!(stderr.contains("recorded as cancelled"), "{stderr}");

    // The link was closed (the sandbox notices once the operation in flight ends): the device
    // advertises again for the next attempt.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let scan = on_sandbox(
            &[
                "ble",
                "scan",
                "--transport",
                "sim",
                "--window",
                "1",
                "--json",
            ],
            "",
            &sandbox.data_dir,
        );
        let seen: serde_json::Value = serde_json::from_slice(&scan.stdout).unwrap();
        if seen
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["name"] == plug.as_str())
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the device never advertised again: {seen}"
        );
    }
}

#[test]
fn a_fleet_provisioning_rejection_shows_aws_error() {
    let sandbox = common::start("provision-sim-template");
    let (plug, pop) = boxed(&sandbox, "plug");
    let output = on_sandbox(
        &[
            "provision",
            "--transport",
            "sim",
            "--device",
            &plug,
            "--pop-stdin",
            "--ssid",
            "Workshop",
            "--wifi-password-stdin",
            "--template",
            "no-such-template",
        ],
        &format!("{pop}\nprovision-me\n"),
        &sandbox.data_dir,
    );
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    let failed = stdout
        .lines()
        .find(|l| l.starts_with("✕ credentials"))
        .unwrap_or_else(|| panic!("the credential step fails: {stdout}"));
    assert!(
        failed.contains("404 ResourceNotFound")
            && failed.contains("Template no-such-template does not exist."),
        "AWS's own error: {failed}"
    );
    assert!(!failed.contains(".."), "{failed}");
}
