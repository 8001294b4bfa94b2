//! The reliability test of shadows (issue 4): the sandbox is stopped and restarted on the same
//! data directory and ports — and, in a second test, Mosquitto (with the sandbox's services
//! attached to it) is killed with SIGKILL and started again on its port — repeatedly, while
//! desired-state edits are queued and replayed.
//! Every edit must be applied exactly once and in order, none lost, and the engine's local
//! copy must converge to the shadow. No fixed ports (the addresses are first chosen by the
//! OS), no sleeps: every wait has a deadline.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use companion_awsiot::ThingName;
use companion_awsiot::shadow::{Nullable, Object, ShadowState};
use companion_awsiot::topic::ShadowKind;
use companion_core::doctor::Cause;
use companion_core::profile::ConnectSpec;
use companion_core::session::{ConnectionState, Session, SessionHandle, SessionOptions};
use companion_core::shadows::{Edit, EditState, ShadowLink, ShadowOptions, ShadowView, Shadows};
use companion_core::store::Store;
use companion_sandbox::connect::Endpoint;
use companion_sandbox::{Sandbox, SandboxConfig};
use companion_testkit::{Mosquitto, TempDir, free_address};
use serde_json::{Value, json};
use sqlx::SqlitePool;
use tokio::task::JoinHandle;
use tokio::time::{timeout, timeout_at};

/// How long any awaited event may take before the test fails (a reconnect can wait for a few
/// backoff steps).
const DEADLINE: Duration = Duration::from_secs(60);
/// How many times the sandbox is stopped and started again.
const RESTARTS: usize = 5;
/// Edits queued while the sandbox is down, per outage.
const EDITS_WHILE_DOWN: usize = 6;
/// Edits queued right after each restart, while the replay runs.
const EDITS_WHILE_REPLAYING: usize = 2;

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
        let (shadows, shadows_loop) = Shadows::open(link, pool, options())
            .await
            .expect("the shadow engine opens");
        let shadows_task = tokio::spawn(shadows_loop.run(session.messages()));
        Self {
            shadows,
            session,
            tasks: vec![session_task, shadows_task],
        }
    }

    async fn until_state(&self, what: &str, wanted: impl Fn(&ConnectionState) -> bool) {
        let mut state = self.session.state();
        timeout(DEADLINE, state.wait_for(wanted))
            .await
            .unwrap_or_else(|_| panic!("{what} before the deadline"))
            .expect("the session runs");
    }

    async fn connected(&self) {
        self.until_state("connected", |s| {
            matches!(s, ConnectionState::Connected { .. })
        })
        .await;
    }

    /// Waits until a reconnect attempt was refused: the broker is really gone. (Restarting it
    /// before that makes the session's doctor read two silent closes in a row, each followed
    /// by an immediate reconnect, as a client-id takeover, and the session stops.)
    async fn refused(&self) {
        self.until_state("a refused reconnect", |s| match s {
            ConnectionState::Reconnecting { cause, .. } => cause.cause == Cause::TcpRefused,
            _ => false,
        })
        .await;
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

fn object(value: Value) -> Object {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// Queues edit number `n`: it sets `step` to `n` and adds its own key `e{n}`.
async fn queue(app: &App, thing: &ThingName, n: usize, edits: &mut Vec<Edit>) {
    let patch = object(json!({"step": n, format!("e{n}"): n}));
    let edit = app
        .shadows
        .edit(thing, &ShadowKind::Classic, patch, None)
        .await
        .expect("the edit is queued");
    edits.push(edit);
}

async fn settled(edit: &mut Edit) -> EditState {
    timeout(DEADLINE, edit.settled())
        .await
        .expect("the edit settles before the deadline")
        .expect("the engine runs")
}

async fn queued_count(app: &App) -> usize {
    let edits = app.shadows.edits().await.expect("the outbox is readable");
    edits
        .iter()
        .filter(|e| e.state == EditState::Queued)
        .count()
}

/// A short request timeout: after a restart the app may publish before the Shadow service has
/// resubscribed (with Mosquitto), and that request is lost; the engine sends it again.
fn options() -> ShadowOptions {
    ShadowOptions {
        timeout: Duration::from_secs(2),
        ..ShadowOptions::default()
    }
}

/// The test's figures, on stdout (`cargo test -- --nocapture` shows them).
#[allow(clippy::print_stdout)]
fn report(line: &str) {
    println!("{line}");
}

/// A broker the scenario can take down and bring back on the same address.
trait Restartable {
    /// What is restarted, for the report.
    fn name(&self) -> &'static str;
    /// Takes the broker down (a clean stop, or `kill -9`).
    async fn stop(&mut self);
    /// Brings it back on the same address with the same data.
    async fn start(&mut self);
}

/// The sandbox with its embedded broker, restarted on the same data directory and ports.
struct SandboxBroker {
    config: SandboxConfig,
    running: Option<Sandbox>,
}

impl Restartable for SandboxBroker {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn stop(&mut self) {
        if let Some(sandbox) = self.running.take() {
            sandbox.shutdown().await;
        }
    }

    async fn start(&mut self) {
        let sandbox = Sandbox::start(self.config.clone())
            .await
            .expect("the sandbox starts on its ports");
        self.running = Some(sandbox);
    }
}

/// Mosquitto, killed with SIGKILL and started again on its port; the sandbox's services stay
/// attached to it and reconnect by themselves.
struct MosquittoBroker {
    port: u16,
    running: Option<Mosquitto>,
}

impl Restartable for MosquittoBroker {
    fn name(&self) -> &'static str {
        "mosquitto"
    }

    async fn stop(&mut self) {
        if let Some(mosquitto) = self.running.take() {
            mosquitto.stop().await;
        }
    }

    async fn start(&mut self) {
        self.running = Some(Mosquitto::start_on(self.port).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_survive_repeated_sandbox_restarts_applied_once_and_in_order() {
    let dir = TempDir::new("reliability");
    let config = SandboxConfig {
        plain_listen: free_address(),
        mtls_listen: free_address(),
        ..SandboxConfig::new(dir.path().join("sandbox"))
    };
    let mut broker = SandboxBroker {
        config,
        running: None,
    };
    broker.start().await;
    let endpoint = broker
        .running
        .as_ref()
        .map(Sandbox::plain_endpoint)
        .expect("the sandbox runs");
    scenario(&mut broker, &endpoint, dir.path()).await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_survive_mosquitto_killed_repeatedly_applied_once_and_in_order() {
    let dir = TempDir::new("reliability-mosquitto");
    let port = free_address().port();
    let mut broker = MosquittoBroker {
        port,
        running: None,
    };
    broker.start().await;
    let endpoint = Endpoint {
        host: "127.0.0.1".to_owned(),
        port,
        tls: None,
    };
    let services = Sandbox::start(SandboxConfig {
        external_broker: Some(endpoint.clone()),
        ..SandboxConfig::new(dir.path().join("sandbox"))
    })
    .await
    .expect("the sandbox's services attach to Mosquitto");
    scenario(&mut broker, &endpoint, dir.path()).await;
    services.shutdown().await;
    broker.stop().await;
}

/// Restarts `broker` [`RESTARTS`] times while edits are queued, then checks that every edit
/// was applied once and in order and that the engine's copy converges to the shadow.
async fn scenario(broker: &mut impl Restartable, endpoint: &Endpoint, dir: &Path) {
    let app = App::start(endpoint, database(dir, "app.db").await).await;
    app.connected().await;
    let valve = ThingName::new("valve-reliability").expect("a valid thing name");
    let start = create(&app, &valve).await;
    let mut edits = Vec::new();
    for round in 1..=RESTARTS {
        let in_flight = queued_count(&app).await;
        broker.stop().await;
        app.refused().await;
        for _ in 0..EDITS_WHILE_DOWN {
            queue(&app, &valve, edits.len() + 1, &mut edits).await;
        }
        broker.start().await;
        let first_of_round = edits.len() - EDITS_WHILE_DOWN;
        settled(&mut edits[first_of_round]).await;
        for _ in 0..EDITS_WHILE_REPLAYING {
            queue(&app, &valve, edits.len() + 1, &mut edits).await;
        }
        report(&format!(
            "{} round {round}: {in_flight} edits queued when it went down, {} queued now",
            broker.name(),
            queued_count(&app).await
        ));
    }
    let restarted = Instant::now();
    all_applied_in_order(&mut edits, start).await;
    let settled_after = restarted.elapsed();
    let observer = App::start(endpoint, database(dir, "observer.db").await).await;
    observer.connected().await;
    let truth = observer
        .shadows
        .get(&valve, &ShadowKind::Classic)
        .await
        .expect("the observer reads the shadow");
    none_lost_none_twice(&truth, start, edits.len());
    converges(&app, &valve, &truth).await;
    let converged = restarted.elapsed();
    let records = app.shadows.edits().await.expect("the outbox is readable");
    let retried = records.iter().filter(|r| r.attempts > 1).count();
    report(&format!(
        "{}: {RESTARTS} restarts, {} edits, all applied once in order; {retried} published more \
         than once (recognised by version and token); settled {} ms and converged {} ms after \
         the last restart",
        broker.name(),
        edits.len(),
        settled_after.as_millis(),
        converged.as_millis()
    ));
    observer.stop().await;
    app.stop().await;
}

/// Creates the shadow the edits go to and returns its version.
async fn create(app: &App, valve: &ThingName) -> u64 {
    let initial = ShadowState {
        desired: Nullable::Value(object(json!({"step": 0}))),
        reported: Nullable::Absent,
    };
    let version = app
        .shadows
        .update(valve, &ShadowKind::Classic, Some(initial), None)
        .await
        .expect("the shadow is created")
        .version;
    app.shadows
        .get(valve, &ShadowKind::Classic)
        .await
        .expect("the engine knows the shadow");
    version
}

/// Edit `i` (from 0) produced version `start + 1 + i`: in order, each exactly once.
async fn all_applied_in_order(edits: &mut [Edit], start: u64) {
    for (i, edit) in edits.iter_mut().enumerate() {
        let expected = start + 1 + i as u64;
        assert_eq!(
            settled(edit).await,
            EditState::Pending { version: expected },
            "edit {} is applied once, in order, at version {expected}",
            i + 1
        );
    }
}

/// `total` edits made exactly `total` updates, and each left its key.
fn none_lost_none_twice(truth: &ShadowView, start: u64, total: usize) {
    assert_eq!(
        truth.version,
        start + total as u64,
        "{total} edits made exactly {total} updates: none lost, none applied twice"
    );
    assert_eq!(
        truth.desired["step"],
        json!(total),
        "the last edit is the last applied"
    );
    for n in 1..=total {
        assert_eq!(
            truth.desired[&format!("e{n}")],
            json!(n),
            "edit {n} is not lost"
        );
    }
}

/// The engine's own copy (documents events and refreshes, no GET from here) reaches `truth`.
async fn converges(app: &App, valve: &ThingName, truth: &ShadowView) {
    let mut changes = app.shadows.changes();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while app.shadows.cached(valve, &ShadowKind::Classic).as_ref() != Some(truth) {
        let cached = app.shadows.cached(valve, &ShadowKind::Classic);
        timeout_at(deadline, changes.recv())
            .await
            .unwrap_or_else(|_| panic!("the engine's copy converges: {cached:?} vs {truth:?}"))
            .expect("the engine runs");
    }
}
