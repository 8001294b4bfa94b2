//! The engine against `companion_awsiot`'s in-process Shadow service (a faithful model of
//! AWS's): correlation, timeouts, conflicts, outbox order and at-most-once replay. No broker,
//! no sleeps: every wait has a deadline.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use companion_awsiot::shadow::{Object, ShadowStore};
use companion_awsiot::topic::ShadowKind;
use companion_awsiot::{ShadowName, ThingName, Timestamp};
use serde_json::{Value, json};
use sqlx::SqlitePool;
use tokio::sync::{mpsc, watch};

use super::*;
use crate::session::{ConnectionState, Message};
use crate::store::Store;

const DEADLINE: Duration = Duration::from_secs(10);
const CONNECTED: ConnectionState = ConnectionState::Connected {
    session_present: false,
};

/// What the model does with the next update it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Answer normally.
    Answer,
    /// Apply it, then the link drops before any response arrives.
    ApplyThenDrop,
    /// Apply it and deliver the documents event, then the link drops before `accepted`.
    ApplyDocumentsThenDrop,
    /// Never answer (the request times out).
    Silence,
}

/// A link whose "broker" is the Shadow service model, with scripted failures.
#[derive(Debug)]
struct ModelLink {
    service: Mutex<ShadowStore>,
    state: watch::Sender<ConnectionState>,
    inbox: mpsc::Sender<Message>,
    fates: Mutex<Vec<Fate>>,
    foreign_first: Mutex<bool>,
    log: Mutex<Vec<String>>,
}

impl ModelLink {
    fn new(connected: bool) -> (Arc<Self>, mpsc::Receiver<Message>) {
        Self::with_service(connected, ShadowStore::default())
    }

    /// A link to a service holding `service`'s shadows (the same cloud after an app restart).
    fn with_service(connected: bool, service: ShadowStore) -> (Arc<Self>, mpsc::Receiver<Message>) {
        let (inbox, rx) = mpsc::channel(1024);
        let state = if connected {
            CONNECTED
        } else {
            ConnectionState::Connecting
        };
        let link = Arc::new(Self {
            service: Mutex::new(service),
            state: watch::channel(state).0,
            inbox,
            fates: Mutex::new(Vec::new()),
            foreign_first: Mutex::new(false),
            log: Mutex::new(Vec::new()),
        });
        (link, rx)
    }

    fn set_connected(&self, connected: bool) {
        let state = if connected {
            CONNECTED
        } else {
            ConnectionState::Disconnected { cause: None }
        };
        self.state.send_replace(state);
    }

    /// Scripts the fates of the next updates, in order.
    fn script(&self, fates: &[Fate]) {
        lock(&self.fates).extend_from_slice(fates);
    }

    /// Another client's publish: the service answers and everyone subscribed hears it.
    fn other_client(&self, topic: &str, payload: Value) {
        let out = lock(&self.service)
            .handle_publish(topic, payload.to_string().as_bytes(), now())
            .expect("a shadow request topic");
        for message in out {
            self.deliver(&message.topic, message.payload);
        }
    }

    fn deliver(&self, topic: &str, payload: Vec<u8>) {
        let message = Message {
            topic: topic.to_owned(),
            payload: payload.into(),
            qos: rumqttc::QoS::AtLeastOnce,
            retain: false,
        };
        self.inbox
            .try_send(message)
            .expect("room in the test inbox");
    }

    fn version(&self, thing: &str) -> u64 {
        let thing = ThingName::new(thing).expect("a valid thing name");
        lock(&self.service)
            .shadow(&thing, &ShadowKind::Classic)
            .map_or(0, companion_awsiot::shadow::Shadow::version)
    }

    fn desired(&self, thing: &str) -> Object {
        let thing = ThingName::new(thing).expect("a valid thing name");
        lock(&self.service)
            .shadow(&thing, &ShadowKind::Classic)
            .and_then(|s| s.document().map(|d| d.desired.clone()))
            .unwrap_or_default()
    }

    fn answer(&self, topic: &str, payload: &[u8]) {
        let fate = if topic.ends_with("/update") {
            let mut fates = lock(&self.fates);
            if fates.is_empty() {
                Fate::Answer
            } else {
                fates.remove(0)
            }
        } else {
            Fate::Answer
        };
        if fate == Fate::Silence {
            return;
        }
        let out = lock(&self.service)
            .handle_publish(topic, payload, now())
            .unwrap_or_default();
        if *lock(&self.foreign_first) {
            self.deliver_foreign(&out);
        }
        for message in out {
            let documents = message.topic.ends_with("/documents");
            match fate {
                Fate::ApplyThenDrop => {}
                Fate::ApplyDocumentsThenDrop if !documents => {}
                _ => self.deliver(&message.topic, message.payload),
            }
        }
        if fate != Fate::Answer {
            self.set_connected(false);
        }
    }

    /// The same responses with another client's token and a made-up version.
    fn deliver_foreign(&self, out: &[Outgoing]) {
        for message in out {
            let mut value: Value = serde_json::from_slice(&message.payload).expect("JSON");
            value["clientToken"] = json!("someone-else");
            value["version"] = json!(999);
            self.deliver(&message.topic, value.to_string().into_bytes());
        }
    }
}

impl ShadowLink for ModelLink {
    fn publish(&self, topic: String, payload: Vec<u8>) -> LinkFuture<'_> {
        lock(&self.log).push(format!("publish {topic}"));
        self.answer(&topic, &payload);
        Box::pin(async { Ok(()) })
    }

    fn subscribe(&self, filters: Vec<String>) -> LinkFuture<'_> {
        lock(&self.log).extend(filters.into_iter().map(|f| format!("subscribe {f}")));
        Box::pin(async { Ok(()) })
    }

    fn state(&self) -> watch::Receiver<ConnectionState> {
        self.state.subscribe()
    }
}

fn now() -> Timestamp {
    Timestamp::from_secs(1_700_000_000)
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

/// The app's store in memory, every migration applied; its write pool.
async fn memory_pool() -> SqlitePool {
    Store::open_in_memory()
        .await
        .expect("the store opens in memory")
        .write()
        .clone()
}

/// The app's store in a file, every migration applied.
async fn file_store(path: &std::path::Path) -> Store {
    Store::open(path).await.expect("the store opens")
}

/// An engine over `link` with a short timeout, its loop running.
async fn engine(link: &Arc<ModelLink>, rx: mpsc::Receiver<Message>, pool: SqlitePool) -> Shadows {
    start(link, rx, pool).await.0
}

/// Like [`engine`], with the loop's task to abort (an app that stops).
async fn start(
    link: &Arc<ModelLink>,
    rx: mpsc::Receiver<Message>,
    pool: SqlitePool,
) -> (Shadows, tokio::task::JoinHandle<()>) {
    let options = ShadowOptions {
        timeout: Duration::from_millis(300),
        ..ShadowOptions::default()
    };
    let link: Arc<dyn ShadowLink> = link.clone();
    let (shadows, shadows_loop) = Shadows::open(link, pool, options)
        .await
        .expect("the engine opens");
    (shadows, tokio::spawn(shadows_loop.run(rx)))
}

async fn settled(edit: &mut Edit) -> EditState {
    tokio::time::timeout(DEADLINE, edit.settled())
        .await
        .expect("the edit settles before the deadline")
        .expect("the engine keeps running")
}

fn create(link: &ModelLink, name: &str, desired: Value) {
    link.other_client(
        &format!("$aws/things/{name}/shadow/update"),
        json!({"state": {"desired": desired}}),
    );
}

#[tokio::test]
async fn a_response_carrying_another_clients_token_is_ignored() {
    let (link, rx) = ModelLink::new(true);
    create(&link, "lamp", json!({"on": false}));
    let shadows = engine(&link, rx, memory_pool().await).await;
    *lock(&link.foreign_first) = true;
    let view = shadows
        .get(&thing("lamp"), &ShadowKind::Classic)
        .await
        .expect("the shadow is read");
    assert_eq!(
        view.version, 1,
        "the foreign answer (version 999) came first and was ignored"
    );
}

#[tokio::test]
async fn a_request_without_an_answer_times_out_with_a_clear_error() {
    let (link, rx) = ModelLink::new(true);
    let shadows = engine(&link, rx, memory_pool().await).await;
    link.script(&[Fate::Silence]);
    let error = shadows
        .update(&thing("lamp"), &ShadowKind::Classic, None, None)
        .await
        .expect_err("nobody answers");
    assert!(
        matches!(error, ShadowsError::Timeout(_)),
        "a timeout, not {error:?}"
    );
    assert!(
        error.to_string().contains("did not answer"),
        "the message says what happened: {error}"
    );
}

#[tokio::test]
async fn the_response_topics_are_subscribed_before_the_first_request() {
    let (link, rx) = ModelLink::new(true);
    let shadows = engine(&link, rx, memory_pool().await).await;
    let name = ShadowKind::Named(ShadowName::new("config").expect("a valid name"));
    let error = shadows
        .get(&thing("lamp"), &name)
        .await
        .expect_err("no shadow yet");
    assert!(error.is_not_found(), "a 404 for a missing shadow: {error}");
    let log = lock(&link.log).clone();
    let publish = log
        .iter()
        .position(|l| l.starts_with("publish"))
        .expect("a publish");
    let prefix = "subscribe $aws/things/lamp/shadow/name/config";
    let subscribed: Vec<&String> = log[..publish]
        .iter()
        .filter(|l| l.starts_with(prefix))
        .collect();
    assert_eq!(
        subscribed.len(),
        6,
        "get/+, delete/+, update/accepted, update/rejected, delta and documents come first: {log:?}"
    );
}

#[tokio::test]
async fn a_request_while_offline_fails_at_once() {
    let (link, rx) = ModelLink::new(false);
    let shadows = engine(&link, rx, memory_pool().await).await;
    let error = shadows
        .get(&thing("lamp"), &ShadowKind::Classic)
        .await
        .expect_err("offline");
    assert!(
        matches!(error, ShadowsError::Offline),
        "offline, not {error:?}"
    );
}

#[tokio::test]
async fn a_conflicting_edit_is_surfaced_and_nothing_is_overwritten() {
    let (link, rx) = ModelLink::new(true);
    create(&link, "lamp", json!({"on": false}));
    let shadows = engine(&link, rx, memory_pool().await).await;
    let lamp = thing("lamp");
    shadows
        .get(&lamp, &ShadowKind::Classic)
        .await
        .expect("read at version 1");
    link.other_client(
        "$aws/things/lamp/shadow/update",
        json!({"state": {"desired": {"on": "theirs"}}}),
    );
    let mut edit = shadows
        .edit(
            &lamp,
            &ShadowKind::Classic,
            object(json!({"on": true})),
            Some(1),
        )
        .await
        .expect("queued");
    let state = settled(&mut edit).await;
    assert_eq!(
        edit.state().await.expect("the outbox is readable"),
        state,
        "the conflict is stored whole, theirs included"
    );
    let EditState::Conflict(conflict) = state else {
        panic!("a conflict is surfaced");
    };
    assert_eq!(conflict.base_version, Some(1), "based on version 1");
    assert_eq!(
        conflict.ours,
        object(json!({"on": true})),
        "ours is what we asked for"
    );
    let theirs = conflict.theirs.expect("the shadow was fetched again");
    assert_eq!(theirs.version, 2, "theirs is the current document");
    assert_eq!(
        theirs.desired["on"],
        json!("theirs"),
        "with the other client's value"
    );
    assert_eq!(
        link.desired("lamp")["on"],
        json!("theirs"),
        "nothing was overwritten"
    );
}

#[tokio::test]
async fn an_accepted_edit_is_pending_until_the_device_reports_it() {
    let (link, rx) = ModelLink::new(true);
    create(&link, "lamp", json!({"on": false}));
    let shadows = engine(&link, rx, memory_pool().await).await;
    let lamp = thing("lamp");
    let mut view = shadows
        .watch(&lamp, &ShadowKind::Classic)
        .await
        .expect("watched");
    let mut edit = shadows
        .edit(
            &lamp,
            &ShadowKind::Classic,
            object(json!({"on": true})),
            None,
        )
        .await
        .expect("queued");
    assert_eq!(
        settled(&mut edit).await,
        EditState::Pending { version: 2 },
        "confirmed"
    );
    link.other_client(
        "$aws/things/lamp/shadow/update",
        json!({"state": {"reported": {"on": true}, "desired": {"on": null}}}),
    );
    let applied = tokio::time::timeout(
        DEADLINE,
        edit.wait_until(|s| matches!(s, EditState::Applied { .. })),
    )
    .await
    .expect("applied before the deadline")
    .expect("the engine runs");
    assert_eq!(
        applied,
        EditState::Applied { version: 2 },
        "applied, with its version"
    );
    assert!(
        shadows.open_edit_counts().await.expect("counts").is_empty(),
        "an applied edit is no longer open"
    );
    let current = view
        .wait_for(|v| v.as_ref().is_some_and(|v| v.version == 3))
        .await
        .expect("watch");
    let current = current.clone().expect("a document");
    assert_eq!(
        current.reported["on"],
        json!(true),
        "the local copy follows documents"
    );
    let history = shadows
        .history(&lamp, &ShadowKind::Classic, 10)
        .await
        .expect("history");
    let versions: Vec<u64> = history.iter().map(|h| h.version).collect();
    assert_eq!(
        versions,
        [3, 2, 1],
        "every update seen is in the history, newest first"
    );
    let changes = diff(
        &history[0].previous.as_ref().expect("previous").state_json(),
        &history[0].current.state_json(),
    );
    let paths: Vec<String> = changes.iter().map(Change::dotted).collect();
    assert_eq!(
        paths,
        ["desired.on", "reported.on"],
        "the device's update, as a diff"
    );
}

#[tokio::test]
async fn edits_made_offline_are_sent_in_order_when_the_link_returns() {
    let (link, rx) = ModelLink::new(true);
    create(&link, "lamp", json!({"level": 0}));
    let shadows = engine(&link, rx, memory_pool().await).await;
    let lamp = thing("lamp");
    shadows
        .get(&lamp, &ShadowKind::Classic)
        .await
        .expect("read at version 1");
    link.set_connected(false);
    let mut edits = Vec::new();
    for level in 1..=5 {
        let patch = object(json!({"level": level, format!("k{level}"): level}));
        edits.push(
            shadows
                .edit(&lamp, &ShadowKind::Classic, patch, None)
                .await
                .expect("queued"),
        );
    }
    for edit in &edits {
        assert_eq!(
            edit.state().await.expect("state"),
            EditState::Queued,
            "nothing is sent offline"
        );
    }
    assert_eq!(link.version("lamp"), 1, "the service saw nothing yet");
    let of_lamp = shadows
        .edits_of(&lamp, &ShadowKind::Classic)
        .await
        .expect("the lamp's edits");
    assert_eq!(
        of_lamp.iter().map(|r| r.id).collect::<Vec<_>>(),
        edits.iter().map(Edit::id).collect::<Vec<_>>(),
        "the shadow's edits, oldest first"
    );
    assert!(
        shadows
            .edits_of(&thing("other"), &ShadowKind::Classic)
            .await
            .expect("none")
            .is_empty()
    );
    let first = shadows
        .edit_record(edits[0].id())
        .await
        .expect("read")
        .expect("the first edit");
    assert_eq!(first.thing, lamp);
    let open = shadows.open_edit_counts().await.expect("counts");
    assert_eq!(
        open.get("lamp"),
        Some(&5),
        "five open edits for the fleet's badge"
    );
    link.set_connected(true);
    for (i, edit) in edits.iter_mut().enumerate() {
        let version = settled(edit).await.version();
        assert_eq!(
            version,
            Some(i as u64 + 2),
            "edit {i} applied in order, once"
        );
    }
    assert_eq!(link.version("lamp"), 6, "five updates, no more");
    assert_eq!(
        shadows
            .open_edit_counts()
            .await
            .expect("counts")
            .get("lamp"),
        Some(&5),
        "accepted but not yet reported by the device: still open"
    );
    assert_eq!(
        link.desired("lamp")["level"],
        json!(5),
        "the last edit wins"
    );
}

#[tokio::test]
async fn a_conflict_stops_that_edit_and_the_following_edits_go_on_in_order() {
    let (link, rx) = ModelLink::new(true);
    create(&link, "lamp", json!({"on": false}));
    create(&link, "fan", json!({"speed": 0}));
    let shadows = engine(&link, rx, memory_pool().await).await;
    let (lamp, fan) = (thing("lamp"), thing("fan"));
    shadows
        .get(&lamp, &ShadowKind::Classic)
        .await
        .expect("lamp read");
    shadows
        .get(&fan, &ShadowKind::Classic)
        .await
        .expect("fan read");
    link.set_connected(false);
    link.other_client(
        "$aws/things/lamp/shadow/update",
        json!({"state": {"desired": {"on": 0}}}),
    );
    let mut first = shadows
        .edit(
            &lamp,
            &ShadowKind::Classic,
            object(json!({"on": true})),
            None,
        )
        .await
        .expect("queued");
    let mut chained = shadows
        .edit(&lamp, &ShadowKind::Classic, object(json!({"on": 1})), None)
        .await
        .expect("queued");
    let mut other = shadows
        .edit(
            &fan,
            &ShadowKind::Classic,
            object(json!({"speed": 3})),
            None,
        )
        .await
        .expect("queued");
    link.set_connected(true);
    assert!(
        matches!(settled(&mut first).await, EditState::Conflict(_)),
        "the stale edit conflicts"
    );
    let EditState::Conflict(conflict) = settled(&mut chained).await else {
        panic!("an edit based on a failed edit is not sent");
    };
    assert!(
        conflict.reason.contains("was not applied"),
        "the reason names the failed edit: {}",
        conflict.reason
    );
    assert_eq!(
        settled(&mut other).await,
        EditState::Pending { version: 2 },
        "the fan's edit goes on"
    );
    assert_eq!(
        link.version("lamp"),
        2,
        "only the other client's update reached the lamp"
    );
}

#[tokio::test]
async fn a_replay_after_a_lost_response_is_recognised_and_not_applied_twice() {
    for fate in [Fate::ApplyThenDrop, Fate::ApplyDocumentsThenDrop] {
        let (link, rx) = ModelLink::new(true);
        create(&link, "lamp", json!({"on": false}));
        let shadows = engine(&link, rx, memory_pool().await).await;
        let lamp = thing("lamp");
        shadows
            .get(&lamp, &ShadowKind::Classic)
            .await
            .expect("read at version 1");
        link.script(&[fate]);
        let mut edit = shadows
            .edit(
                &lamp,
                &ShadowKind::Classic,
                object(json!({"on": true})),
                None,
            )
            .await
            .expect("queued");
        let mut state = link.state.subscribe();
        tokio::time::timeout(DEADLINE, state.wait_for(|s| !is_connected(s)))
            .await
            .expect("the link drops")
            .expect("state");
        assert_eq!(
            edit.state().await.expect("state"),
            EditState::Queued,
            "{fate:?}: outcome unknown, still queued"
        );
        link.set_connected(true);
        assert_eq!(
            settled(&mut edit).await,
            EditState::Pending { version: 2 },
            "{fate:?}: our own earlier attempt"
        );
        assert_eq!(link.version("lamp"), 2, "{fate:?}: applied exactly once");
        let records = shadows.edits().await.expect("outbox");
        assert_eq!(
            records[0].attempts, 2,
            "{fate:?}: published twice, with one token"
        );
    }
}

#[tokio::test]
async fn a_timeout_while_connected_retries_the_same_edit() {
    let (link, rx) = ModelLink::new(true);
    create(&link, "lamp", json!({"on": false}));
    let shadows = engine(&link, rx, memory_pool().await).await;
    let lamp = thing("lamp");
    shadows
        .get(&lamp, &ShadowKind::Classic)
        .await
        .expect("read");
    link.script(&[Fate::Silence]);
    let mut edit = shadows
        .edit(
            &lamp,
            &ShadowKind::Classic,
            object(json!({"on": true})),
            None,
        )
        .await
        .expect("queued");
    assert_eq!(
        settled(&mut edit).await,
        EditState::Pending { version: 2 },
        "the retry is answered"
    );
}

#[tokio::test]
async fn queued_edits_survive_a_restart_of_the_app() {
    let dir = std::env::temp_dir().join(format!("shadows-restart-{:x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let path = dir.join("app.db");
    let (link, rx) = ModelLink::new(true);
    create(&link, "lamp", json!({"on": false}));
    {
        let store = file_store(&path).await;
        let (shadows, task) = start(&link, rx, store.write().clone()).await;
        shadows
            .get(&thing("lamp"), &ShadowKind::Classic)
            .await
            .expect("read");
        link.set_connected(false);
        shadows
            .edit(
                &thing("lamp"),
                &ShadowKind::Classic,
                object(json!({"on": true})),
                None,
            )
            .await
            .expect("queued");
        task.abort();
        store.close().await;
    }
    let (link, rx) = ModelLink::with_service(false, lock(&link.service).clone());
    let store = file_store(&path).await;
    let shadows = engine(&link, rx, store.write().clone()).await;
    assert_eq!(
        shadows
            .cached(&thing("lamp"), &ShadowKind::Classic)
            .map(|v| v.version),
        Some(1),
        "the last known document is there before any I/O"
    );
    link.set_connected(true);
    let records = shadows.edits().await.expect("outbox");
    assert_eq!(records.len(), 1, "the edit survived");
    let mut events = shadows.edit_events();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !shadows
        .edit_state(records[0].id)
        .await
        .expect("state")
        .is_settled()
    {
        tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("settles")
            .expect("event");
    }
    assert_eq!(link.version("lamp"), 2, "applied once after the restart");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_history_keeps_only_the_newest_versions_of_each_shadow() {
    let (link, rx) = ModelLink::new(true);
    let options = ShadowOptions {
        history_limit: 3,
        ..ShadowOptions::default()
    };
    let dyn_link: Arc<dyn ShadowLink> = link.clone();
    let (shadows, shadows_loop) = Shadows::open(dyn_link, memory_pool().await, options)
        .await
        .expect("the engine opens");
    let mut changes = shadows.changes();
    tokio::spawn(shadows_loop.run(rx));
    for level in 1..=5 {
        create(&link, "lamp", json!({"level": level}));
    }
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let change = tokio::time::timeout_at(deadline, changes.recv())
            .await
            .expect("the fifth version arrives before the deadline")
            .expect("the engine runs");
        if change.version == 5 {
            assert_eq!(
                change.previous.map(|p| p.version),
                Some(4),
                "previous comes along"
            );
            break;
        }
    }
    let history = shadows
        .history(&thing("lamp"), &ShadowKind::Classic, 10)
        .await
        .expect("history");
    let versions: Vec<u64> = history.iter().map(|h| h.version).collect();
    assert_eq!(
        versions,
        [5, 4, 3],
        "only the newest three versions are kept"
    );
}

#[tokio::test]
async fn a_confirmed_edit_rewriting_every_key_supersedes_a_pending_one() {
    let (link, rx) = ModelLink::new(true);
    create(&link, "lamp", json!({"level": 0}));
    let shadows = engine(&link, rx, memory_pool().await).await;
    let lamp = thing("lamp");
    shadows
        .get(&lamp, &ShadowKind::Classic)
        .await
        .expect("read");
    let patch = |level: u64| object(json!({"level": level}));
    let mut first = shadows
        .edit(&lamp, &ShadowKind::Classic, patch(1), None)
        .await
        .expect("queued");
    assert_eq!(
        settled(&mut first).await,
        EditState::Pending { version: 2 },
        "first confirmed"
    );
    let mut second = shadows
        .edit(&lamp, &ShadowKind::Classic, patch(2), None)
        .await
        .expect("queued");
    assert_eq!(
        settled(&mut second).await,
        EditState::Pending { version: 3 },
        "second confirmed"
    );
    assert_eq!(
        first.state().await.expect("state"),
        EditState::Superseded { version: 2 },
        "the device can never report the first value now: it is superseded, not pending forever"
    );
}

#[tokio::test]
async fn an_app_crash_between_publish_and_accepted_does_not_apply_the_edit_twice() {
    let dir = std::env::temp_dir().join(format!("shadows-crash-{:x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let path = dir.join("app.db");
    let (link, rx) = ModelLink::new(true);
    create(&link, "lamp", json!({"on": false}));
    let store = file_store(&path).await;
    let (shadows, task) = start(&link, rx, store.write().clone()).await;
    shadows
        .get(&thing("lamp"), &ShadowKind::Classic)
        .await
        .expect("read");
    link.script(&[Fate::ApplyThenDrop]);
    let edit = shadows
        .edit(
            &thing("lamp"),
            &ShadowKind::Classic,
            object(json!({"on": true})),
            None,
        )
        .await
        .expect("queued");
    let mut state = link.state.subscribe();
    tokio::time::timeout(DEADLINE, state.wait_for(|s| !is_connected(s)))
        .await
        .expect("the service applied it and the answer was lost")
        .expect("state");
    task.abort();
    store.close().await;
    assert_eq!(
        link.version("lamp"),
        2,
        "the service applied the edit before the crash"
    );
    let (link, rx) = ModelLink::with_service(true, lock(&link.service).clone());
    let store = file_store(&path).await;
    let shadows = engine(&link, rx, store.write().clone()).await;
    let mut events = shadows.edit_events();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let settled = loop {
        let state = shadows.edit_state(edit.id()).await.expect("state");
        if state.is_settled() {
            break state;
        }
        tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("settles before the deadline")
            .expect("event");
    };
    assert_eq!(
        settled,
        EditState::Pending { version: 2 },
        "the replay's 409 is recognised as the edit applied before the crash"
    );
    assert_eq!(link.version("lamp"), 2, "applied exactly once");
    let records = shadows.edits().await.expect("outbox");
    assert_eq!(
        records[0].attempts, 2,
        "one attempt before the crash, one after"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_edit_the_service_refuses_is_rejected_with_its_reason_and_the_next_goes_on() {
    // A service stricter than AWS's defaults (the app checks edits against the defaults).
    let strict = ShadowStore::new(ShadowConfig {
        max_depth: 3,
        ..Default::default()
    });
    let (link, rx) = ModelLink::with_service(true, strict);
    create(&link, "lamp", json!({"on": false}));
    let shadows = engine(&link, rx, memory_pool().await).await;
    let lamp = thing("lamp");
    shadows
        .get(&lamp, &ShadowKind::Classic)
        .await
        .expect("read");
    let too_deep = object(json!({"a": {"b": {"c": {"d": 1}}}}));
    let mut refused = shadows
        .edit(&lamp, &ShadowKind::Classic, too_deep, None)
        .await
        .expect("queued: within AWS's default limits");
    let mut fine = shadows
        .edit(
            &lamp,
            &ShadowKind::Classic,
            object(json!({"on": true})),
            Some(1),
        )
        .await
        .expect("queued");
    let EditState::Rejected { code, message } = settled(&mut refused).await else {
        panic!("the service refuses a document nested too deeply");
    };
    assert_eq!(code, 400, "AWS's code");
    assert!(message.contains("nesting"), "AWS's message: {message}");
    assert_eq!(
        settled(&mut fine).await,
        EditState::Pending { version: 2 },
        "the next edit, based on the version the refused one left alone, goes on"
    );
}

#[tokio::test]
async fn an_edit_that_breaks_aws_rules_is_refused_before_it_is_queued() {
    let (link, rx) = ModelLink::new(true);
    create(&link, "lamp", json!({"on": false}));
    let shadows = engine(&link, rx, memory_pool().await).await;
    let lamp = thing("lamp");
    shadows
        .get(&lamp, &ShadowKind::Classic)
        .await
        .expect("read");
    let cases = [
        (
            json!({"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}}),
            400,
        ),
        (json!({"list": [1, null]}), 400),
        (json!({"blob": "x".repeat(8200)}), 413),
    ];
    for (patch, expected) in cases {
        let error = shadows
            .edit(&lamp, &ShadowKind::Classic, object(patch.clone()), None)
            .await
            .expect_err("refused");
        let ShadowsError::InvalidEdit { code, message } = error else {
            panic!("{patch}: expected InvalidEdit, got {error:?}");
        };
        assert_eq!(code, expected, "{patch}: {message}");
    }
    assert!(
        shadows.edits().await.expect("outbox").is_empty(),
        "nothing reached the outbox"
    );
}

/// A watched lamp whose version 2 came as an update event (so its document is in the
/// history), then the link down.
async fn lamp_at_version_2_then_offline() -> (Arc<ModelLink>, Shadows, ThingName) {
    let (link, rx) = ModelLink::new(true);
    create(&link, "lamp", json!({"level": 0}));
    let shadows = engine(&link, rx, memory_pool().await).await;
    let lamp = thing("lamp");
    let mut view = shadows
        .watch(&lamp, &ShadowKind::Classic)
        .await
        .expect("watched");
    link.other_client(
        "$aws/things/lamp/shadow/update",
        json!({"state": {"desired": {"level": 1}}}),
    );
    view.wait_for(|v| v.as_ref().is_some_and(|v| v.version == 2))
        .await
        .expect("version 2 arrives");
    link.set_connected(false);
    (link, shadows, lamp)
}

#[tokio::test]
async fn an_offline_edit_goes_through_when_only_reported_state_moved_meanwhile() {
    let (link, shadows, lamp) = lamp_at_version_2_then_offline().await;
    let mut edit = shadows
        .edit(
            &lamp,
            &ShadowKind::Classic,
            object(json!({"on": true})),
            None,
        )
        .await
        .expect("queued");
    // Meanwhile the device reports (version 3): not a conflict with our desired edit.
    link.other_client(
        "$aws/things/lamp/shadow/update",
        json!({"state": {"reported": {"level": 1}}}),
    );
    link.set_connected(true);
    let state = settled(&mut edit).await;
    assert_eq!(
        state.version(),
        Some(4),
        "re-based on version 3 and applied: {state:?}"
    );
    assert_eq!(link.desired("lamp")["on"], json!(true));
}

#[tokio::test]
async fn an_offline_edit_of_a_key_someone_else_changed_meanwhile_is_a_conflict() {
    let (link, shadows, lamp) = lamp_at_version_2_then_offline().await;
    let mut edit = shadows
        .edit(
            &lamp,
            &ShadowKind::Classic,
            object(json!({"level": 7})),
            None,
        )
        .await
        .expect("queued");
    link.other_client(
        "$aws/things/lamp/shadow/update",
        json!({"state": {"desired": {"level": 3}}}),
    );
    link.set_connected(true);
    let EditState::Conflict(conflict) = settled(&mut edit).await else {
        panic!("someone else changed the key this edit sets: a conflict");
    };
    assert_eq!(conflict.base_version, Some(2));
    assert_eq!(
        link.desired("lamp")["level"],
        json!(3),
        "nothing was overwritten"
    );
}
