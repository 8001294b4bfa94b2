//! `companion ble scan` and `companion provision`: find devices that offer ESP unified
//! provisioning, and provision one over Bluetooth LE, its SoftAP, or the running local
//! sandbox's simulated radio, step by step.
//!
//! `provision` runs the engine's attempt state machine ([`Provisioning::start`]) in batch
//! style: the Wi-Fi network is given up front, each step is printed as it changes, and the
//! first failure ends the command (the attempt is cancelled, so the device is freed) with the
//! exit code its cause maps to. Secrets come from standard input (one line each) or from the
//! device's QR code (`--qr`), and are never printed or logged.
//!
//! Unless `--wifi-only`, a device that offers the `aws-iot` endpoint also gets an AWS IoT
//! identity through fleet provisioning (CreateCertificateFromCsr, RegisterThing with
//! `--template`, default `companion-default`) over the connection the other commands use
//! (`--profile`, `--host`, the active profile, else the running local sandbox). The identity
//! points at that broker: the local sandbox's mutual-TLS listener on `localhost` with its CA,
//! or the profile's host on port 8883 with the device's built-in root CA. The attempt then
//! waits for the device's `$aws/events/presence/connected` event, heard on a second
//! connection of the same broker and kept in an in-memory registry. Over SoftAP, whose HTTP
//! cannot list endpoints, asking for an identity (no `--wifi-only`) takes the device to offer
//! `aws-iot`.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use companion_awsiot::TemplateName;
use companion_core::provision::audit::Audit;
use companion_core::provision::ble::{BleConfig, BleRadio, DEFAULT_NAME_PREFIX};
use companion_core::provision::fleet::FleetProvisioner;
use companion_core::provision::flow::{
    AttemptView, CloudTarget, Outcome, Proof, Provisioning, Remedy, Step, StepState, Timeouts,
    WifiChoice,
};
use companion_core::provision::simulated::SandboxRadio;
use companion_core::provision::softap::{SoftApConfig, SoftApRadio};
use companion_core::provision::{Discovered, Radio, TransportError, TransportKind};
use companion_core::registry::{FILTERS as REGISTRY_FILTERS, Registry};
use companion_core::session::QoS;
use companion_core::store::Store;
use companion_core::telemetry::now_ms;
use companion_espprov::SecurityScheme;
use serde_json::{Value, json};
use tokio::sync::watch;

mod batch;

use crate::connection::ConnectionArgs;
use crate::mqtt::{Connected, connect_or_unreachable};
use crate::profile::database_path;
use crate::sandbox::{ShutdownSignal, running_sandbox};
use crate::{CliError, output};

/// The fleet provisioning template things are registered with unless --template says.
const DEFAULT_TEMPLATE: &str = "companion-default";

/// Arguments of `companion ble`.
#[derive(Debug, Args)]
pub struct BleArgs {
    #[command(subcommand)]
    command: BleCommand,
}

#[derive(Debug, Subcommand)]
enum BleCommand {
    /// Scan for devices that offer provisioning and list them, strongest first.
    Scan(ScanArgs),
}

/// Where `ble scan` looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ScanTransport {
    /// The computer's Bluetooth adapter.
    #[default]
    Ble,
    /// The running local sandbox's simulated radio.
    Sim,
}

/// Arguments of `companion ble scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The radio to scan.
    #[arg(long, value_enum, default_value_t)]
    transport: ScanTransport,
    /// The data directory of the local sandbox (with --transport sim).
    #[arg(long, env = "COMPANION_SANDBOX_DIR")]
    data_dir: Option<PathBuf>,
    /// Devices whose advertised name starts with this offer provisioning (besides those
    /// advertising ESP's provisioning service).
    #[arg(long, value_name = "P", default_value = DEFAULT_NAME_PREFIX)]
    prefix: String,
    /// Leave out devices weaker than this (dBm, e.g. -80); devices without a reading are kept.
    #[arg(long, value_name = "DBM", allow_hyphen_values = true)]
    min_rssi: Option<i16>,
    /// How long to scan, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    window: u64,
    /// The adapter to use: the first whose description contains this (e.g. hci1).
    #[arg(long)]
    adapter: Option<String>,
    /// Print the devices as a JSON array (`name`, `id`, `rssi`, `bars`).
    #[arg(long)]
    json: bool,
}

/// Runs `companion ble`.
pub async fn ble(args: BleArgs) -> Result<(), CliError> {
    match args.command {
        BleCommand::Scan(args) => scan(args).await,
    }
}

async fn scan(args: ScanArgs) -> Result<(), CliError> {
    let radio: Box<dyn Radio> = match args.transport {
        ScanTransport::Ble => Box::new(open_ble(args.prefix.clone(), args.adapter.clone()).await?),
        ScanTransport::Sim => Box::new(sandbox_radio(args.data_dir.clone())?),
    };
    let found = radio
        .scan(Duration::from_secs(args.window))
        .await
        .map_err(transport_error)?;
    let devices = strongest_first(found, args.min_rssi);
    if args.json {
        let array = devices
            .iter()
            .map(|d| {
                json!({
                    "name": d.name,
                    "id": d.id,
                    "rssi": d.rssi,
                    "bars": bars(d.rssi),
                })
            })
            .collect();
        output::json(&Value::Array(array));
        return Ok(());
    }
    if devices.is_empty() {
        output::line(&format!(
            "No provisioning device seen within {} s (names starting with {}).",
            args.window, args.prefix
        ));
        return Ok(());
    }
    let width = devices
        .iter()
        .map(|d| d.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let id_width = devices.iter().map(|d| d.id.len()).max().unwrap_or(2).max(2);
    output::row(&format!(
        "{:width$}  {:id_width$}  {:>8}  SIGNAL",
        "NAME", "ID", "RSSI"
    ));
    for device in &devices {
        let rssi = device
            .rssi
            .map_or_else(|| "-".to_owned(), |r| format!("{r} dBm"));
        output::row(&format!(
            "{:width$}  {:id_width$}  {rssi:>8}  {}",
            device.name,
            device.id,
            bars(device.rssi)
        ));
    }
    Ok(())
}

async fn open_ble(prefix: String, adapter: Option<String>) -> Result<BleRadio, CliError> {
    let config = BleConfig {
        adapter,
        name_prefix: prefix,
        ..BleConfig::default()
    };
    BleRadio::open(config).await.map_err(|error| {
        // No stack, no adapter, no permission, no system bus: the radio cannot be used.
        CliError::NotRunning(format!("cannot use Bluetooth: {error}"))
    })
}

/// The running local sandbox's simulated radio.
fn sandbox_radio(data_dir: Option<PathBuf>) -> Result<SandboxRadio, CliError> {
    let sandbox = running_sandbox(data_dir)?;
    let radio = sandbox.radio.ok_or_else(|| {
        CliError::NotRunning(
            "the running sandbox serves no simulated radio: restart it with this version of `companion sandbox`".into(),
        )
    })?;
    let address: SocketAddr = format!("{}:{}", radio.host, radio.port)
        .parse()
        .map_err(|e| {
            CliError::Failed(format!(
                "the sandbox's radio address {}:{} is not an address: {e}",
                radio.host, radio.port
            ))
        })?;
    Ok(SandboxRadio::new(address))
}

/// Scans `radio` until `device` (a name or an id) shows up or `window` has passed.
async fn find_on(
    radio: &dyn Radio,
    device: &str,
    window: Duration,
) -> Result<Discovered, CliError> {
    scan_for(radio, &[device], window)
        .await?
        .remove(device)
        .ok_or_else(|| {
            CliError::NotFound(format!(
                "no device {device} offers provisioning within {} s: check the name (`companion ble scan`), move closer, or power-cycle it",
                window.as_secs()
            ))
        })
}

/// Scans `radio` until every one of `wanted` (names or ids) has shown up or `window` has
/// passed; the devices seen, by the name or id they were asked for.
async fn scan_for(
    radio: &dyn Radio,
    wanted: &[&str],
    window: Duration,
) -> Result<BTreeMap<String, Discovered>, CliError> {
    let deadline = tokio::time::Instant::now() + window;
    let mut found = BTreeMap::new();
    loop {
        for seen in radio
            .scan(Duration::from_millis(250))
            .await
            .map_err(transport_error)?
        {
            if let Some(asked) = wanted
                .iter()
                .find(|w| seen.name == **w || seen.id.eq_ignore_ascii_case(w))
            {
                found.insert((*asked).to_owned(), seen);
            }
        }
        if found.len() == wanted.len() || tokio::time::Instant::now() >= deadline {
            return Ok(found);
        }
    }
}

/// The devices at or above `min_rssi` (those without a reading are kept), strongest first.
fn strongest_first(mut devices: Vec<Discovered>, min_rssi: Option<i16>) -> Vec<Discovered> {
    if let Some(min) = min_rssi {
        devices.retain(|d| d.rssi.is_none_or(|r| r >= min));
    }
    devices.sort_by(|a, b| {
        b.rssi
            .unwrap_or(i16::MIN)
            .cmp(&a.rssi.unwrap_or(i16::MIN))
            .then_with(|| a.name.cmp(&b.name))
    });
    devices
}

/// Signal bars for an RSSI: four at -55 dBm and above, none when unknown.
fn bars(rssi: Option<i16>) -> String {
    let Some(rssi) = rssi else {
        return "····".to_owned();
    };
    let count = match rssi {
        r if r >= -55 => 4,
        r if r >= -67 => 3,
        r if r >= -78 => 2,
        r if r >= -90 => 1,
        _ => 0,
    };
    ["▂", "▄", "▆", "█"]
        .iter()
        .enumerate()
        .map(|(i, bar)| if i < count { *bar } else { "·" })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// provision

/// Which transport to provision over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// Bluetooth LE: --device is the advertised name (e.g. PROV_1A2B3C) or the address.
    Ble,
    /// The device's own access point (join it first): --device is its HTTP address, e.g.
    /// 192.168.4.1 or http://192.168.4.1:80.
    Softap,
    /// The running local sandbox's simulated radio (`companion sandbox`): --device is the
    /// name on the box (e.g. PROV_1A2B3C) or its id.
    Sim,
}

/// Arguments of `companion provision`.
#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// The transport.
    #[arg(long, value_enum, default_value_t = Transport::Ble)]
    transport: Transport,
    /// The device: a BLE name or address, or a SoftAP address (default: the QR code's name).
    #[arg(long, value_name = "ID|URL", conflicts_with = "batch")]
    device: Option<String>,
    /// Provision every device listed in this CSV file, on the one --ssid network: a header
    /// line, then one device a line. Columns: `device` (required: its name, id or address),
    /// and as each device needs: `pop` (security 1), `username` and `password` (security 2),
    /// `sec` (0, 1 or 2, for firmware that does not say). Lines starting with # are skipped.
    #[arg(long, value_name = "FILE.csv", conflicts_with_all = ["pop", "pop_stdin", "qr", "password_stdin", "username", "sec"])]
    batch: Option<PathBuf>,
    /// With --batch: where to write the report (one line per device: outcome, failed step,
    /// cause, fix, thing, certificate; never a secret). Default: beside the input,
    /// `<name>-report-<time>.csv`.
    #[arg(long, value_name = "FILE.csv", requires = "batch")]
    report: Option<PathBuf>,
    /// With --batch: how many devices to provision at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=16))]
    parallel: u16,
    /// Security 1's proof of possession, as printed on the device (visible to other local
    /// users in the process list: prefer --pop-stdin on shared machines).
    #[arg(long, value_name = "P", conflicts_with = "qr")]
    pop: Option<String>,
    /// Read security 1's proof of possession from the first line of standard input.
    #[arg(long, conflicts_with_all = ["pop", "qr", "password_stdin"])]
    pop_stdin: bool,
    /// The device's QR code payload, e.g.
    /// '{"ver":"v1","name":"PROV_1A2B3C","pop":"abcd1234","transport":"ble"}'.
    #[arg(long, value_name = "JSON")]
    qr: Option<String>,
    /// Security 2's username (default: the QR code's, else wifiprov).
    #[arg(long, value_name = "U")]
    username: Option<String>,
    /// The security scheme, for firmware whose version answer does not name one (esp_prov's
    /// --sec_ver); a device that names another is refused. Default: what the device says.
    #[arg(long, value_name = "0|1|2", value_parser = clap::value_parser!(u32).range(0..=2))]
    sec: Option<u32>,
    /// Read security 2's password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    /// The Wi-Fi network the device joins.
    #[arg(long, value_name = "S")]
    ssid: String,
    /// Read the Wi-Fi password from a line of standard input (after the device password, when
    /// both are read); without it the network is taken as open.
    #[arg(long)]
    wifi_password_stdin: bool,
    /// Provision Wi-Fi only: no AWS IoT identity, no broker connection.
    #[arg(long)]
    wifi_only: bool,
    /// The fleet provisioning template to register the thing with.
    #[arg(long, value_name = "T", default_value = DEFAULT_TEMPLATE, conflicts_with = "wifi_only")]
    template: String,
    /// How long to look for the device (over BLE or the sandbox's radio), in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    scan_window: u64,
    /// How long the device may take to join the network, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 45)]
    wifi_timeout: u64,
    /// How long the device may take to reach the broker once on Wi-Fi, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    online_timeout: u64,
    /// Print each step as one line of JSON (`step`, `state`, `detail`, and for a failure
    /// `fix` and `remedy`), then the outcome as a last line with an `outcome` key.
    #[arg(long)]
    json: bool,
    /// Where fleet provisioning runs (ignored with --wifi-only); --profiles-dir is also where
    /// the provisioning audit is kept.
    #[command(flatten)]
    connection: ConnectionArgs,
}

/// The parts of an ESP provisioning QR code the CLI uses.
#[derive(Debug, Default, serde::Deserialize)]
struct QrCode {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    pop: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    transport: Option<String>,
}

/// Runs `companion provision`.
pub async fn run(args: ProvisionArgs) -> Result<(), CliError> {
    if let Some(file) = args.batch.clone() {
        return batch::run(&args, &file).await;
    }
    let qr = match &args.qr {
        Some(text) => serde_json::from_str::<QrCode>(text).map_err(|e| {
            CliError::Failed(format!(
                "the --qr payload is not a provisioning QR code: {e}"
            ))
        })?,
        None => QrCode::default(),
    };
    if let Some(transport) = &qr.transport {
        // The sandbox's devices are simulated BLE devices: their codes say "ble".
        let expected = match args.transport {
            Transport::Ble | Transport::Sim => "ble",
            Transport::Softap => "softap",
        };
        if !transport.eq_ignore_ascii_case(expected) {
            return Err(CliError::Failed(format!(
                "the QR code is for the {transport} transport, not {expected}: pass --transport {}",
                transport.to_ascii_lowercase()
            )));
        }
    }
    let device = args
        .device
        .clone()
        .or_else(|| qr.name.clone())
        .ok_or_else(|| {
            CliError::Failed("name the device with --device (or give its --qr code)".into())
        })?;
    let (proof, wifi) = secrets(&args, &qr)?;
    let (radio, discovered) = open_radio(&args, &device).await?;
    let cloud = if args.wifi_only {
        None
    } else {
        Some(Cloud::connect(&args).await?)
    };
    let result = attempt(&args, radio, discovered, proof, wifi, cloud.as_ref()).await;
    if let Some(cloud) = cloud {
        cloud.close().await;
    }
    result
}

async fn attempt(
    args: &ProvisionArgs,
    radio: Arc<dyn Radio>,
    discovered: Discovered,
    proof: Proof,
    wifi: WifiChoice,
    cloud: Option<&Cloud>,
) -> Result<(), CliError> {
    let signal = ShutdownSignal::install()?;
    let store = open_store(args).await?;
    let provisioning = provisioning(args, radio, cloud, &store);
    let attempt = provisioning
        .start(discovered, proof, Some(wifi))
        .await
        .map_err(|e| CliError::Failed(format!("the provisioning audit failed: {e}")))?;
    let result = tokio::select! {
        result = follow(args, attempt.view()) => result,
        _ = signal.wait() => {
            // Interrupted: end the attempt (the audit says cancelled; the device is freed).
            attempt.cancel().await;
            let view = attempt.view().borrow().clone();
            let _ = finish(args.json, &view, &Outcome::Cancelled);
            Err(CliError::Interrupted("provisioning was interrupted; the attempt is recorded as cancelled".into()))
        }
    };
    // A failed attempt waits for the user: end it, so the device is free.
    attempt.cancel().await;
    result
}

/// The broker side of an attempt: fleet provisioning on one connection, presence events into
/// an in-memory registry on another.
struct Cloud {
    fleet: Arc<FleetProvisioner>,
    fleet_connection: Connected,
    presence_connection: Connected,
    feeding: tokio::task::JoinHandle<()>,
    target: CloudTarget,
    registry: Registry,
    changes: watch::Receiver<u64>,
}

impl Cloud {
    async fn connect(args: &ProvisionArgs) -> Result<Self, CliError> {
        let template = TemplateName::new(args.template.as_str()).map_err(|e| {
            CliError::Failed(format!("\"{}\" is not a template name: {e}", args.template))
        })?;
        let target = cloud_target(&args.connection).await?;
        let fleet_connection = connect_or_unreachable(&args.connection).await?;
        let fleet = Arc::new(FleetProvisioner::new(
            fleet_connection.session().clone(),
            template,
        ));
        let presence_connection = match connect_or_unreachable(&args.connection).await {
            Ok(connected) => connected,
            Err(error) => {
                fleet_connection.close().await;
                return Err(error);
            }
        };
        let session = presence_connection.session().clone();
        let messages = session.messages();
        let subscribed = session
            .subscribe_many(
                REGISTRY_FILTERS
                    .iter()
                    .map(|filter| ((*filter).to_owned(), QoS::AtLeastOnce))
                    .collect(),
            )
            .await;
        if let Err(error) = subscribed {
            fleet_connection.close().await;
            presence_connection.close().await;
            return Err(CliError::Refused(format!(
                "the broker refused the presence subscriptions: {error}"
            )));
        }
        let store = Store::open_in_memory()
            .await
            .map_err(|e| CliError::Failed(format!("cannot open an in-memory registry: {e}")))?;
        let registry = Registry::new(store, "provision");
        let (bump, changes) = watch::channel(0u64);
        let feed = registry.clone();
        let feeding = tokio::spawn(async move {
            while let Some(message) = messages.recv().await {
                match feed.apply(&message.topic, &message.payload, now_ms()).await {
                    Ok(_) => bump.send_modify(|n| *n += 1),
                    Err(error) => tracing::warn!(%error, "a presence event was not recorded"),
                }
            }
        });
        Ok(Self {
            fleet,
            fleet_connection,
            presence_connection,
            feeding,
            target,
            registry,
            changes,
        })
    }

    async fn close(self) {
        self.feeding.abort();
        self.fleet_connection.close().await;
        self.presence_connection.close().await;
    }
}

/// Where the device's identity points: the running local sandbox's mutual-TLS listener with
/// its CA, or the broker's host on 8883 (the device keeps its built-in root CA).
async fn cloud_target(connection: &ConnectionArgs) -> Result<CloudTarget, CliError> {
    if let Some(sandbox) = connection.local_sandbox().await? {
        let mtls = sandbox.mtls.ok_or_else(|| {
            CliError::Failed(
                "the local sandbox runs without a mutual-TLS listener, so a provisioned device could not connect to it".into(),
            )
        })?;
        let ca = std::fs::read_to_string(&sandbox.ca).map_err(|e| {
            CliError::Failed(format!(
                "cannot read the sandbox CA at {}: {e}",
                sandbox.ca.display()
            ))
        })?;
        let root_ca_der = pem::parse(ca)
            .map(pem::Pem::into_contents)
            .map_err(|e| CliError::Failed(format!("the sandbox CA is not PEM: {e}")))?;
        return Ok(CloudTarget {
            endpoint: "localhost".to_owned(),
            port: mtls.port,
            root_ca_der,
        });
    }
    let spec = connection.spec().await?;
    Ok(CloudTarget {
        endpoint: spec.host,
        port: 8883,
        root_ca_der: Vec::new(),
    })
}

/// One line of standard input, without its line ending.
fn read_stdin_line(what: &str) -> Result<String, CliError> {
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) => Err(CliError::Failed(format!(
            "expected the {what} on standard input, found nothing"
        ))),
        Ok(_) => Ok(line.trim_end_matches(['\r', '\n']).to_owned()),
        Err(e) => Err(CliError::Failed(format!(
            "cannot read the {what} from standard input: {e}"
        ))),
    }
}

/// The Wi-Fi network and its password (a line of standard input with
/// --wifi-password-stdin; else an open network).
fn secrets_wifi(args: &ProvisionArgs) -> Result<WifiChoice, CliError> {
    let passphrase = if args.wifi_password_stdin {
        read_stdin_line("Wi-Fi password")?
    } else {
        String::new()
    };
    Ok(WifiChoice {
        ssid: args.ssid.clone(),
        passphrase: passphrase.as_str().into(),
    })
}

/// The proof and the Wi-Fi choice, from the flags, the QR code and standard input.
fn secrets(args: &ProvisionArgs, qr: &QrCode) -> Result<(Proof, WifiChoice), CliError> {
    let code = if args.pop_stdin {
        Some(read_stdin_line("proof of possession")?)
    } else {
        args.pop.clone().or_else(|| qr.pop.clone())
    };
    let password = if args.password_stdin {
        Some(read_stdin_line("device password")?)
    } else {
        // A security 2 QR code carries the password as its `pop`.
        code.clone()
    };
    let wifi = secrets_wifi(args)?;
    let proof = Proof {
        pop: code.as_deref().map(Into::into),
        username: args.username.clone().or_else(|| qr.username.clone()),
        password: password.as_deref().map(Into::into),
        scheme: args.sec.and_then(SecurityScheme::from_version),
    };
    Ok((proof, wifi))
}

/// The radio and the device on it.
async fn open_radio(
    args: &ProvisionArgs,
    device: &str,
) -> Result<(Arc<dyn Radio>, Discovered), CliError> {
    match args.transport {
        Transport::Ble => {
            let radio = open_ble(DEFAULT_NAME_PREFIX.to_owned(), None).await?;
            let found = radio
                .find(device, Duration::from_secs(args.scan_window))
                .await
                .map_err(transport_error)?;
            Ok((Arc::new(radio), found))
        }
        Transport::Softap => {
            let (radio, discovered) = softap_radio(args, device);
            Ok((Arc::new(radio), discovered))
        }
        Transport::Sim => {
            let radio = sandbox_radio(args.connection.sandbox_dir())?;
            let found = find_on(&radio, device, Duration::from_secs(args.scan_window)).await?;
            Ok((Arc::new(radio), found))
        }
    }
}

/// The CLI's database, where the provisioning audit is kept.
async fn open_store(args: &ProvisionArgs) -> Result<Store, CliError> {
    let path = database_path(args.connection.profiles_dir())?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| {
            CliError::Failed(format!(
                "cannot create the data directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    Store::open(&path)
        .await
        .map_err(|e| CliError::Failed(e.to_string()))
}

/// The SoftAP radio for the device at `address`, and the device as a scan would name it.
fn softap_radio(args: &ProvisionArgs, address: &str) -> (SoftApRadio, Discovered) {
    // HTTP cannot list a device's endpoints: asking for an identity says the device offers
    // the credential endpoint.
    let custom_endpoints = if args.wifi_only {
        Vec::new()
    } else {
        vec![companion_espprov::credentials::APP_LABEL.to_owned()]
    };
    let radio = SoftApRadio::new(SoftApConfig {
        custom_endpoints,
        ..SoftApConfig::device(address)
    });
    let discovered = Discovered {
        id: address.to_owned(),
        name: address
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned(),
        rssi: None,
        kind: TransportKind::SoftAp,
    };
    (radio, discovered)
}

/// Provisioning over `radio` (with fleet provisioning when `cloud` is there), audited into
/// `store`.
fn provisioning(
    args: &ProvisionArgs,
    radio: Arc<dyn Radio>,
    cloud: Option<&Cloud>,
    store: &Store,
) -> Provisioning {
    let (fleet, target, registry, fleet_changes) = match cloud {
        Some(cloud) => (
            Some(cloud.fleet.clone()),
            cloud.target.clone(),
            cloud.registry.clone(),
            cloud.changes.clone(),
        ),
        None => {
            // No identity is delivered, so the online step is skipped and the registry is
            // never read: the audit's store stands in for it.
            let (_bump, changes) = watch::channel(0);
            let target = CloudTarget {
                endpoint: String::new(),
                port: 8883,
                root_ca_der: Vec::new(),
            };
            (
                None,
                target,
                Registry::new(store.clone(), "provision"),
                changes,
            )
        }
    };
    Provisioning {
        radio,
        fleet,
        cloud: target,
        registry,
        fleet_changes,
        audit: Audit::new(store.clone()),
        timeouts: Timeouts {
            wifi: Duration::from_secs(args.wifi_timeout),
            online: Duration::from_secs(args.online_timeout),
            ..Timeouts::default()
        },
    }
}

/// Prints each step as it changes until the attempt ends or fails; the exit code follows.
async fn follow(
    args: &ProvisionArgs,
    mut view: watch::Receiver<AttemptView>,
) -> Result<(), CliError> {
    let mut printed: Vec<(Step, StepState)> = Vec::new();
    loop {
        let current = view.borrow_and_update().clone();
        for (step, state) in &current.steps {
            let shown = printed.iter().find(|(s, _)| s == step).map(|(_, s)| s);
            if shown != Some(state) && is_final(state) {
                print_step(args.json, *step, state);
                printed.retain(|(s, _)| s != step);
                printed.push((*step, state.clone()));
            }
        }
        match &current.outcome {
            Outcome::Running => {}
            outcome => return finish(args.json, &current, outcome),
        }
        if view.changed().await.is_err() {
            let last = view.borrow().clone();
            return finish(args.json, &last, &last.outcome);
        }
    }
}

fn is_final(state: &StepState) -> bool {
    matches!(
        state,
        StepState::Passed(_) | StepState::Skipped(_) | StepState::Failed(_)
    )
}

fn print_step(json: bool, step: Step, state: &StepState) {
    if json {
        let value = match state {
            StepState::Passed(detail) => {
                json!({"step": step.name(), "state": "passed", "detail": detail})
            }
            StepState::Skipped(detail) => {
                json!({"step": step.name(), "state": "skipped", "detail": detail})
            }
            StepState::Failed(failure) => json!({
                "step": step.name(),
                "state": "failed",
                "detail": failure.cause,
                "fix": failure.fix,
                "remedy": remedy_name(failure.remedy),
            }),
            _ => return,
        };
        output::json(&value);
        return;
    }
    let line = match state {
        StepState::Passed(detail) => format!("✓ {:<12} {detail}", step.name()),
        StepState::Skipped(detail) => format!("– {:<12} {detail}", step.name()),
        StepState::Failed(failure) => {
            format!("✕ {:<12} {} — {}", step.name(), failure.cause, failure.fix)
        }
        _ => return,
    };
    output::line(&line);
}

fn remedy_name(remedy: Remedy) -> &'static str {
    match remedy {
        Remedy::Retry => "retry",
        Remedy::ReenterWifi => "reenter_wifi",
        Remedy::StartOver => "start_over",
    }
}

/// The outcome line, and the error its failure maps to.
fn finish(json: bool, view: &AttemptView, outcome: &Outcome) -> Result<(), CliError> {
    let (name, text) = match outcome {
        Outcome::Online { thing } => ("online", format!("{thing} is online.")),
        Outcome::WifiOnly => (
            "wifi_only",
            format!(
                "{} is on Wi-Fi (no AWS IoT identity was delivered).",
                view.device.name
            ),
        ),
        Outcome::Failed(step) => ("failed", format!("Failed at {}.", step.name())),
        Outcome::Cancelled => ("cancelled", "Cancelled.".to_owned()),
        Outcome::Running => ("running", "Still running.".to_owned()),
    };
    if json {
        output::json(&json!({
            "outcome": name,
            "device": view.device.name,
            "thing": view.thing_name,
            "certificateId": view.certificate_id,
            "auditId": view.id,
        }));
    } else {
        output::line(&text);
    }
    match outcome {
        Outcome::Online { .. } | Outcome::WifiOnly => Ok(()),
        Outcome::Failed(step) => Err(failure_error(*step, view.state(*step))),
        Outcome::Cancelled | Outcome::Running => {
            Err(CliError::Failed(format!("provisioning {text}")))
        }
    }
}

/// Exit 4 for a refused proof, 5 for a timeout, 3 when the device cannot be reached, else 1.
fn failure_error(step: Step, state: &StepState) -> CliError {
    let StepState::Failed(failure) = state else {
        return CliError::Failed(format!("provisioning failed at {}", step.name()));
    };
    let message = format!("{}: {} {}", step.name(), failure.cause, failure.fix);
    if failure.remedy == Remedy::StartOver && step == Step::Session {
        CliError::Refused(message)
    } else if failure.cause.contains("within") || failure.cause.contains("did not answer") {
        CliError::Timeout(message)
    } else if step == Step::Connect {
        CliError::NotRunning(message)
    } else {
        CliError::Failed(message)
    }
}

fn transport_error(error: TransportError) -> CliError {
    match error {
        TransportError::NoRadio(_) | TransportError::PermissionDenied(_) => {
            CliError::NotRunning(error.to_string())
        }
        TransportError::NotFound(_) => CliError::NotFound(error.to_string()),
        TransportError::Timeout { .. } => CliError::Timeout(error.to_string()),
        other => CliError::Failed(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(name: &str, rssi: Option<i16>) -> Discovered {
        Discovered {
            id: format!("id-{name}"),
            name: name.into(),
            rssi,
            kind: TransportKind::Ble,
        }
    }

    #[test]
    fn scans_are_filtered_and_strongest_first() {
        let found = vec![
            device("PROV_A", Some(-80)),
            device("PROV_B", Some(-40)),
            device("PROV_C", None),
            device("PROV_D", Some(-95)),
        ];
        let names: Vec<String> = strongest_first(found, Some(-90))
            .into_iter()
            .map(|d| d.name)
            .collect();
        assert_eq!(names, ["PROV_B", "PROV_A", "PROV_C"]);
    }

    #[test]
    fn bars_follow_the_signal() {
        assert_eq!(bars(Some(-40)), "▂▄▆█");
        assert_eq!(bars(Some(-60)), "▂▄▆·");
        assert_eq!(bars(Some(-85)), "▂···");
        assert_eq!(bars(Some(-99)), "····");
        assert_eq!(bars(None), "····");
    }
}
