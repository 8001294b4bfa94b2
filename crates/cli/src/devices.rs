//! `companion devices`: the things the CLI can see.
//!
//! AWS IoT's list of things (ListThings) belongs to the control plane, an HTTPS API with AWS
//! credentials that the CLI does not call. So:
//!
//! * on the local sandbox, the list is the sandbox's own thing registry (`sandbox.db` in its
//!   data directory, opened read-only through `companion_sandbox::db::Registry`): every thing
//!   registered by fleet provisioning or as a simulated device, with its attributes,
//!   certificates and last connection;
//! * on any other broker (a profile or `--host`), the CLI listens for `--window` seconds to
//!   lifecycle events, classic shadow documents, Jobs notifications and telemetry, feeds them
//!   to the engine's fleet registry (in memory) and lists the things that showed themselves.
//!   A device that stays quiet during the window is not listed.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use clap::Args;
use companion_core::doctor::Cause;
use companion_core::registry::{self, FILTERS, NewThing, Presence, Registry, Source, ThingQuery};
use companion_core::session::QoS;
use companion_core::store::Store;
use companion_core::telemetry::{TelemetrySubscriptions, now_ms};
use companion_sandbox::db::{DATABASE_FILE, Registry as SandboxRegistry, Thing as SandboxThing};
use serde_json::{Value, json};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use crate::connection::ConnectionArgs;
use crate::mqtt::{Connected, Trouble, connect_or_unreachable, trouble};
use crate::sandbox::RunningSandbox;
use crate::{CliError, output};

/// How long to wait for the sandbox's listener to accept a connection.
const ALIVE_WITHIN: Duration = Duration::from_secs(3);

/// Arguments of `companion devices`.
#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// On a profile or --host: how long to listen for devices. (The local sandbox is read
    /// from its registry at once.)
    #[arg(long, value_name = "SECONDS", default_value_t = 3)]
    window: u64,
    /// Print the list as one line of JSON: `source` (`sandbox` or `observed`) and `things`.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connection: ConnectionArgs,
}

/// Runs `companion devices …`.
pub async fn run(args: DevicesArgs) -> Result<(), CliError> {
    match args.connection.local_sandbox().await? {
        Some(sandbox) => from_sandbox(&sandbox, args.json).await,
        None => observe(&args).await,
    }
}

// ---------------------------------------------------------------------------------------------
// The local sandbox's registry

async fn from_sandbox(sandbox: &RunningSandbox, as_json: bool) -> Result<(), CliError> {
    alive(sandbox).await?;
    let path = sandbox.data_dir.join(DATABASE_FILE);
    let things = read_registry(&path).await?;
    if as_json {
        let things: Vec<Value> = things.iter().map(sandbox_thing_json).collect();
        output::json(&json!({
            "source": "sandbox",
            "registry": path,
            "things": things,
        }));
        return Ok(());
    }
    if things.is_empty() {
        output::line(&format!(
            "The sandbox's registry ({}) has no things yet: start it with --devices N or provision a device.",
            path.display()
        ));
        return Ok(());
    }
    let width = name_width(things.iter().map(|t| t.name.as_str()));
    output::row(&format!(
        "{:<width$}  {:<12}  {:<11}  {:<24}  {}",
        "NAME", "MODEL", "ORIGIN", "LAST CONNECTED", "CERTIFICATES"
    ));
    for thing in &things {
        let model = thing.attributes.get("model").map_or("-", String::as_str);
        let origin = if is_simulated(thing) {
            "simulated"
        } else {
            "provisioned"
        };
        let last = thing.last_seen_ms.map_or_else(|| "never".to_owned(), ms);
        output::row(&format!(
            "{:<width$}  {model:<12}  {origin:<11}  {last:<24}  {}",
            thing.name,
            thing.certificate_ids.len()
        ));
    }
    output::line(&format!(
        "{} things in the sandbox's registry ({}). It records connections, not presence: `companion shadow get <thing>` shows what a device reports.",
        things.len(),
        path.display()
    ));
    Ok(())
}

/// Fails with "not running" when the sandbox named by `sandbox.json` no longer listens (it
/// was killed and left the file behind).
async fn alive(sandbox: &RunningSandbox) -> Result<(), CliError> {
    let address = (sandbox.plain.host.as_str(), sandbox.plain.port);
    let connected = tokio::time::timeout(ALIVE_WITHIN, tokio::net::TcpStream::connect(address))
        .await
        .is_ok_and(|result| result.is_ok());
    if connected {
        return Ok(());
    }
    Err(CliError::NotRunning(format!(
        "the sandbox recorded in {} does not answer on {}:{}; start it again with `companion sandbox`",
        sandbox.data_dir.join("sandbox.json").display(),
        sandbox.plain.host,
        sandbox.plain.port
    )))
}

/// Every thing of the sandbox registry at `path`, read through a read-only connection (the
/// running sandbox owns the file; nothing here writes or migrates it).
async fn read_registry(path: &Path) -> Result<Vec<SandboxThing>, CliError> {
    let unreadable = |error: &dyn std::fmt::Display| {
        CliError::Failed(format!(
            "cannot read the sandbox's registry at {}: {error}; check that the sandbox's data directory is readable",
            path.display()
        ))
    };
    if !path.is_file() {
        return Err(CliError::NotFound(format!(
            "the sandbox has no registry at {}; start it with `companion sandbox`",
            path.display()
        )));
    }
    let options = SqliteConnectOptions::from_str("sqlite:")
        .map_err(|e| unreadable(&e))?
        .filename(path)
        .read_only(true)
        .create_if_missing(false);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(|e| unreadable(&e))?;
    let registry = SandboxRegistry::new(pool.clone());
    let mut things = Vec::new();
    let result = async {
        for name in registry.thing_names().await? {
            if let Some(thing) = registry.thing(&name).await? {
                things.push(thing);
            }
        }
        Ok::<_, companion_sandbox::db::DbError>(())
    }
    .await;
    pool.close().await;
    result.map_err(|e| unreadable(&e))?;
    Ok(things)
}

fn is_simulated(thing: &SandboxThing) -> bool {
    thing
        .attributes
        .get("simulated")
        .is_some_and(|v| v == "true")
}

fn sandbox_thing_json(thing: &SandboxThing) -> Value {
    json!({
        "name": thing.name,
        "model": thing.attributes.get("model"),
        "simulated": is_simulated(thing),
        "attributes": thing.attributes,
        "certificateIds": thing.certificate_ids,
        "createdAtMs": thing.created_at_ms,
        "lastConnectedMs": thing.last_seen_ms,
    })
}

// ---------------------------------------------------------------------------------------------
// Any other broker: what shows up within the window

async fn observe(args: &DevicesArgs) -> Result<(), CliError> {
    let store = Store::open_in_memory()
        .await
        .map_err(|e| CliError::Failed(format!("cannot open an in-memory registry: {e}")))?;
    let registry = Registry::new(store, "observed");
    let connected = connect_or_unreachable(&args.connection).await?;
    let result = listen(args, &connected, &registry).await;
    connected.close().await;
    result?;
    let query = ThingQuery {
        limit: u32::MAX,
        ..ThingQuery::default()
    };
    let things = registry
        .list(&query)
        .await
        .map_err(|e| CliError::Failed(e.to_string()))?;
    print_observed(args, &things);
    Ok(())
}

/// Feeds the registry with what arrives within the window.
async fn listen(
    args: &DevicesArgs,
    connected: &Connected,
    registry: &Registry,
) -> Result<(), CliError> {
    let session = connected.session();
    let telemetry = TelemetrySubscriptions::default();
    let subscribe = |filters: Vec<String>| {
        session.subscribe_many(
            filters
                .into_iter()
                .map(|filter| (filter, QoS::AtMostOnce))
                .collect(),
        )
    };
    // Two SUBSCRIBEs: a broker whose policy denies one (AWS closes the connection) still
    // delivers the other after the session reconnects.
    subscribe(FILTERS.iter().map(|f| (*f).to_owned()).collect())
        .await
        .map_err(|e| CliError::Refused(e.to_string()))?;
    subscribe(telemetry.fleet_filters())
        .await
        .map_err(|e| CliError::Refused(e.to_string()))?;
    let own_client_id = session.client_id().to_owned();
    let messages = session.messages();
    let mut state = session.state();
    let window = tokio::time::sleep(Duration::from_secs(args.window));
    tokio::pin!(window);
    loop {
        tokio::select! {
            () = &mut window => return Ok(()),
            message = messages.recv() => {
                let Some(message) = message else {
                    return Err(CliError::NotRunning("the connection ended".to_owned()));
                };
                let now = now_ms();
                match telemetry.thing_of(&message.topic) {
                    Some(thing) => heard(registry, thing, &message.payload, now).await?,
                    None => {
                        let observation = registry::observe(&message.topic, &message.payload);
                        let own = matches!(&observation, Some(registry::Observation::Presence { thing, .. }) if *thing == own_client_id);
                        if let (Some(observation), false) = (observation, own) {
                            registry
                                .record(&observation, now)
                                .await
                                .map_err(|e| CliError::Failed(e.to_string()))?;
                        }
                    }
                }
            }
            trouble = trouble(&mut state) => match trouble {
                Trouble::Retrying { cause, .. } if cause.cause == Cause::SubscribeDenied => {
                    output::error(&format!(
                        "the broker refused a subscription ({cause}); the list shows what the others delivered"
                    ));
                }
                Trouble::Retrying { attempt: 1, cause } => {
                    output::error(&format!("connection lost, reconnecting: {cause}"));
                }
                Trouble::Retrying { .. } => {}
                Trouble::Ended(reason) => return Err(CliError::NotRunning(reason)),
            },
        }
    }
}

/// Notes a thing heard through its telemetry, adding it when it is new (with the model its
/// message names, as `kind` or `model`).
async fn heard(registry: &Registry, thing: &str, payload: &[u8], now: i64) -> Result<(), CliError> {
    let failed = |e: registry::RegistryError| CliError::Failed(e.to_string());
    if registry.get(thing).await.map_err(failed)?.is_none() {
        let model = match serde_json::from_slice(payload) {
            Ok(Value::Object(fields)) => registry::observe::reported_fields(&fields).model,
            _ => None,
        };
        let new = NewThing {
            name: thing.to_owned(),
            source: Source::Discovered,
            model,
            attributes: std::collections::BTreeMap::new(),
        };
        registry.add(&new, now).await.map_err(failed)?;
    }
    registry.seen(thing, now).await.map_err(failed)
}

fn presence(presence: Presence) -> &'static str {
    match presence {
        Presence::Online => "online",
        Presence::Offline => "offline",
        Presence::Unknown => "unknown",
    }
}

fn print_observed(args: &DevicesArgs, things: &[registry::Thing]) {
    if args.json {
        let things: Vec<Value> = things
            .iter()
            .map(|thing| {
                json!({
                    "name": thing.name,
                    "model": thing.model,
                    "firmwareVersion": thing.firmware_version,
                    "presence": presence(thing.presence),
                    "lastSeenMs": thing.last_seen_ms,
                    "disconnectReason": thing.disconnect_reason,
                    "signalDbm": thing.signal_dbm,
                    "outOfSync": thing.out_of_sync,
                    "pendingJobs": thing.pending_jobs,
                })
            })
            .collect();
        output::json(&json!({
            "source": "observed",
            "windowSecs": args.window,
            "things": things,
        }));
        return;
    }
    if things.is_empty() {
        output::line(&format!(
            "No device showed itself in {} s: quiet devices are not listed (try a longer --window).",
            args.window
        ));
        return;
    }
    let width = name_width(things.iter().map(|t| t.name.as_str()));
    output::row(&format!(
        "{:<width$}  {:<12}  {:<8}  {:<10}  {:<24}  {}",
        "NAME", "MODEL", "PRESENCE", "FIRMWARE", "LAST SEEN", "PENDING JOBS"
    ));
    for thing in things {
        output::row(&format!(
            "{:<width$}  {:<12}  {:<8}  {:<10}  {:<24}  {}",
            thing.name,
            thing.model.as_deref().unwrap_or("-"),
            presence(thing.presence),
            thing.firmware_version.as_deref().unwrap_or("-"),
            thing.last_seen_ms.map_or_else(|| "-".to_owned(), ms),
            thing.pending_jobs,
        ));
    }
    output::line(&format!(
        "{} things showed themselves in {} s; quiet devices are not listed (AWS IoT's full thing list is in the console).",
        things.len(),
        args.window
    ));
}

fn name_width<'a>(names: impl Iterator<Item = &'a str>) -> usize {
    names.map(str::len).max().unwrap_or(0).max("NAME".len())
}

fn ms(epoch_ms: impl TryInto<i64>) -> String {
    output::time_ms(epoch_ms.try_into().unwrap_or(i64::MAX))
}
