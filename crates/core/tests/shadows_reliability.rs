//! The reliability test of shadows (issue 4): the sandbox is stopped and restarted on the same
//! data directory and ports, repeatedly, while desired-state edits are queued and replayed.
//! Every edit must be applied exactly once and in order, none lost, and the engine's local
//! copy must converge to the shadow. No fixed ports (the addresses are first chosen by the
//! OS), no sleeps: every wait has a deadline.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use companion_awsiot::ThingName;
use companion_awsiot::shadow::{Nullable, Object, ShadowState};
use companion_awsiot::topic::ShadowKind;
use companion_core::doctor::Cause;
use companion_core::profile::ConnectSpec;
use companion_core::session::{ConnectionState, Session, SessionHandle, SessionOptions};
use companion_core::shadows::{Edit, EditState, ShadowLink, ShadowOptions, Shadows};
use companion_sandbox::connect::Endpoint;
use companion_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// How long any awaited event may take before the test fails (a reconnect can wait for a few
/// backoff steps).
const DEADLINE: Duration = Duration::from_secs(60);
/// How many times the sandbox is stopped and started again.
const RESTARTS: usize = 5;
/// Edits queued while the sandbox is down, per outage.
const EDITS_WHILE_DOWN: usize = 6;
/// Edits queued right after each restart, while the replay runs.
const EDITS_WHILE_REPLAYING: usize = 2;

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "core-shadows-{name}-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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

    /// Waits until a reconnect attempt was refused: the sandbox is really gone. (Restarting it
    /// before that makes the session's doctor read two silent closes in a row, each followed
    /// by an immediate reconnect, as a client-id takeover, and the session stops.)
    async fn refused(&self) {
        self.until_state("a refused reconnect", |s| {
            matches!(s, ConnectionState::Reconnecting { cause, .. } if cause.cause == Cause::TcpRefused)
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

async fn database(dir: &Path, name: &str) -> SqlitePool {
    let options = SqliteConnectOptions::new()
        .filename(dir.join(name))
        .create_if_missing(true)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("the database opens");
    sqlx::migrate!("./migrations")
        .run(&pool)
        .await
        .expect("the migrations apply");
    pool
}

fn object(value: Value) -> Object {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn free_address() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
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

/// The test's figures, on stdout (`cargo test -- --nocapture` shows them).
#[allow(clippy::print_stdout)]
fn report(line: &str) {
    println!("{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_survive_repeated_sandbox_restarts_applied_once_and_in_order() {
    let dir = TempDir::new("reliability");
    let config = SandboxConfig {
        plain_listen: free_address(),
        mtls_listen: free_address(),
        ..SandboxConfig::new(dir.path().join("sandbox"))
    };
    let mut sandbox = Sandbox::start(config.clone())
        .await
        .expect("the sandbox starts");
    let endpoint = sandbox.plain_endpoint();
    let app = App::start(&endpoint, database(dir.path(), "app.db").await).await;
    app.connected().await;
    let valve = ThingName::new("valve-reliability").expect("a valid thing name");
    let initial = ShadowState {
        desired: Nullable::Value(object(json!({"step": 0}))),
        reported: Nullable::Absent,
    };
    let start = app
        .shadows
        .update(&valve, &ShadowKind::Classic, Some(initial), None)
        .await
        .expect("the shadow is created")
        .version;
    app.shadows
        .get(&valve, &ShadowKind::Classic)
        .await
        .expect("the engine knows the shadow");
    let mut edits = Vec::new();
    for round in 1..=RESTARTS {
        let in_flight = queued_count(&app).await;
        sandbox.shutdown().await;
        app.refused().await;
        for _ in 0..EDITS_WHILE_DOWN {
            queue(&app, &valve, edits.len() + 1, &mut edits).await;
        }
        sandbox = Sandbox::start(config.clone())
            .await
            .expect("the sandbox starts again on its ports");
        let first_of_round = edits.len() - EDITS_WHILE_DOWN;
        settled(&mut edits[first_of_round]).await;
        for _ in 0..EDITS_WHILE_REPLAYING {
            queue(&app, &valve, edits.len() + 1, &mut edits).await;
        }
        report(&format!(
            "round {round}: {in_flight} edits queued when the sandbox stopped, {} queued now",
            queued_count(&app).await
        ));
    }
    let restarted = Instant::now();
    for (i, edit) in edits.iter_mut().enumerate() {
        let expected = start + 1 + i as u64;
        let state = settled(edit).await;
        assert_eq!(
            state,
            EditState::Pending { version: expected },
            "edit {} is applied once, in order, at version {expected}",
            i + 1
        );
    }
    let settled_after = restarted.elapsed();
    let observer = App::start(&endpoint, database(dir.path(), "observer.db").await).await;
    observer.connected().await;
    let truth = observer
        .shadows
        .get(&valve, &ShadowKind::Classic)
        .await
        .expect("the observer reads the shadow");
    let total = edits.len();
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
    let mut view = app
        .shadows
        .watch(&valve, &ShadowKind::Classic)
        .await
        .expect("the engine watches the shadow");
    timeout(DEADLINE, view.wait_for(|v| v.as_ref() == Some(&truth)))
        .await
        .expect("the engine's copy converges to the shadow")
        .expect("the engine runs");
    let converged = restarted.elapsed();
    let records = app.shadows.edits().await.expect("the outbox is readable");
    let retried = records.iter().filter(|r| r.attempts > 1).count();
    report(&format!(
        "{RESTARTS} restarts, {total} edits, all applied once in order; {retried} published more \
         than once (recognised by version and token); settled {} ms and converged {} ms after \
         the last restart",
        settled_after.as_millis(),
        converged.as_millis()
    ));
    observer.stop().await;
    app.stop().await;
    sandbox.shutdown().await;
}
