//! `companion sandbox`: runs the local AWS IoT Core stand-in until interrupted, and manages a
//! running one.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use companion_sandbox::connect::Endpoint;
use companion_sandbox::devices::FleetSpec;
use companion_sandbox::radio::demo::{DEMO_NETWORK, add_demo_devices};
use companion_sandbox::radio::http::RadioServer;
use companion_sandbox::radio::{DeviceLabel, LinkModel};
use companion_sandbox::{Sandbox, SandboxConfig};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::watch;

use crate::control::{self, Control, CreateJobRequest};
use crate::{CliError, output};

/// Arguments of `companion sandbox`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SandboxArgs {
    #[command(subcommand)]
    action: Option<Action>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Manage jobs on the running sandbox.
    Job {
        #[command(subcommand)]
        action: JobAction,
    },
}

#[derive(Debug, Subcommand)]
enum JobAction {
    /// Queue a job for one or more things; their devices get it through the Jobs MQTT API.
    Create(JobCreateArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Where the CA, the database and the templates live.
    #[arg(long, env = "COMPANION_SANDBOX_DIR")]
    data_dir: Option<PathBuf>,
    /// The plain MQTT listener (for local tools; no authentication).
    #[arg(long, default_value = "127.0.0.1:1883")]
    plain: SocketAddr,
    /// The mutual-TLS MQTT listener (client certificates signed by the sandbox CA).
    #[arg(long, default_value = "127.0.0.1:8883")]
    mtls: SocketAddr,
    /// Attach the services to this broker instead of the embedded one, e.g.
    /// `mqtt://127.0.0.1:1883` (plain TCP; the broker must allow `$aws/...` topics).
    #[arg(long, value_name = "URL")]
    broker: Option<String>,
    /// How many simulated devices to run (thermostats, plugs and lights, in turn).
    #[arg(long, default_value_t = 3)]
    devices: usize,
    /// How many new devices in their boxes to put on the simulated radio, for `companion
    /// provision --transport sim` (a security 1 plug, a security 2 light and a Wi-Fi-only
    /// thermostat, in turn; they join the network `Workshop`, passphrase `provision-me`).
    #[arg(long, default_value_t = 3)]
    provisionable: usize,
    /// The simulated radio's time per GATT operation, in milliseconds (a phone's link is
    /// 15–50 ms; raise it to watch each provisioning step).
    #[arg(long, value_name = "MS", default_value_t = 5)]
    gatt_latency: u64,
    /// Where the simulated radio is served for other processes (loopback HTTP).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    radio: SocketAddr,
    /// Seeds the simulated devices: the same seed gives the same fleet and readings.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print the endpoints as one line of JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct JobCreateArgs {
    /// The job's id (letters, digits, `-` and `_`, up to 64 characters).
    #[arg(long)]
    job_id: String,
    /// A thing to run it on; repeat for several.
    #[arg(long = "thing", required = true)]
    things: Vec<String>,
    /// The job document as JSON, e.g. '{"operation":"firmware-update","version":"1.2.0"}'.
    #[arg(long)]
    document: String,
    /// The data directory of the running sandbox.
    #[arg(long, env = "COMPANION_SANDBOX_DIR")]
    data_dir: Option<PathBuf>,
}

/// What a running sandbox writes to `<data dir>/sandbox.json` so that other commands find it.
#[derive(Debug, Serialize, Deserialize)]
struct RuntimeInfo {
    pid: u32,
    devices: Vec<String>,
    plain: Address,
    mtls: Option<Address>,
    /// The simulated radio's loopback HTTP server.
    #[serde(default)]
    radio: Option<Address>,
    ca: PathBuf,
    data_dir: PathBuf,
}

/// A listener's host and port.
#[derive(Debug, Serialize, Deserialize)]
pub struct Address {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

const RUNTIME_FILE: &str = "sandbox.json";

/// Runs `companion sandbox …`.
pub async fn run(args: SandboxArgs) -> Result<(), CliError> {
    match args.action {
        None => serve(args.run).await,
        Some(Action::Job {
            action: JobAction::Create(create),
        }) => create_job(create).await,
    }
}

async fn serve(args: RunArgs) -> Result<(), CliError> {
    let data_dir = data_dir(args.data_dir.clone())?;
    let signal = ShutdownSignal::install()?;
    let mut config = SandboxConfig::new(&data_dir);
    config.plain_listen = args.plain;
    config.mtls_listen = args.mtls;
    config.external_broker = args.broker.as_deref().map(parse_broker_url).transpose()?;
    let sandbox = Sandbox::start(config)
        .await
        .map_err(|e| CliError::Failed(format!("the sandbox did not start: {e}")))?;
    let spec = FleetSpec {
        seed: args.seed,
        count: args.devices,
        ..FleetSpec::default()
    };
    let fleet = match sandbox.spawn_fleet(&spec).await {
        Ok(fleet) => fleet,
        Err(error) => {
            sandbox.shutdown().await;
            return Err(CliError::Failed(format!(
                "the simulated devices did not start: {error}"
            )));
        }
    };
    let (radio_server, boxes) = match start_radio(&sandbox, &args).await {
        Ok(started) => started,
        Err(error) => {
            let _ = fleet.shutdown().await;
            sandbox.shutdown().await;
            return Err(error);
        }
    };
    let control = match Control::start(&sandbox).await {
        Ok(control) => control,
        Err(error) => {
            radio_server.shutdown().await;
            let _ = fleet.shutdown().await;
            sandbox.shutdown().await;
            return Err(error);
        }
    };
    let devices = fleet
        .things()
        .map(|(thing, _)| thing.as_str().to_owned())
        .collect();
    let mut info = runtime_info(&sandbox, &data_dir, devices);
    info.radio = Some(Address {
        host: radio_server.address().ip().to_string(),
        port: radio_server.address().port(),
    });
    write_runtime_file(&info)?;
    announce(&info, &boxes, args.json);

    let (stop, stopped) = watch::channel(false);
    let control = control.serve(&sandbox, stopped);
    let result = tokio::select! {
        result = control => result,
        stopped = signal.wait() => stopped,
    };
    let _ = stop.send(true);
    let _ = std::fs::remove_file(data_dir.join(RUNTIME_FILE));
    radio_server.shutdown().await;
    if let Err(error) = fleet.shutdown().await {
        output::error(&format!("a simulated device did not stop cleanly: {error}"));
    }
    sandbox.shutdown().await;
    if !args.json {
        output::line("Sandbox stopped.");
    }
    result
}

/// The demo devices in their boxes on the radio, and the radio served on loopback.
async fn start_radio(
    sandbox: &Sandbox,
    args: &RunArgs,
) -> Result<(RadioServer, Vec<DeviceLabel>), CliError> {
    let radio = sandbox.radio();
    radio.set_link_model(LinkModel {
        op_latency: Duration::from_millis(args.gatt_latency),
        ..radio.link_model()
    });
    let boxes = add_demo_devices(&radio, args.seed, args.provisionable)
        .map_err(|e| CliError::Failed(format!("the provisionable devices were not added: {e}")))?;
    let server = RadioServer::start(sandbox.radio(), args.radio)
        .await
        .map_err(|e| {
            CliError::Failed(format!(
                "the simulated radio cannot listen on {}: {e}",
                args.radio
            ))
        })?;
    Ok((server, boxes))
}

async fn create_job(args: JobCreateArgs) -> Result<(), CliError> {
    let document: serde_json::Value = serde_json::from_str(&args.document)
        .map_err(|e| CliError::Failed(format!("--document is not valid JSON: {e}")))?;
    let info = read_runtime_file(&data_dir(args.data_dir)?)?;
    let endpoint = Endpoint {
        host: info.plain.host,
        port: info.plain.port,
        tls: None,
    };
    let request = CreateJobRequest {
        client_token: uuid::Uuid::new_v4().simple().to_string(),
        job_id: args.job_id,
        targets: args.things,
        document,
    };
    control::request_job(&endpoint, &request).await?;
    output::line(&format!(
        "Queued job {} for {}.",
        request.job_id,
        request.targets.join(", ")
    ));
    Ok(())
}

/// The listeners and CA of the local sandbox running with `data_dir` (or the default one).
pub fn running_sandbox(data_dir: Option<PathBuf>) -> Result<RunningSandbox, CliError> {
    let info = read_runtime_file(&self::data_dir(data_dir)?)?;
    Ok(RunningSandbox {
        plain: info.plain,
        mtls: info.mtls,
        radio: info.radio,
        ca: info.ca,
        data_dir: info.data_dir,
    })
}

/// A running local sandbox, as its `sandbox.json` describes it.
#[derive(Debug)]
pub struct RunningSandbox {
    /// The plain listener.
    pub plain: Address,
    /// The mutual-TLS listener, unless attached to an external broker.
    pub mtls: Option<Address>,
    /// The simulated radio's loopback HTTP server (older sandboxes have none).
    pub radio: Option<Address>,
    /// The CA certificate file.
    pub ca: PathBuf,
    /// Its data directory (the database with its thing registry lives there).
    pub data_dir: PathBuf,
}

fn data_dir(explicit: Option<PathBuf>) -> Result<PathBuf, CliError> {
    explicit
        .or_else(|| dirs::data_dir().map(|dir| dir.join("iot-companion").join("sandbox")))
        .ok_or_else(|| CliError::Failed("cannot find a data directory; pass --data-dir".into()))
}

fn parse_broker_url(url: &str) -> Result<Endpoint, CliError> {
    let rest = url.strip_prefix("mqtt://").ok_or_else(|| {
        CliError::Failed(format!(
            "--broker {url}: only plain `mqtt://host:port` brokers can be attached"
        ))
    })?;
    let (host, port) = rest.rsplit_once(':').unwrap_or((rest, "1883"));
    let port = port
        .trim_end_matches('/')
        .parse()
        .map_err(|_| CliError::Failed(format!("--broker {url}: the port must be a number")))?;
    Ok(Endpoint {
        host: host.to_owned(),
        port,
        tls: None,
    })
}

fn runtime_info(sandbox: &Sandbox, data_dir: &Path, devices: Vec<String>) -> RuntimeInfo {
    let plain = sandbox.plain_endpoint();
    RuntimeInfo {
        pid: std::process::id(),
        devices,
        plain: Address {
            host: plain.host,
            port: plain.port,
        },
        mtls: sandbox.mtls_address().map(|address| Address {
            host: "localhost".into(),
            port: address.port(),
        }),
        radio: None,
        ca: sandbox.ca_pem_path().to_path_buf(),
        data_dir: data_dir.to_path_buf(),
    }
}

fn write_runtime_file(info: &RuntimeInfo) -> Result<(), CliError> {
    let path = info.data_dir.join(RUNTIME_FILE);
    let text = serde_json::to_string_pretty(info).unwrap_or_default();
    std::fs::write(&path, text)
        .map_err(|e| CliError::Failed(format!("cannot write {}: {e}", path.display())))
}

fn read_runtime_file(data_dir: &Path) -> Result<RuntimeInfo, CliError> {
    let path = data_dir.join(RUNTIME_FILE);
    let text = std::fs::read_to_string(&path).map_err(|_| {
        CliError::NotRunning(format!(
            "no sandbox is running with data directory {} (start one with `companion sandbox`)",
            data_dir.display()
        ))
    })?;
    serde_json::from_str(&text)
        .map_err(|e| CliError::Failed(format!("{} is damaged: {e}", path.display())))
}

/// What a box's label says, as the technician reads it: the sandbox's demo secrets are
/// printed on purpose (they are the sandbox's, like the CA it prints the path of).
fn box_label(label: &DeviceLabel) -> serde_json::Value {
    let secret = String::from_utf8_lossy(label.secret.expose()).into_owned();
    json!({
        "name": label.name,
        "id": label.id,
        "serial": label.serial,
        "model": label.kind.as_str(),
        "security": label.security.version(),
        "username": label.username,
        "pop": secret,
    })
}

fn announce(info: &RuntimeInfo, boxes: &[DeviceLabel], as_json: bool) {
    if as_json {
        output::json(&json!({
            "plain": { "host": info.plain.host, "port": info.plain.port },
            "mtls": info.mtls.as_ref().map(|a| json!({ "host": a.host, "port": a.port })),
            "radio": info.radio.as_ref().map(|a| json!({ "host": a.host, "port": a.port })),
            "ca": info.ca,
            "dataDir": info.data_dir,
            "devices": info.devices,
            "boxes": boxes.iter().map(box_label).collect::<Vec<_>>(),
            "network": { "ssid": DEMO_NETWORK.0, "passphrase": DEMO_NETWORK.1 },
        }));
        return;
    }
    let plain = format!("mqtt://{}:{}", info.plain.host, info.plain.port);
    output::line("IoT Companion sandbox: a local AWS IoT Core");
    output::line(&format!("  data dir    {}", info.data_dir.display()));
    output::line(&format!("  CA          {}", info.ca.display()));
    output::line(&format!(
        "  MQTT        {plain}  (plain TCP, for local tools)"
    ));
    if let Some(mtls) = &info.mtls {
        output::line(&format!(
            "  MQTT+mTLS   mqtts://{}:{}  (client certificates signed by the CA)",
            mtls.host, mtls.port
        ));
    }
    if !info.devices.is_empty() {
        output::line(&format!("  devices     {}", info.devices.join(", ")));
    }
    if let Some(radio) = &info.radio {
        output::line(&format!(
            "  radio       http://{}:{}  (the simulated BLE radio, for --transport sim)",
            radio.host, radio.port
        ));
    }
    if !boxes.is_empty() {
        output::line("");
        output::line(&format!(
            "New devices in their boxes (they join Wi-Fi {:?}, passphrase {:?}):",
            DEMO_NETWORK.0, DEMO_NETWORK.1
        ));
        for label in boxes {
            let secret = String::from_utf8_lossy(label.secret.expose()).into_owned();
            let proof = match &label.username {
                Some(username) => format!("user {username} / password {secret}"),
                None => format!("PoP {secret}"),
            };
            output::line(&format!(
                "  {}  {:<10} security {}  {proof}",
                label.name,
                label.kind.as_str(),
                label.security.version()
            ));
        }
    }
    output::line("");
    output::line("Watch every shadow change:");
    output::line(&format!(
        "  mosquitto_sub -h {} -p {} -t '$aws/things/+/shadow/update/documents' -v",
        info.plain.host, info.plain.port
    ));
    output::line("Queue a job:");
    output::line(
        "  companion sandbox job create --job-id fw-1 --thing <thing> --document '{\"operation\":\"firmware-update\",\"version\":\"1.2.0\"}'",
    );
    if let Some(label) = boxes.first() {
        let secret = String::from_utf8_lossy(label.secret.expose()).into_owned();
        output::line("Provision a device:");
        output::line(&format!(
            "  echo {} | companion provision --transport sim --device {} --pop {secret} --ssid {} --wifi-password-stdin",
            DEMO_NETWORK.1, label.name, DEMO_NETWORK.0
        ));
    }
    output::line("Press Ctrl-C to stop.");
}

/// SIGINT (Ctrl-C) and SIGTERM, watched from before the sandbox announces itself, so that a
/// signal sent right after the announcement is never missed.
pub(crate) struct ShutdownSignal {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    pub(crate) fn install() -> Result<Self, CliError> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let watch = |kind: SignalKind| {
                signal(kind).map_err(|e| CliError::Failed(format!("cannot watch for signals: {e}")))
            };
            Ok(Self {
                interrupt: watch(SignalKind::interrupt())?,
                terminate: watch(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    pub(crate) async fn wait(mut self) -> Result<(), CliError> {
        self.wait_ref().await;
        Ok(())
    }

    /// Waits for the next signal, keeping the watch (a later signal is heard too).
    pub(crate) async fn wait_ref(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broker_url_gives_host_and_port() {
        let endpoint = parse_broker_url("mqtt://127.0.0.1:1884").unwrap();
        assert_eq!((endpoint.host.as_str(), endpoint.port), ("127.0.0.1", 1884));
        let default_port = parse_broker_url("mqtt://broker.local").unwrap();
        assert_eq!(default_port.port, 1883, "mqtt:// defaults to 1883");
    }

    #[test]
    fn a_broker_url_that_is_not_plain_mqtt_is_refused_with_the_reason() {
        let error = parse_broker_url("mqtts://127.0.0.1:8883")
            .unwrap_err()
            .to_string();
        assert!(error.contains("only plain"), "{error}");
        let error = parse_broker_url("mqtt://host:port")
            .unwrap_err()
            .to_string();
        assert!(error.contains("port must be a number"), "{error}");
    }
}
