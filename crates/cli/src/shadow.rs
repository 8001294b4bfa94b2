//! `companion shadow`: read, change and follow Device Shadows through the engine — requests
//! correlated by client token, desired-state edits with version checks (a conflict is shown,
//! never overwritten), and `--wait` until the device reports the new values.

use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use companion_awsiot::shadow::wire::{Nullable, Object, ShadowState};
use companion_awsiot::topic::ShadowKind;
use companion_awsiot::{ShadowName, ThingName};
use companion_core::shadows::{EditState, ShadowOptions, ShadowView, Shadows, ShadowsError};
use companion_core::store::Store;
use serde_json::{Value, json};

use crate::connection::ConnectionArgs;
use crate::mqtt::{Connected, connect};
use crate::{CliError, output};

/// Arguments of `companion shadow`.
#[derive(Debug, Args)]
pub struct ShadowArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Print a shadow: version, desired, reported and delta.
    Get(Target),
    /// Change desired (an edit with a version check) or reported state.
    Update(UpdateArgs),
    /// Delete a shadow (its version is kept).
    Delete(Target),
    /// Print every change of a shadow as one line of JSON until Ctrl-C (or --count).
    Watch(WatchArgs),
}

#[derive(Debug, Args)]
struct Target {
    /// The thing.
    thing: String,
    /// A named shadow (default: the classic shadow).
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    connection: ConnectionArgs,
}

#[derive(Debug, Args)]
struct UpdateArgs {
    #[command(flatten)]
    target: Target,
    /// Desired state to merge, as a JSON object (`null` deletes a key).
    #[arg(
        long,
        conflicts_with = "reported",
        required_unless_present = "reported"
    )]
    desired: Option<String>,
    /// Reported state to merge, as a JSON object.
    #[arg(long)]
    reported: Option<String>,
    /// The version the change is based on (default: the current one).
    #[arg(long)]
    version: Option<u64>,
    /// Wait until the device reports the desired values (up to this many seconds).
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "30")]
    wait: Option<u64>,
}

#[derive(Debug, Args)]
struct WatchArgs {
    #[command(flatten)]
    target: Target,
    /// Stop after this many changes.
    #[arg(long)]
    count: Option<usize>,
}

/// Runs `companion shadow …`.
pub async fn run(args: ShadowArgs) -> Result<(), CliError> {
    match args.action {
        Action::Get(target) => get(target).await,
        Action::Update(update) => self::update(update).await,
        Action::Delete(target) => delete(target).await,
        Action::Watch(watch) => self::watch(watch).await,
    }
}

/// A session with the shadow engine on top (its edits kept in memory for this command).
struct Engine {
    connected: Connected,
    shadows: Shadows,
    thing: ThingName,
    kind: ShadowKind,
}

impl Engine {
    async fn open(target: &Target) -> Result<Self, CliError> {
        let thing = ThingName::new(target.thing.clone()).map_err(invalid)?;
        let kind = match &target.name {
            Some(name) => ShadowKind::Named(ShadowName::new(name.clone()).map_err(invalid)?),
            None => ShadowKind::Classic,
        };
        let connected = connect(&target.connection).await?;
        let store = Store::open_in_memory().await.map_err(failed)?;
        let session = connected.session().clone();
        let (shadows, shadows_loop) = Shadows::open(
            Arc::new(session.clone()),
            store.write().clone(),
            ShadowOptions::default(),
        )
        .await
        .map_err(failed)?;
        tokio::spawn(shadows_loop.run(session.messages()));
        Ok(Self {
            connected,
            shadows,
            thing,
            kind,
        })
    }

    async fn get(&self) -> Result<ShadowView, CliError> {
        self.shadows
            .get(&self.thing, &self.kind)
            .await
            .map_err(shadow_error)
    }
}

async fn get(target: Target) -> Result<(), CliError> {
    let engine = Engine::open(&target).await?;
    let view = engine.get().await;
    engine.connected.close().await;
    output::json(&document(&view?));
    Ok(())
}

async fn update(args: UpdateArgs) -> Result<(), CliError> {
    let engine = Engine::open(&args.target).await?;
    let result = match (&args.desired, &args.reported) {
        (Some(desired), _) => edit_desired(&engine, object(desired, "--desired")?, &args).await,
        (None, Some(reported)) => {
            report(&engine, object(reported, "--reported")?, args.version).await
        }
        (None, None) => Err(CliError::Failed("give --desired or --reported".into())),
    };
    engine.connected.close().await;
    result
}

async fn edit_desired(engine: &Engine, desired: Object, args: &UpdateArgs) -> Result<(), CliError> {
    let base = match args.version {
        Some(version) => version,
        None => match engine.get().await {
            Ok(view) => view.version,
            Err(CliError::NotFound(_)) => 0,
            Err(error) => return Err(error),
        },
    };
    let mut edit = engine
        .shadows
        .edit(&engine.thing, &engine.kind, desired, Some(base))
        .await
        .map_err(shadow_error)?;
    let state = edit.settled().await.map_err(shadow_error)?;
    let state = match (state, args.wait) {
        (EditState::Pending { .. }, Some(seconds)) => {
            let applied = edit.wait_until(|state| matches!(state, EditState::Applied { .. }));
            tokio::time::timeout(Duration::from_secs(seconds), applied)
                .await
                .map_err(|_| {
                    CliError::Timeout(format!(
                        "the service accepted the edit, but the device did not report the values within {seconds} s"
                    ))
                })?
                .map_err(shadow_error)?
        }
        (state, _) => state,
    };
    outcome(&state)
}

fn outcome(state: &EditState) -> Result<(), CliError> {
    match state {
        EditState::Pending { version } => {
            output::json(&json!({"outcome": "pending", "version": version}));
            Ok(())
        }
        EditState::Applied { version } => {
            output::json(&json!({"outcome": "applied", "version": version}));
            Ok(())
        }
        EditState::Conflict(conflict) => {
            let theirs = conflict.theirs.as_ref().map(document);
            output::json(&json!({
                "outcome": "conflict",
                "baseVersion": conflict.base_version,
                "ours": conflict.ours,
                "theirs": theirs,
            }));
            Err(CliError::Refused(format!(
                "{}: nothing was overwritten; look at the current shadow and edit again",
                conflict.reason
            )))
        }
        EditState::Rejected { code, message } => Err(CliError::Refused(format!(
            "the Shadow service rejected the edit ({code}): {message}"
        ))),
        EditState::Queued | EditState::Superseded { .. } => {
            output::json(&json!({"outcome": format!("{state:?}")}));
            Ok(())
        }
    }
}

async fn report(engine: &Engine, reported: Object, version: Option<u64>) -> Result<(), CliError> {
    let state = ShadowState {
        desired: Nullable::Absent,
        reported: Nullable::Value(reported),
    };
    let accepted = engine
        .shadows
        .update(&engine.thing, &engine.kind, Some(state), version)
        .await
        .map_err(shadow_error)?;
    output::json(&json!({"outcome": "accepted", "version": accepted.version}));
    Ok(())
}

async fn delete(target: Target) -> Result<(), CliError> {
    let engine = Engine::open(&target).await?;
    let deleted = engine.shadows.delete(&engine.thing, &engine.kind).await;
    engine.connected.close().await;
    let deleted = deleted.map_err(shadow_error)?;
    output::json(&json!({"deleted": true, "version": deleted.version}));
    Ok(())
}

async fn watch(args: WatchArgs) -> Result<(), CliError> {
    let engine = Engine::open(&args.target).await?;
    let mut changes = engine.shadows.changes();
    let mut view = engine
        .shadows
        .watch(&engine.thing, &engine.kind)
        .await
        .map_err(shadow_error)?;
    let mut last_version = None;
    if let Some(current) = view.borrow_and_update().clone() {
        output::json(&document(&current));
        last_version = Some(current.version);
    }
    let mut printed = 0;
    while args.count.is_none_or(|count| printed < count) {
        let Ok(change) = changes.recv().await else {
            break;
        };
        let ours = change.thing == engine.thing && change.shadow == engine.kind;
        if !ours || last_version.is_some_and(|version| change.version <= version) {
            continue;
        }
        output::json(&document(&change.current));
        last_version = Some(change.version);
        printed += 1;
    }
    engine.connected.close().await;
    Ok(())
}

/// A shadow as the CLI prints it.
fn document(view: &ShadowView) -> Value {
    let delta = view.delta();
    json!({
        "version": view.version,
        "desired": view.desired,
        "reported": view.reported,
        "delta": if delta.is_empty() { Value::Null } else { Value::Object(delta) },
    })
}

fn object(text: &str, flag: &str) -> Result<Object, CliError> {
    match serde_json::from_str(text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(CliError::Failed(format!(
            "{flag} must be a JSON object, e.g. '{{\"on\": true}}'"
        ))),
        Err(error) => Err(CliError::Failed(format!(
            "{flag} is not valid JSON: {error}"
        ))),
    }
}

fn shadow_error(error: ShadowsError) -> CliError {
    match error {
        ShadowsError::Rejected { code: 404, message } => CliError::NotFound(message),
        ShadowsError::Rejected { .. } => CliError::Refused(error.to_string()),
        ShadowsError::Timeout(_) | ShadowsError::Offline => CliError::Timeout(error.to_string()),
        other => CliError::Failed(other.to_string()),
    }
}

fn invalid(error: impl std::fmt::Display) -> CliError {
    CliError::Failed(error.to_string())
}

fn failed(error: impl std::fmt::Display) -> CliError {
    CliError::Failed(error.to_string())
}
