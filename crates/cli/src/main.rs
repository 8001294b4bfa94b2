//! `companion`: the IoT Companion engine from the command line, for technicians and scripts.
//!
//! Exit codes: 0 success, 1 failure, 2 usage error (from clap), 3 the sandbox is not running,
//! the broker cannot be reached or there is no usable radio, 4 a request was refused (a shadow
//! conflict, a name already taken, an identity still in use, a wrong proof of possession), 5 no
//! answer in time, 6 not found (a profile, an identity, a password, a job execution or a
//! device), 130 interrupted (Ctrl-C) where a command ends an operation cleanly first.

mod cert;
mod connection;
mod control;
mod devices;
mod doctor;
mod jobs;
mod mqtt;
mod output;
mod profile;
mod provision;
mod sandbox;
mod shadow;
mod telemetry;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// IoT Companion: provision and control AWS IoT devices.
#[derive(Debug, Parser)]
#[command(name = "companion", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log more (repeat for more detail); logs go to standard error.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run or manage the local AWS IoT Core stand-in.
    Sandbox(sandbox::SandboxArgs),
    /// Publish one MQTT message (to the local sandbox unless --profile or --host is given).
    Pub(mqtt::PubArgs),
    /// Print MQTT messages on topic filters (from the local sandbox unless --profile or --host
    /// is given).
    Sub(mqtt::SubArgs),
    /// Try to connect and say what is wrong and how to fix it.
    Doctor(doctor::DoctorArgs),
    /// Read, change and follow Device Shadows.
    Shadow(shadow::ShadowArgs),
    /// Save connection profiles and choose the one commands use.
    Profile(profile::ProfileArgs),
    /// Keep client certificates and their keys in the OS keyring.
    Cert(cert::CertArgs),
    /// List the things the CLI can see: the local sandbox's registry, or the devices heard
    /// from within --window seconds.
    ///
    /// AWS IoT's list of things (ListThings) is a control-plane HTTPS API that the CLI does
    /// not call. On the local sandbox the list is the sandbox's own thing registry (simulated
    /// and provisioned things, their model, certificates and last connection; it does not
    /// record whether a device is online now). On a profile or --host the CLI listens for
    /// --window seconds to lifecycle events, classic shadow documents, Jobs notifications and
    /// telemetry, and lists the things that showed themselves: a device that stays quiet
    /// during the window is not listed.
    Devices(devices::DevicesArgs),
    /// Print a device's telemetry as it arrives, one line per reading, then a per-series
    /// summary (after --window seconds, or on Ctrl-C).
    Telemetry(telemetry::TelemetryArgs),
    /// Show a thing's queued and in-progress job executions (AWS IoT Jobs over MQTT), or one
    /// execution's status, details and progress with --job.
    Jobs(jobs::JobsArgs),
    /// Bluetooth LE (or the local sandbox's simulated radio): scan for devices that offer
    /// provisioning.
    Ble(provision::BleArgs),
    /// Provision a device over Bluetooth LE, its SoftAP or the local sandbox's simulated radio
    /// (ESP unified provisioning): secure session, Wi-Fi credentials and, unless --wifi-only,
    /// an AWS IoT identity from fleet provisioning; each step is printed as it changes.
    ///
    /// Secrets are read from standard input, one line each (the proof of possession or the
    /// device password, then the Wi-Fi password), or taken from the device's QR code; they are
    /// never printed. With --batch, many devices from a CSV file, several at a time, with a
    /// summary and a CSV report.
    Provision(provision::ProvisionArgs),
}

/// A failure with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A general failure (exit 1).
    #[error("{0}")]
    Failed(String),
    /// The sandbox this command talks to is not running, or the broker cannot be reached
    /// (exit 3).
    #[error("{0}")]
    NotRunning(String),
    /// The sandbox refused the request (exit 4).
    #[error("{0}")]
    Refused(String),
    /// No answer in time (exit 5).
    #[error("{0}")]
    Timeout(String),
    /// What was asked for does not exist (exit 6).
    #[error("{0}")]
    NotFound(String),
    /// Interrupted by Ctrl-C or SIGTERM after ending the operation cleanly (exit 130).
    #[error("{0}")]
    Interrupted(String),
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            Self::Failed(_) => 1,
            Self::NotRunning(_) => 3,
            Self::Refused(_) => 4,
            Self::Timeout(_) => 5,
            Self::NotFound(_) => 6,
            Self::Interrupted(_) => 130,
        }
    }
}

fn main() -> ExitCode {
    // Before the async runtime starts its threads: they must share one session keyring.
    companion_core::vault::join_session_keyring_early();
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            return fail(&CliError::Failed(format!(
                "cannot start the async runtime: {error}"
            )));
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Sandbox(args) => sandbox::run(args).await,
            Command::Pub(args) => mqtt::publish(args).await,
            Command::Sub(args) => mqtt::subscribe(args).await,
            Command::Doctor(args) => doctor::run(args).await,
            Command::Shadow(args) => shadow::run(args).await,
            Command::Profile(args) => profile::run(args).await,
            Command::Cert(args) => cert::run(args).await,
            Command::Devices(args) => devices::run(args).await,
            Command::Telemetry(args) => telemetry::run(args).await,
            Command::Jobs(args) => jobs::run(args).await,
            Command::Ble(args) => provision::ble(args).await,
            Command::Provision(args) => provision::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

fn fail(error: &CliError) -> ExitCode {
    output::error(&error.to_string());
    ExitCode::from(error.exit_code())
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        // rumqttd reports its clients' ordinary disconnects as errors; the sandbox's own gateway
        // reports what matters.
        // The session's own warnings repeat what `doctor`, `pub` and `sub` report.
        0 => "warn,rumqttd=off,companion_core::session=error",
        1 => "info,rumqttd=off",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
