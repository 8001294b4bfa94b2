//! The engine as the app starts it: the local sandbox, its devices, and a session to it.

use std::time::Duration;

use companion_core::engine::{Engine, EngineConfig};
use companion_core::registry::{Presence, ThingQuery};
use companion_core::session::ConnectionState;

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

    engine.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
