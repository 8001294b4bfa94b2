//! Shadows against the real sandbox (embedded broker, plain listener, ports chosen by the OS)
//! and its simulated devices: an edit followed to the device, a conflicting edit from another
//! client, and edits made while the sandbox is down. Every wait has a deadline; nothing sleeps.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use companion_awsiot::shadow::{Nullable, Object, ShadowState};
use companion_awsiot::topic::ShadowKind;
use companion_awsiot::{ShadowName, ThingName};
use companion_core::profile::ConnectSpec;
use companion_core::session::{ConnectionState, Session, SessionHandle, SessionOptions};
use companion_core::shadows::{Edit, EditState, ShadowLink, ShadowOptions, ShadowView, Shadows};
use companion_core::store::Store;
use companion_sandbox::connect::Endpoint;
use companion_sandbox::devices::{FirmwareOptions, FleetSpec};
use companion_sandbox::{Sandbox, SandboxConfig};
use companion_testkit::{TempDir, free_address};
use serde_json::{Value, json};
use sqlx::SqlitePool;
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// How long any awaited event may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(20);

/// The app's side: a session, the shadow engine over it, and their loops.
struct App {
    shadows: Shadows,
    session: SessionHandle,
    tasks: Vec<JoinHandle<()>>,
}

impl App {
    async fn start(endpoint: &Endpoint, pool: SqlitePool) -> Self {
        let client_id = format!("app-{:08x}", rand::random::<u32>());
        let spec = ConnectSpec::plain(endpoint.host.clone(), endpoint.port, client_id);
        let (session, session_loop) =
            Session::connect(spec, SessionOptions::default()).expect("a plain session");
        let session_task = tokio::spawn(async move {
            session_loop.run().await;
        });
        let link: Arc<dyn ShadowLink> = Arc::new(session.clone());
        let (shadows, shadows_loop) = Shadows::open(link, pool, ShadowOptions::default())
            .await
            .expect("the shadow engine opens");
        let shadows_task = tokio::spawn(shadows_loop.run(session.messages()));
        Self {
            shadows,
            session,
            tasks: vec![session_task, shadows_task],
        }
    }

    async fn connected(&self) {
        let mut state = self.session.state();
        timeout(
            DEADLINE,
            state.wait_for(|s| matches!(s, ConnectionState::Connected { .. })),
        )
        .await
        .expect("connected before the deadline")
        .expect("the session runs");
    }

    async fn stop(self) {
        self.session.disconnect();
        for task in self.tasks {
            let _ = timeout(DEADLINE, task).await;
        }
    }
}

/// The app's store in `dir` (every migration of `companion-core`); the engine takes its write pool.
async fn database(dir: &Path, name: &str) -> SqlitePool {
    let store = Store::open(dir.join(name))
        .await
        .expect("the app's store opens");
    store.write().clone()
}

fn thing(name: &str) -> ThingName {
    ThingName::new(name).expect("a valid thing name")
}

fn object(value: Value) -> Object {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

async fn settled(edit: &mut Edit) -> EditState {
    timeout(DEADLINE, edit.settled())
        .await
        .expect("the edit settles before the deadline")
        .expect("the engine runs")
}

/// Creates a shadow with `desired` through the engine and returns its version.
async fn create(app: &App, name: &str, desired: Value) -> u64 {
    let state = ShadowState {
        desired: Nullable::Value(object(desired)),
        reported: Nullable::Absent,
    };
    app.shadows
        .update(&thing(name), &ShadowKind::Classic, Some(state), None)
        .await
        .expect("the shadow is created")
        .version
}

/// A sandbox config on fixed free ports, so that it can restart where clients expect it.
fn fixed_config(dir: &Path) -> SandboxConfig {
    SandboxConfig {
        plain_listen: free_address(),
        mtls_listen: free_address(),
        ..SandboxConfig::new(dir)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_is_pending_until_the_simulated_plug_applies_it() {
    let dir = TempDir::new("device");
    let sandbox = Sandbox::start(SandboxConfig::new(dir.path().join("sandbox")))
        .await
        .expect("the sandbox starts");
    let quiet = FirmwareOptions {
        telemetry_interval: Duration::from_secs(3600),
        ..FirmwareOptions::default()
    };
    let spec = FleetSpec {
        seed: 7,
        count: 2,
        firmware: quiet,
        ..FleetSpec::default()
    };
    let fleet = sandbox.spawn_fleet(&spec).await.expect("the fleet starts");
    let app = App::start(
        &sandbox.plain_endpoint(),
        database(dir.path(), "app.db").await,
    )
    .await;
    app.connected().await;
    let plug = thing("plug-0002");
    let mut view = app
        .shadows
        .watch(&plug, &ShadowKind::Classic)
        .await
        .expect("the plug's shadow is watched");
    let reported = timeout(
        DEADLINE,
        view.wait_for(|v| v.as_ref().is_some_and(|v| v.reported.contains_key("on"))),
    )
    .await
    .expect("the plug reports before the deadline")
    .expect("the engine runs")
    .clone()
    .expect("a document");
    let wanted = !reported.reported["on"]
        .as_bool()
        .expect("`on` is a boolean");
    let mut edit = app
        .shadows
        .edit(
            &plug,
            &ShadowKind::Classic,
            object(json!({"on": wanted})),
            None,
        )
        .await
        .expect("the edit is queued");
    let confirmed = settled(&mut edit).await;
    assert!(
        matches!(
            confirmed,
            EditState::Pending { .. } | EditState::Applied { .. }
        ),
        "the service accepted the edit: {confirmed:?}"
    );
    let applied = timeout(
        DEADLINE,
        edit.wait_until(|s| matches!(s, EditState::Applied { .. })),
    )
    .await
    .expect("the device applies it before the deadline")
    .expect("the engine runs");
    assert_eq!(
        applied.version(),
        confirmed.version(),
        "Applied keeps the version the edit produced"
    );
    let config = ShadowKind::Named(ShadowName::new("config").expect("a valid shadow name"));
    let settings = app
        .shadows
        .get(&plug, &config)
        .await
        .expect("the plug's named `config` shadow is read");
    assert!(
        settings.reported.contains_key("telemetry_interval_ms"),
        "the named shadow holds the device's settings: {settings:?}"
    );
    let now = view.borrow().clone().expect("a document");
    assert_eq!(
        now.reported["on"],
        json!(wanted),
        "the local copy shows the device's report"
    );
    assert!(
        now.delta().is_empty(),
        "desired and reported are in sync: {now:?}"
    );
    app.stop().await;
    fleet.shutdown().await.expect("the fleet stops");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_edit_from_another_client_is_surfaced_and_nothing_is_overwritten() {
    let dir = TempDir::new("conflict");
    let sandbox = Sandbox::start(SandboxConfig::new(dir.path().join("sandbox")))
        .await
        .expect("the sandbox starts");
    let ours = App::start(
        &sandbox.plain_endpoint(),
        database(dir.path(), "ours.db").await,
    )
    .await;
    let theirs = App::start(
        &sandbox.plain_endpoint(),
        database(dir.path(), "theirs.db").await,
    )
    .await;
    ours.connected().await;
    theirs.connected().await;
    let lamp = thing("lamp-conflict");
    let seen = create(&ours, "lamp-conflict", json!({"color": "white"})).await;
    theirs
        .shadows
        .get(&lamp, &ShadowKind::Classic)
        .await
        .expect("they read it");
    let mut their_edit = theirs
        .shadows
        .edit(
            &lamp,
            &ShadowKind::Classic,
            object(json!({"color": "red"})),
            None,
        )
        .await
        .expect("their edit is queued");
    let their_state = settled(&mut their_edit).await;
    assert_eq!(
        their_state,
        EditState::Pending { version: seen + 1 },
        "their edit lands first"
    );
    let mut our_edit = ours
        .shadows
        .edit(
            &lamp,
            &ShadowKind::Classic,
            object(json!({"color": "blue"})),
            Some(seen),
        )
        .await
        .expect("our edit, based on what we saw, is queued");
    let EditState::Conflict(conflict) = settled(&mut our_edit).await else {
        panic!("our stale edit must be surfaced as a conflict");
    };
    assert_eq!(
        conflict.ours["color"],
        json!("blue"),
        "ours is what we asked for"
    );
    let current = conflict.theirs.expect("the shadow was fetched again");
    assert_eq!(current.version, seen + 1, "theirs is the current version");
    assert_eq!(
        current.desired["color"],
        json!("red"),
        "theirs holds their value"
    );
    let fresh: ShadowView = theirs
        .shadows
        .get(&lamp, &ShadowKind::Classic)
        .await
        .expect("read again");
    assert_eq!(
        fresh.desired["color"],
        json!("red"),
        "nothing was overwritten"
    );
    assert_eq!(fresh.version, seen + 1, "no update after theirs");
    ours.stop().await;
    theirs.stop().await;
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_made_while_the_sandbox_is_down_are_applied_in_order_once_after_it_returns() {
    let dir = TempDir::new("offline");
    let config = fixed_config(&dir.path().join("sandbox"));
    let sandbox = Sandbox::start(config.clone())
        .await
        .expect("the sandbox starts");
    let app = App::start(
        &sandbox.plain_endpoint(),
        database(dir.path(), "app.db").await,
    )
    .await;
    app.connected().await;
    let fan = thing("fan-offline");
    let start = create(&app, "fan-offline", json!({"speed": 0})).await;
    app.shadows
        .get(&fan, &ShadowKind::Classic)
        .await
        .expect("read");
    sandbox.shutdown().await;
    let mut state = app.session.state();
    timeout(
        DEADLINE,
        state.wait_for(|s| !matches!(s, ConnectionState::Connected { .. })),
    )
    .await
    .expect("the app notices the sandbox is gone")
    .expect("the session runs");
    let mut edits = Vec::new();
    for speed in 1..=5 {
        let patch = object(json!({"speed": speed, format!("step{speed}"): true}));
        let edit = app
            .shadows
            .edit(&fan, &ShadowKind::Classic, patch, None)
            .await;
        edits.push(edit.expect("queued while offline"));
    }
    for edit in &edits {
        let state = edit.state().await.expect("the outbox is readable");
        assert_eq!(
            state,
            EditState::Queued,
            "nothing can be sent while the sandbox is down"
        );
    }
    let sandbox = Sandbox::start(config)
        .await
        .expect("the sandbox starts again");
    for (i, edit) in edits.iter_mut().enumerate() {
        let expected = start + 1 + i as u64;
        assert_eq!(
            settled(edit).await,
            EditState::Pending { version: expected },
            "edit {} is applied in order, at version {expected}",
            i + 1
        );
    }
    let fresh = app
        .shadows
        .get(&fan, &ShadowKind::Classic)
        .await
        .expect("read");
    assert_eq!(
        fresh.version,
        start + 5,
        "five edits, each applied exactly once"
    );
    assert_eq!(
        fresh.desired["speed"],
        json!(5),
        "the last edit's value wins"
    );
    for speed in 1..=5 {
        assert_eq!(
            fresh.desired[&format!("step{speed}")],
            json!(true),
            "edit {speed} is not lost"
        );
    }
    app.stop().await;
    sandbox.shutdown().await;
}
