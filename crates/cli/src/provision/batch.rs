//! `companion provision --batch FILE.csv`: many devices onto one Wi-Fi network, several at a
//! time, each through the same attempt state machine as a single device; one line per device
//! as it ends, a summary, and a CSV report beside the input.
//!
//! The input is checked whole before anything starts (columns, a device on every line, no
//! device twice, `sec` in 0–2), so a typo never provisions half a batch. Devices are looked
//! for first (BLE and the sandbox's radio: scans until every one is seen or --scan-window
//! passes); one that is not seen is reported `not_found` and the others go on. A failed step
//! is not retried: the device is reported with the step, its cause and the fix, and its
//! attempt is ended so it is free for a second run with the failures alone. Ctrl-C cancels
//! what is running, reports what has not started as `not_started`, and still writes the
//! report.
//!
//! Secrets (PoPs, device passwords) come from the input file, which the technician keeps; the
//! Wi-Fi password from standard input. Neither is printed nor written to the report.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use companion_core::provision::flow::{AttemptView, Outcome, Proof, Provisioning, StepState};
use companion_core::provision::{Discovered, Radio};
use companion_espprov::SecurityScheme;
use serde_json::json;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::{
    Cloud, ProvisionArgs, Transport, WifiChoice, open_ble, open_store, provisioning, remedy_name,
    sandbox_radio, scan_for,
};
use crate::sandbox::ShutdownSignal;
use crate::{CliError, output};

/// The columns an input may have.
const COLUMNS: [&str; 5] = ["device", "pop", "username", "password", "sec"];

/// One line of the input.
#[derive(Clone)]
struct Row {
    /// The line number in the file, for messages.
    line: u64,
    device: String,
    proof: Proof,
}

/// How one device ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
struct Report {
    device: String,
    name: String,
    outcome: String,
    step: String,
    cause: String,
    fix: String,
    remedy: String,
    thing: String,
    certificate_id: String,
    audit_id: String,
    seconds: String,
}

impl Report {
    fn without_attempt(row: &Row, outcome: &str, cause: &str, fix: &str) -> Self {
        Self {
            device: row.device.clone(),
            name: String::new(),
            outcome: outcome.to_owned(),
            step: String::new(),
            cause: cause.to_owned(),
            fix: fix.to_owned(),
            remedy: String::new(),
            thing: String::new(),
            certificate_id: String::new(),
            audit_id: String::new(),
            seconds: String::new(),
        }
    }

    fn from_view(row: &Row, view: &AttemptView, elapsed: Duration) -> Self {
        let (outcome, step) = match &view.outcome {
            Outcome::Online { .. } => ("online", None),
            Outcome::WifiOnly => ("wifi_only", None),
            Outcome::Failed(step) => ("failed", Some(*step)),
            Outcome::Cancelled => ("cancelled", None),
            Outcome::Running => ("running", None),
        };
        let (cause, fix, remedy) = match step.map(|s| view.state(s)) {
            Some(StepState::Failed(failure)) => (
                failure.cause.clone(),
                failure.fix.clone(),
                remedy_name(failure.remedy).to_owned(),
            ),
            _ => (String::new(), String::new(), String::new()),
        };
        Self {
            device: row.device.clone(),
            name: view.device.name.clone(),
            outcome: outcome.to_owned(),
            step: step.map(|s| s.name().to_owned()).unwrap_or_default(),
            cause,
            fix,
            remedy,
            thing: view.thing_name.clone().unwrap_or_default(),
            certificate_id: view.certificate_id.clone().unwrap_or_default(),
            audit_id: view.id.to_string(),
            seconds: format!("{:.1}", elapsed.as_secs_f64()),
        }
    }

    fn succeeded(&self) -> bool {
        self.outcome == "online" || self.outcome == "wifi_only"
    }
}

/// Runs `companion provision --batch FILE`.
pub(super) async fn run(args: &ProvisionArgs, file: &Path) -> Result<(), CliError> {
    let text = std::fs::read(file)
        .map_err(|e| CliError::Failed(format!("cannot read {}: {e}", file.display())))?;
    let rows = parse(&text).map_err(|e| CliError::Failed(format!("{}: {e}", file.display())))?;
    let report_path = args.report.clone().unwrap_or_else(|| report_beside(file));
    if same_file(&report_path, file) {
        return Err(CliError::Failed(format!(
            "the report {} would overwrite the input: name another file with --report",
            report_path.display()
        )));
    }
    // Refuse an unwritable report before any device is touched (and leave nothing behind if
    // the batch cannot start).
    std::fs::write(&report_path, b"").map_err(|e| {
        CliError::Failed(format!(
            "cannot write the report {}: {e}",
            report_path.display()
        ))
    })?;
    let (reports, interrupted) = match run_batch(args, rows).await {
        Ok(done) => done,
        Err(error) => {
            let _ = std::fs::remove_file(&report_path);
            return Err(error);
        }
    };
    write_report(&report_path, &reports)?;
    summarize(args.json, &reports, &report_path, interrupted)
}

/// Whether `a` and `b` name the same file (`b` exists; `a` may not yet).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The Wi-Fi password, the broker connections, then every device.
async fn run_batch(args: &ProvisionArgs, rows: Vec<Row>) -> Result<(Vec<Report>, bool), CliError> {
    let wifi = super::secrets_wifi(args)?;
    let signal = ShutdownSignal::install()?;
    let cloud = if args.wifi_only {
        None
    } else {
        Some(Cloud::connect(args).await?)
    };
    let result = provision_all(args, rows, wifi, cloud.as_ref(), signal).await;
    if let Some(cloud) = cloud {
        cloud.close().await;
    }
    result
}

/// Parses and checks the whole input.
fn parse(text: &[u8]) -> Result<Vec<Row>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| format!("the header line cannot be read: {e}"))?
        .iter()
        .map(str::to_ascii_lowercase)
        .collect();
    if let Some(unknown) = headers.iter().find(|h| !COLUMNS.contains(&h.as_str())) {
        return Err(format!(
            "unknown column \"{unknown}\" (the columns are {})",
            COLUMNS.join(", ")
        ));
    }
    let column = |name: &str| headers.iter().position(|h| h == name);
    let device_column = column("device")
        .ok_or_else(|| "there is no \"device\" column (put a header line first)".to_owned())?;
    let mut seen = HashSet::new();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| e.to_string())?;
        let line = record.position().map_or(0, csv::Position::line);
        let cell = |name: &str| {
            column(name)
                .and_then(|i| record.get(i))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let device = record.get(device_column).unwrap_or_default().to_owned();
        if device.is_empty() {
            return Err(format!("line {line}: the device is empty"));
        }
        if !seen.insert(device.clone()) {
            return Err(format!("line {line}: {device} is listed twice"));
        }
        let scheme = match cell("sec") {
            None => None,
            Some(sec) => Some(
                sec.parse::<u32>()
                    .ok()
                    .and_then(SecurityScheme::from_version)
                    .ok_or_else(|| format!("line {line}: sec must be 0, 1 or 2"))?,
            ),
        };
        let pop = cell("pop");
        // As in a security 2 QR code, a `pop` stands for the password when there is none.
        let password = cell("password").or_else(|| pop.clone());
        rows.push(Row {
            line,
            device,
            proof: Proof {
                pop: pop.as_deref().map(Into::into),
                username: cell("username"),
                password: password.as_deref().map(Into::into),
                scheme,
            },
        });
    }
    if rows.is_empty() {
        return Err("no devices listed".into());
    }
    Ok(rows)
}

/// `<dir>/<stem>-report-<UTC time>.csv`, e.g. `site-report-20261129T210610Z.csv`.
fn report_beside(file: &Path) -> PathBuf {
    let stem = file
        .file_stem()
        .map_or_else(|| "batch".into(), |s| s.to_string_lossy().into_owned());
    let stamp =
        output::time_secs(companion_core::telemetry::now_ms() / 1000).replace(['-', ':'], "");
    file.with_file_name(format!("{stem}-report-{stamp}.csv"))
}

/// Finds the devices, then provisions them `--parallel` at a time.
async fn provision_all(
    args: &ProvisionArgs,
    rows: Vec<Row>,
    wifi: WifiChoice,
    cloud: Option<&Cloud>,
    mut signal: ShutdownSignal,
) -> Result<(Vec<Report>, bool), CliError> {
    let store = open_store(args).await?;
    let (stop, stopped) = watch::channel(false);
    let mut reports: BTreeMap<u64, Report> = BTreeMap::new();
    let mut jobs = JoinSet::new();
    let permits = Arc::new(Semaphore::new(usize::from(args.parallel)));
    let mut interrupted = false;

    let (radio, found) = tokio::select! {
        found = find_all(args, &rows) => found?,
        _ = signal.wait_ref() => {
            let reports = rows
                .iter()
                .map(|row| Report::without_attempt(row, "not_started", "interrupted before it started", "run the batch again"))
                .collect();
            return Ok((reports, true));
        }
    };
    if !args.json {
        output::line(&format!(
            "Provisioning {} of {} devices onto “{}”, {} at a time…",
            found.len(),
            rows.len(),
            wifi.ssid,
            args.parallel
        ));
    }
    for row in &rows {
        let Some((radio, discovered)) = radio_for(args, &radio, &found, row) else {
            let report = Report::without_attempt(
                row,
                "not_found",
                &format!("not seen within {} s", args.scan_window),
                "power it on, move closer, check the name (`companion ble scan`), and run it again",
            );
            print_report(args.json, &report);
            reports.insert(row.line, report);
            continue;
        };
        let provisioning = Arc::new(provisioning(args, radio, cloud, &store));
        let (row, wifi, permits, stopped) =
            (row.clone(), wifi.clone(), permits.clone(), stopped.clone());
        jobs.spawn(async move {
            let report =
                provision_one(&provisioning, &row, discovered, wifi, &permits, stopped).await;
            (row.line, report)
        });
    }

    loop {
        tokio::select! {
            joined = jobs.join_next() => match joined {
                Some(Ok((line, report))) => {
                    print_report(args.json, &report);
                    reports.insert(line, report);
                }
                Some(Err(error)) if error.is_cancelled() => {}
                Some(Err(error)) => {
                    output::error(&format!("a provisioning task failed: {error}"));
                }
                None => break,
            },
            () = signal.wait_ref() => {
                if interrupted {
                    // A second Ctrl-C: stop waiting for the attempts to end.
                    jobs.abort_all();
                    break;
                }
                interrupted = true;
                let _ = stop.send(true);
                if !args.json {
                    output::line("Cancelling… (Ctrl-C again to stop at once)");
                }
            }
        }
    }
    // Every line of the input has a report, in the input's order.
    let reports = rows
        .iter()
        .map(|row| {
            reports.remove(&row.line).unwrap_or_else(|| {
                Report::without_attempt(
                    row,
                    "cancelled",
                    "stopped before its attempt ended",
                    "run it again",
                )
            })
        })
        .collect();
    Ok((reports, interrupted))
}

/// One device: waits for a turn, runs the attempt to its end, and frees the device.
async fn provision_one(
    provisioning: &Provisioning,
    row: &Row,
    discovered: Discovered,
    wifi: WifiChoice,
    permits: &Semaphore,
    mut stopped: watch::Receiver<bool>,
) -> Report {
    let turn = tokio::select! {
        permit = permits.acquire() => permit.ok(),
        _ = stopped.wait_for(|stop| *stop) => None,
    };
    if turn.is_none() {
        return Report::without_attempt(
            row,
            "not_started",
            "interrupted before it started",
            "run the batch again",
        );
    }
    let started = Instant::now();
    let attempt = match provisioning
        .start(discovered, row.proof.clone(), Some(wifi))
        .await
    {
        Ok(attempt) => attempt,
        Err(error) => {
            return Report::without_attempt(
                row,
                "failed",
                &format!("the provisioning audit failed: {error}"),
                "check the CLI's data directory",
            );
        }
    };
    let mut view = attempt.view();
    let ended = tokio::select! {
        ended = view.wait_for(|v| !matches!(v.outcome, Outcome::Running)) => ended.map(|v| v.clone()).ok(),
        _ = stopped.wait_for(|stop| *stop) => None,
    };
    // A failed attempt waits for the user, an interrupted one is still running: end both.
    attempt.cancel().await;
    let last = ended.unwrap_or_else(|| attempt.view().borrow().clone());
    Report::from_view(row, &last, started.elapsed())
}

/// The radio the batch uses, with every device it saw (BLE and the sandbox's radio); SoftAP
/// devices are addresses, not seen in advance.
enum Found {
    Scanned(Arc<dyn Radio>),
    Addresses,
}

async fn find_all(
    args: &ProvisionArgs,
    rows: &[Row],
) -> Result<(Found, BTreeMap<String, Discovered>), CliError> {
    let radio: Arc<dyn Radio> = match args.transport {
        Transport::Softap => return Ok((Found::Addresses, BTreeMap::new())),
        Transport::Ble => Arc::new(open_ble(super::DEFAULT_NAME_PREFIX.to_owned(), None).await?),
        Transport::Sim => Arc::new(sandbox_radio(args.connection.sandbox_dir())?),
    };
    let wanted: Vec<&str> = rows.iter().map(|r| r.device.as_str()).collect();
    let found = scan_for(
        radio.as_ref(),
        &wanted,
        Duration::from_secs(args.scan_window),
    )
    .await?;
    Ok((Found::Scanned(radio), found))
}

/// The radio and device for `row`, or `None` when it was not seen.
fn radio_for(
    args: &ProvisionArgs,
    radio: &Found,
    found: &BTreeMap<String, Discovered>,
    row: &Row,
) -> Option<(Arc<dyn Radio>, Discovered)> {
    match radio {
        Found::Scanned(radio) => Some((radio.clone(), found.get(&row.device)?.clone())),
        Found::Addresses => {
            let (radio, discovered) = super::softap_radio(args, &row.device);
            Some((Arc::new(radio), discovered))
        }
    }
}

fn print_report(json: bool, report: &Report) {
    if json {
        output::json(&json!(report));
        return;
    }
    let label = if report.name.is_empty() || report.name == report.device {
        report.device.clone()
    } else {
        format!("{} ({})", report.device, report.name)
    };
    let line = match report.outcome.as_str() {
        "online" => format!(
            "✓ {label}  online as {}, certificate {}… ({} s)",
            report.thing,
            report
                .certificate_id
                .get(..12)
                .unwrap_or(&report.certificate_id),
            report.seconds
        ),
        "wifi_only" => format!(
            "✓ {label}  on Wi-Fi only: no credential endpoint ({} s)",
            report.seconds
        ),
        "failed" if !report.step.is_empty() => format!(
            "✕ {label}  failed at {}: {} — {}",
            report.step, report.cause, report.fix
        ),
        other => format!("✕ {label}  {other}: {} — {}", report.cause, report.fix),
    };
    output::line(&line);
}

fn write_report(path: &Path, reports: &[Report]) -> Result<(), CliError> {
    let failed = |e: &dyn std::fmt::Display| {
        CliError::Failed(format!("cannot write the report {}: {e}", path.display()))
    };
    let mut writer = csv::Writer::from_path(path).map_err(|e| failed(&e))?;
    for report in reports {
        writer.serialize(report).map_err(|e| failed(&e))?;
    }
    writer.flush().map_err(|e| failed(&e))
}

fn summarize(
    json: bool,
    reports: &[Report],
    path: &Path,
    interrupted: bool,
) -> Result<(), CliError> {
    let count = |outcome: &str| reports.iter().filter(|r| r.outcome == outcome).count();
    let (online, wifi_only) = (count("online"), count("wifi_only"));
    let unsuccessful = reports.iter().filter(|r| !r.succeeded()).count();
    if json {
        output::json(&json!({
            "summary": {
                "devices": reports.len(),
                "online": online,
                "wifiOnly": wifi_only,
                "failed": count("failed"),
                "notFound": count("not_found"),
                "cancelled": count("cancelled"),
                "notStarted": count("not_started"),
                "interrupted": interrupted,
                "report": path,
            }
        }));
    } else {
        output::line(&format!(
            "{} devices: {online} online, {wifi_only} on Wi-Fi only, {unsuccessful} not provisioned. Report: {}",
            reports.len(),
            path.display()
        ));
    }
    if interrupted {
        Err(CliError::Interrupted(format!(
            "the batch was interrupted; the report lists what was done: {}",
            path.display()
        )))
    } else if unsuccessful > 0 {
        Err(CliError::Failed(format!(
            "{unsuccessful} of {} devices were not provisioned (see the report)",
            reports.len()
        )))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_with_proofs_per_device_parses_in_order() {
        let rows = parse(
            b"device,pop,username,password,sec\n\
              # the plugs\n\
              PROV_000001,abcd1234,,,\n\
              PROV_000002, ,wifiprov,light-secret,2\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].device, "PROV_000001");
        assert!(rows[0].proof.pop.is_some(), "a security 1 proof");
        assert!(rows[1].proof.pop.is_none(), "a blank cell is no PoP");
        assert_eq!(rows[1].proof.username.as_deref(), Some("wifiprov"));
        assert_eq!(rows[1].proof.scheme, Some(SecurityScheme::Sec2));
        assert!(rows[1].line > rows[0].line);
    }

    #[test]
    fn a_bad_input_is_refused_whole_with_the_line() {
        let error = |text: &[u8]| parse(text).err().unwrap();
        assert!(error(b"name,pop\nA,1\n").contains("unknown column \"name\""));
        assert!(error(b"pop\n1\n").contains("no \"device\" column"));
        assert!(error(b"device\nA\nA\n").contains("listed twice"));
        assert!(error(b"device,sec\nA,3\n").contains("sec must be 0, 1 or 2"));
        assert!(error(b"device,pop\nA,1\n,2\n").contains("the device is empty"));
        assert!(
            error(b"device,pop\nA,1,extra\n").contains("line 2")
                || error(b"device,pop\nA,1,extra\n").contains("fields")
        );
        assert!(error(b"device\n").contains("no devices"));
    }

    #[test]
    fn the_report_has_its_documented_columns_and_quotes_what_needs_it() {
        let rows = parse(b"device\nPROV_000001\n").unwrap();
        let report =
            Report::without_attempt(&rows[0], "not_found", "not seen, twice", "move closer");
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.serialize(&report).unwrap();
        let text = String::from_utf8(writer.into_inner().unwrap()).unwrap();
        assert_eq!(
            text,
            "device,name,outcome,step,cause,fix,remedy,thing,certificate_id,audit_id,seconds\n\
             PROV_000001,,not_found,,\"not seen, twice\",move closer,,,,,\n"
        );
    }

    #[test]
    fn a_pop_stands_for_a_missing_password_as_in_a_qr_code() {
        let rows = parse(b"device,pop,username\nPROV_000002,light-secret,wifiprov\n").unwrap();
        assert!(rows[0].proof.password.is_some());
        assert!(rows[0].proof.pop.is_some());
    }
}
