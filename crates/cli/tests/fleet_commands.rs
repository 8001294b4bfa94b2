//! `companion telemetry`, `jobs` and `devices` as a technician runs them against a running
//! `companion sandbox` and its simulated devices (thermostat-0001, plug-0002, light-0003).

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on the first surprise"
)]

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{COMPANION, companion, free_address, fresh_dir, start, start_with};
use serde_json::Value;

const FIRMWARE_UPDATE: &str = r#"{"operation":"firmware-update","version":"1.2.0"}"#;

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts that the command succeeded, showing what it said otherwise.
fn succeeded(output: &Output) {
    assert!(
        output.status.success(),
        "{:?}\nstdout: {}\nstderr: {}",
        output.status,
        stdout(output),
        stderr(output)
    );
}

fn json(output: &Output) -> Value {
    succeeded(output);
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not one JSON value ({e}): {}", stdout(output)))
}

fn json_lines(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect()
}

/// Waits until `thing`'s simulated device has reported its `shadow` (devices connect after
/// the sandbox announces itself).
fn wait_for_reported(thing: &str, shadow: &str, data_dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let output = companion(&["shadow", "get", thing, "--name", shadow], data_dir);
        if output.status.success() {
            return;
        }
        assert_eq!(
            output.status.code(),
            Some(6),
            "only 'not yet' may be retried: {output:?}"
        );
        assert!(
            Instant::now() < deadline,
            "{thing} never reported its {shadow} shadow"
        );
    }
}

fn queue_job(data_dir: &Path, job_id: &str, thing: &str) {
    let output = companion(
        &[
            "sandbox",
            "job",
            "create",
            "--job-id",
            job_id,
            "--thing",
            thing,
            "--document",
            FIRMWARE_UPDATE,
        ],
        data_dir,
    );
    succeeded(&output);
}

#[test]
fn telemetry_of_a_simulated_device_is_printed_as_it_arrives_then_summarized() {
    let running = start("telemetry");
    // The technician first makes the thermostat publish every 500 ms (its `config` shadow).
    wait_for_reported("thermostat-0001", "config", &running.data_dir);
    let faster = companion(
        &[
            "shadow",
            "update",
            "thermostat-0001",
            "--name",
            "config",
            "--desired",
            r#"{"telemetry_interval_ms": 500}"#,
            "--wait",
            "20",
        ],
        &running.data_dir,
    );
    succeeded(&faster);

    let output = companion(
        &["telemetry", "thermostat-0001", "--window", "3", "--json"],
        &running.data_dir,
    );
    succeeded(&output);
    let lines = json_lines(&output);
    let (summary, readings) = lines.split_last().expect("at least the summary");
    assert!(
        !readings.is_empty(),
        "readings arrive within 3 s: {lines:?}"
    );
    for reading in readings {
        assert_eq!(reading["thing"], "thermostat-0001", "{reading}");
        assert!(reading["value"].is_number(), "{reading}");
        assert!(
            reading["time"].as_str().unwrap().ends_with('Z'),
            "an RFC 3339 UTC time: {reading}"
        );
    }
    let temperatures: Vec<f64> = readings
        .iter()
        .filter(|r| r["series"] == "sample.temperature_c")
        .map(|r| r["value"].as_f64().unwrap())
        .collect();
    assert!(
        !temperatures.is_empty(),
        "the thermostat's temperature is a series: {readings:?}"
    );

    let summary = &summary["summary"];
    assert_eq!(summary["thing"], "thermostat-0001", "{summary}");
    let stats = &summary["series"]["sample.temperature_c"];
    assert_eq!(
        stats["count"].as_u64().unwrap(),
        temperatures.len() as u64,
        "the summary counts every printed reading: {summary}"
    );
    let (min, max, last) = (
        stats["min"].as_f64().unwrap(),
        stats["max"].as_f64().unwrap(),
        stats["last"].as_f64().unwrap(),
    );
    assert_eq!(Some(&last), temperatures.last(), "{summary}");
    assert!(min <= last && last <= max, "{summary}");
    assert!(
        temperatures.iter().all(|t| (min..=max).contains(t)),
        "{summary}"
    );
}

#[test]
fn no_telemetry_in_the_window_is_said_and_is_not_an_error() {
    let running = start_with("telemetry-quiet", &["--devices", "0"]);
    let output = companion(
        &["telemetry", "pump-0009", "--window", "1"],
        &running.data_dir,
    );
    succeeded(&output);
    assert!(
        stdout(&output).contains("no telemetry from pump-0009 in 1 s"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn a_job_queued_for_an_offline_device_is_listed_and_described() {
    // Only thermostat-0001 runs: a job for plug-0002 stays queued, as for a device that is off.
    let running = start_with("jobs-queued", &["--devices", "1"]);
    queue_job(&running.data_dir, "fw-9", "plug-0002");

    let pending = json(&companion(
        &["jobs", "plug-0002", "--json"],
        &running.data_dir,
    ));
    assert_eq!(
        pending["inProgressJobs"],
        serde_json::json!([]),
        "{pending}"
    );
    let queued = pending["queuedJobs"].as_array().unwrap();
    assert_eq!(queued.len(), 1, "{pending}");
    assert_eq!(queued[0]["jobId"], "fw-9", "{pending}");
    assert_eq!(queued[0]["versionNumber"], 1, "{pending}");

    let table = companion(&["jobs", "plug-0002"], &running.data_dir);
    succeeded(&table);
    let row = stdout(&table)
        .lines()
        .find(|line| line.contains("fw-9"))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no row for fw-9: {}", stdout(&table)));
    assert!(row.starts_with("QUEUED"), "{row}");

    let described = json(&companion(
        &["jobs", "plug-0002", "--job", "fw-9", "--json"],
        &running.data_dir,
    ));
    let execution = &described["execution"];
    assert_eq!(execution["status"], "QUEUED", "{described}");
    assert_eq!(execution["jobDocument"]["version"], "1.2.0", "{described}");

    let missing = companion(&["jobs", "plug-0002", "--job", "fw-404"], &running.data_dir);
    assert_eq!(missing.status.code(), Some(6), "not found exits 6");
    assert!(
        stderr(&missing).contains("plug-0002 has no execution of job fw-404"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn a_running_firmware_update_shows_its_status_and_progress() {
    let running = start("jobs-progress");
    wait_for_reported("thermostat-0001", "config", &running.data_dir);
    queue_job(&running.data_dir, "fw-1", "thermostat-0001");
    // The device starts the job at once and finishes it in about 4 s: ask until it has
    // reported progress, or it is done (the device API then answers TerminalStateReached).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let output = companion(
            &["jobs", "thermostat-0001", "--job", "fw-1"],
            &running.data_dir,
        );
        let text = stdout(&output);
        if output.status.success() && text.contains("IN_PROGRESS") && text.contains("progress") {
            assert!(text.contains("operation=firmware-update"), "{text}");
            assert!(text.contains("version=1.2.0"), "{text}");
            break;
        }
        if output.status.code() == Some(4) {
            assert!(
                stderr(&output).contains("terminal state SUCCEEDED"),
                "a finished update is refused with its state: {}",
                stderr(&output)
            );
            break;
        }
        succeeded(&output);
        assert!(
            Instant::now() < deadline,
            "the job never showed progress: {text}"
        );
    }
}

#[test]
fn an_unknown_things_jobs_are_an_empty_list() {
    let running = start_with("jobs-unknown", &["--devices", "0"]);
    let pending = json(&companion(
        &["jobs", "nobody-0000", "--json"],
        &running.data_dir,
    ));
    assert_eq!(
        pending["inProgressJobs"],
        serde_json::json!([]),
        "{pending}"
    );
    assert_eq!(pending["queuedJobs"], serde_json::json!([]), "{pending}");
    let text = companion(&["jobs", "nobody-0000"], &running.data_dir);
    succeeded(&text);
    assert!(
        stdout(&text).contains("No pending jobs for nobody-0000"),
        "{}",
        stdout(&text)
    );
}

#[test]
fn devices_lists_the_simulated_devices_from_the_sandbox_registry() {
    let running = start("devices");
    let list = json(&companion(&["devices", "--json"], &running.data_dir));
    assert_eq!(list["source"], "sandbox", "{list}");
    let things = list["things"].as_array().unwrap();
    let names: Vec<&str> = things.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["light-0003", "plug-0002", "thermostat-0001"],
        "{list}"
    );
    for thing in things {
        let name = thing["name"].as_str().unwrap();
        let model = name.split('-').next().unwrap();
        assert_eq!(thing["model"], model, "{thing}");
        assert_eq!(thing["simulated"], true, "{thing}");
        assert_eq!(
            thing["certificateIds"].as_array().unwrap().len(),
            1,
            "{thing}"
        );
    }

    let table = companion(&["devices"], &running.data_dir);
    succeeded(&table);
    let text = stdout(&table);
    assert!(
        text.lines()
            .any(|l| l.starts_with("plug-0002") && l.contains("simulated")),
        "{text}"
    );
    assert!(
        text.contains("3 things in the sandbox's registry"),
        "{text}"
    );
}

#[test]
fn devices_on_a_plain_broker_are_those_heard_within_the_window() {
    let running = start("devices-observed");
    let port = running.endpoints["plain"]["port"].to_string();
    // Simulated devices publish telemetry every 5 s: a 7 s window hears each of them.
    let list = json(&companion(
        &[
            "devices",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--window",
            "7",
            "--json",
        ],
        &running.data_dir,
    ));
    assert_eq!(list["source"], "observed", "{list}");
    let names: Vec<&str> = list["things"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for device in ["light-0003", "plug-0002", "thermostat-0001"] {
        assert!(names.contains(&device), "{device} was heard: {list}");
    }
    assert!(
        !names.iter().any(|n| n.starts_with("companion-cli-")),
        "the CLI does not list itself: {list}"
    );
}

#[test]
fn without_a_running_sandbox_each_command_exits_3_and_says_how_to_start_one() {
    let nowhere = fresh_dir("nothing-running");
    for args in [
        &["telemetry", "thermostat-0001", "--window", "1"][..],
        &["jobs", "thermostat-0001"],
        &["jobs", "thermostat-0001", "--job", "fw-1", "--json"],
        &["devices", "--json"],
    ] {
        let output = companion(args, &nowhere);
        assert_eq!(output.status.code(), Some(3), "{args:?}: {output:?}");
        assert!(
            stderr(&output).contains("start one with `companion sandbox`"),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(output.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
}

#[test]
fn a_sandbox_that_died_is_not_running_for_devices() {
    let mut running = start_with("devices-dead", &["--devices", "0"]);
    running.child.kill().unwrap();
    running.child.wait().unwrap();
    assert!(
        running.data_dir.join("sandbox.json").is_file(),
        "a killed sandbox leaves its sandbox.json behind"
    );
    let output = companion(&["devices"], &running.data_dir);
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert!(
        stderr(&output).contains("start it again with `companion sandbox`"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_broker_that_cannot_be_reached_exits_3_with_the_diagnosis() {
    let port = free_address().rsplit_once(':').unwrap().1.to_owned();
    let spawn = |args: &[&str]| {
        Command::new(COMPANION)
            .args(args)
            .args(["--host", "127.0.0.1", "--port", &port])
            .env_remove("COMPANION_SANDBOX_DIR")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children = [
        spawn(&["telemetry", "thermostat-0001", "--window", "1"]),
        spawn(&["jobs", "thermostat-0001"]),
        spawn(&["devices", "--window", "1"]),
    ];
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(3), "{output:?}");
        assert!(
            stderr(&output).contains("Check the port"),
            "the doctor's fix: {}",
            stderr(&output)
        );
    }
}
