//! The engine as the app starts it: the local sandbox, its devices, and a session to it.

use std::time::Duration;

use companion_awsiot::ThingName;
use companion_awsiot::topic::ShadowKind;
use companion_core::engine::{Engine, EngineConfig};
use companion_core::registry::{Presence, ThingQuery};
use companion_core::session::ConnectionState;
use companion_core::shadows::EditState;

#[tokio::test(flavor = "multi_thread")]
async fn the_engine_starts_the_local_sandbox_and_connects_to_it() {
    let dir = std::env::temp_dir().join(format!("companion-engine-{}", std::process::id()));
    let engine = Engine::start(EngineConfig::local(&dir))
        .await
        .expect("the engine starts");
    assert_eq!(
        engine.broker().simulated_devices,
        ["thermostat-0001", "plug-0002", "light-0003"],
        "three simulated devices by default"
    );
    assert!(
        engine.broker().address.starts_with("127.0.0.1:"),
        "a loopback listener"
    );

    let mut connection = engine.connection();
    let connected = tokio::time::timeout(
        Duration::from_secs(20),
        connection.wait_for(|state| matches!(state, ConnectionState::Connected { .. })),
    )
    .await
    .is_ok_and(|waited| waited.is_ok());
    assert!(
        connected,
        "the session connects to the local sandbox; last state: {:?}",
        *connection.borrow()
    );

    let mut fleet = engine.fleet_changes();
    let everyone_online = async {
        loop {
            let things = engine
                .things(&ThingQuery::default())
                .await
                .expect("the registry answers");
            let online = things
                .iter()
                .filter(|t| t.presence == Presence::Online)
                .count();
            if online == 3 {
                return things;
            }
            fleet.changed().await.expect("the engine is running");
        }
    };
    let things = tokio::time::timeout(Duration::from_secs(20), everyone_online)
        .await
        .expect("the three simulated devices show up online in the fleet registry");
    let names: Vec<&str> = things.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["light-0003", "plug-0002", "thermostat-0001"],
        "sorted by name"
    );

    // Through the engine's shadows: an edit the simulated plug applies.
    let plug = ThingName::new("plug-0002").unwrap();
    // The plug reports its shadow right after connecting: each registry change is a cue to ask.
    let mut fleet = engine.fleet_changes();
    let reported = async {
        loop {
            match engine.shadows().get(&plug, &ShadowKind::Classic).await {
                Ok(view) => return view,
                Err(error) if error.is_not_found() => {
                    fleet.changed().await.expect("the engine is running");
                }
                Err(error) => panic!("reading the plug's shadow failed: {error}"),
            }
        }
    };
    let current = tokio::time::timeout(Duration::from_secs(20), reported)
        .await
        .expect("the plug reports its shadow");
    let on = !current
        .reported
        .get("on")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    let mut desired = serde_json::Map::new();
    desired.insert("on".into(), on.into());
    let mut edit = engine
        .shadows()
        .edit(&plug, &ShadowKind::Classic, desired, None)
        .await
        .expect("the edit is queued");
    let applied = tokio::time::timeout(
        Duration::from_secs(20),
        edit.wait_until(|state| matches!(state, EditState::Applied { .. })),
    )
    .await;
    assert!(
        matches!(applied, Ok(Ok(_))),
        "the plug applies the edit: {applied:?}"
    );

    // Telemetry: the devices' samples arrive as live frames and reach the store (every 5 s).
    let mut frames = engine
        .take_frames()
        .await
        .expect("the first caller gets the frames");
    let temperature = async {
        while let Some(frame) = frames.recv().await {
            let update = frame.updates.into_iter().find(|update| {
                update.thing == "thermostat-0001" && update.series.ends_with("temperature_c")
            });
            if let Some(update) = update {
                return Some(update.series);
            }
        }
        None
    };
    let series = tokio::time::timeout(Duration::from_secs(20), temperature)
        .await
        .ok()
        .flatten()
        .expect("a live frame carries the thermostat's temperature");
    engine.shutdown().await;
    // The ingest wrote its last batch on shutdown: the series is in the store.
    let store = companion_core::store::Store::open(dir.join("companion.db"))
        .await
        .unwrap();
    let stored = companion_core::telemetry::Telemetry::new(store, "sandbox")
        .series("thermostat-0001")
        .await
        .unwrap();
    assert!(stored.contains(&series), "{series} is stored: {stored:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
